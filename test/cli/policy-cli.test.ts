import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runPolicyCommand } from '../../src/cli/policy-command.js';
import { readPolicyBundle } from '../../src/policy/bundle.js';
import { loadPolicy } from '../../src/policy/runtime.js';
import { POLICY_DIR } from '../support/policy-bundle.js';
import {
  captureIo,
  copyExampleRepo,
  EXAMPLE_REPO,
  policyRepoFrom,
  type TempPolicyRepo,
} from '../support/policy-repo.js';

const CLI = fileURLToPath(new URL('../../src/cli/allowance.js', import.meta.url));
const CRED = { ALLOWANCE_KEY_ID: 'key_cli_test', ALLOWANCE_SECRET: `sk_${'c'.repeat(40)}` };

const s = suite('allowance policy CLI');

let repo: TempPolicyRepo;

s.before(async () => {
  repo = await copyExampleRepo();
});

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const io = captureIo(env);
  const code = await runPolicyCommand(args, io);
  return { code, out: io.stdout.join(''), err: io.stderr.join(''), sleeps: io.sleeps };
}

function spawnCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8' }, (err, out, errOut) => {
      done({ code: err === null ? 0 : ((err as { code?: number }).code ?? -1), out, err: errOut });
    });
  });
}

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** An HTTP server answering from a script, recording each request: the contract seen from the wire. */
async function scriptedServer(answer: (req: Recorded) => [number, unknown]) {
  const seen: Recorded[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(rec);
      const [status, body] = answer(rec);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function tokenClaims(rec: Recorded): jwt.JwtPayload {
  const auth = String(rec.headers.authorization);
  assert.ok(auth.startsWith('Bearer '));
  return jwt.verify(auth.slice(7), CRED.ALLOWANCE_SECRET, { algorithms: ['HS256'] }) as jwt.JwtPayload;
}

s('policy test passes on the example repository with full coverage and the conformance cases', async () => {
  const r = await cli(['test', repo.policyDir, '--json']);
  assert.is(r.code, 0, r.err);
  const report = JSON.parse(r.out);
  assert.is(report.ok, true);
  assert.is(report.tests.coverage, 100);
  assert.is(report.conformance.passed, true);
  assert.ok(report.conformance.cases >= 20);
  // Nothing was written into the policy folder or the shipped example.
  assert.not.ok((await readdir(repo.policyDir, { recursive: true })).some((f) => f.endsWith('.tar.gz')));
  assert.not.ok((await readdir(EXAMPLE_REPO, { recursive: true })).some((f) => f.endsWith('.tar.gz')));
});

s('policy test runs the platform base policies too (schemas and capabilities are not loaded as data)', async () => {
  const r = await cli(['test', POLICY_DIR, '--json']);
  assert.is(r.code, 0, r.out + r.err);
  assert.is(JSON.parse(r.out).conformance.passed, true);
});

s('policy test fails on a failing Rego test, and on the coverage gate', async () => {
  const failing = await policyRepoFrom({
    'allowance/spend.rego': 'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
    'allowance/intent.rego': 'package allowance.intent\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
    'allowance/spend_test.rego':
      'package allowance.spend_test\n\nimport data.allowance.spend\n\ntest_denies if spend.decision.action == "DENY"\n',
  });
  const r = await cli(['test', failing.policyDir]);
  assert.is(r.code, 1);
  assert.match(r.out, 'test_denies');
  // The intent policy is not covered by any test: 50 % of the policy lines.
  const gate = await policyRepoFrom({
    'allowance/spend.rego': 'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
    'allowance/intent.rego': 'package allowance.intent\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
    'allowance/spend_test.rego':
      'package allowance.spend_test\n\nimport data.allowance.spend\n\ntest_allows if spend.decision.action == "ALLOW"\n',
  });
  const low = await cli(['test', gate.policyDir, '--coverage-min', '90', '--json']);
  assert.is(low.code, 1);
  assert.is(JSON.parse(low.out).tests.coverage, 50);
  assert.is((await cli(['test', gate.policyDir, '--coverage-min', '50'])).code, 0);
});

s('policy test names the conformance input a policy fails on, and refuses builtins the runtime lacks', async () => {
  const broken = await policyRepoFrom({
    'allowance/spend.rego':
      'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []} if input.request.amount > 0\n',
    'allowance/intent.rego': 'package allowance.intent\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
  });
  const r = await cli(['test', broken.policyDir, '--coverage-min', '0', '--json']);
  assert.is(r.code, 1);
  const report = JSON.parse(r.out);
  assert.is(report.tests.passed, true);
  assert.is(report.conformance.passed, false);
  assert.match(report.conformance.problem, /spend_zero_amount \(allowance\/spend\/decision\): policy_no_result/);
  const clock = await policyRepoFrom({
    'allowance/spend.rego':
      'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []} if time.now_ns() > 0\n',
    'allowance/intent.rego': 'package allowance.intent\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
  });
  const c = await cli(['test', clock.policyDir, '--coverage-min', '0']);
  assert.is(c.code, 1);
  assert.match(c.out + c.err, 'time.now_ns');
});

s('policy build runs the upload checks of the server too: a policy its smoke inputs break is refused', async () => {
  // Fine on every conformance input, no decision on the server's fixed smoke date.
  const picky = await policyRepoFrom({
    'allowance/spend.rego':
      'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []} if not startswith(input.now, "2026-01-15")\n',
    'allowance/intent.rego': 'package allowance.intent\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
  });
  const out = join(await mkdtemp(join(tmpdir(), 'allowance-out-')), 'b.tar.gz');
  const r = await cli(['build', picky.policyDir, '--out', out]);
  assert.is(r.code, 1);
  assert.match(r.err, 'smoke_failed');
  assert.not.ok(existsSync(out));
});

s('policy build stamps the git commit, refuses uncommitted changes unless allowed', async () => {
  const out = join(await mkdtemp(join(tmpdir(), 'allowance-out-')), 'acme.tar.gz');
  const built = await cli(['build', repo.policyDir, '--out', out, '--json']);
  assert.is(built.code, 0, built.err);
  const head = await repo.head();
  assert.is(JSON.parse(built.out).revision, head);
  const bundle = readPolicyBundle(new Uint8Array(await readFile(out)));
  assert.is(bundle.manifest.revision, head);
  assert.equal(
    (bundle.data as { purchasing?: { default_cost_centre_cap?: number } }).purchasing?.default_cost_centre_cap,
    20000,
  );
  const policy = await loadPolicy(bundle);
  assert.is(policy.revision, head);

  await writeFile(join(repo.policyDir, 'data.json'), JSON.stringify({ purchasing: {} }));
  const dirty = await cli(['build', repo.policyDir, '--out', out]);
  assert.is(dirty.code, 1);
  assert.match(dirty.err, '--allow-dirty');
  // Not stored: the refused build left the earlier bundle as it was.
  assert.is(readPolicyBundle(new Uint8Array(await readFile(out))).manifest.revision, head);
  const { execFileSync } = await import('node:child_process');
  execFileSync('git', ['checkout', '--', 'policy/data.json'], { cwd: repo.root });

  await writeFile(join(repo.policyDir, 'notes.rego'), 'package acme.notes\n\nx := 1\n');
  const allowed = await cli(['build', repo.policyDir, '--out', out, '--allow-dirty', '--json']);
  assert.is(allowed.code, 0, allowed.err);
  assert.is(JSON.parse(allowed.out).revision, `${head}-dirty`);
  const { rm } = await import('node:fs/promises');
  await rm(join(repo.policyDir, 'notes.rego'));
});

s('policy build refuses an output inside the policy folder and a folder outside git', async () => {
  const inside = await cli(['build', repo.policyDir, '--out', join(repo.policyDir, 'bundle.tar.gz')]);
  assert.is(inside.code, 2);
  assert.not.ok(existsSync(join(repo.policyDir, 'bundle.tar.gz')));
  const loose = await mkdtemp(join(tmpdir(), 'allowance-nogit-'));
  await writeFile(
    join(loose, 'spend.rego'),
    'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
  );
  const out = join(await mkdtemp(join(tmpdir(), 'allowance-out-')), 'b.tar.gz');
  assert.is((await cli(['build', loose, '--out', out])).code, 1);
  assert.not.ok(existsSync(out));
});

s('usage errors exit 2 with the command help', async () => {
  const cases: string[][] = [
    [],
    ['frobnicate'],
    ['build', repo.policyDir],
    ['build', repo.policyDir, '--out', join(tmpdir(), 'x.tar.gz'), '--revision', 'v1:bad'],
    ['build', repo.policyDir, '--out', join(tmpdir(), 'x.tar.gz'), '--revision', '../up'],
    ['test', repo.policyDir, '--coverage-min', '200'],
    ['test', repo.policyDir, '--no-such-option'],
    ['test', '/nonexistent/policy/dir'],
    ['replay', 'abc', '--from', 'yesterday', '--to', '2026-11-30T00:00:00Z', '--server', 'http://127.0.0.1:9'],
    ['replay', 'abc', '--from', '2026-11-30T00:00:00Z', '--to', '2026-11-01T00:00:00Z', '--server', 'http://x'],
    ['promote', '--server', 'http://127.0.0.1:9'],
    ['status', 'extra', '--server', 'http://127.0.0.1:9'],
  ];
  for (const args of cases) {
    const r = await cli(args, CRED);
    assert.is(r.code, 2, `${args.join(' ')} -> ${r.code}: ${r.err}`);
  }
  // No credential, no server: configuration errors before any request.
  assert.is((await cli(['status', '--server', 'http://127.0.0.1:9'])).code, 2);
  assert.is((await cli(['status'], CRED)).code, 2);
  assert.is((await cli(['status', '--server', 'ftp://example.com'], CRED)).code, 2);
  for (const command of [
    'test',
    'build',
    'push',
    'status',
    'shadow',
    'unshadow',
    'report',
    'replay',
    'replay-job',
    'promote',
    'rollback',
    'retire',
  ]) {
    const help = await cli([command, '--help']);
    assert.is(help.code, 0);
    assert.match(help.out, `allowance policy ${command}`);
  }
});

s('an unreachable server exits 3', async () => {
  const closed = await scriptedServer(() => [200, {}]);
  await closed.close();
  const r = await cli(['status', '--server', closed.url], CRED);
  assert.is(r.code, 3);
});

s('push uploads the bundle with a client-signed token; refusals exit 1, server errors 3', async () => {
  const head = await repo.head();
  const answers: Array<[number, unknown]> = [
    [201, { revision: head, status: 'inactive', size_bytes: 1 }],
    [200, { revision: head, status: 'inactive', size_bytes: 1 }],
    [409, { error: { code: 'policy_revision_conflict', message: 'other content' } }],
    [
      422,
      { error: { code: 'policy_bundle_invalid', message: 'bad', details: { problem: 'smoke_failed', detail: 'x' } } },
    ],
    [503, { error: { code: 'storage_unavailable', message: 'down' } }],
  ];
  const server = await scriptedServer(() => answers.shift() ?? [500, {}]);
  try {
    const env = { ...CRED, ALLOWANCE_SERVER: server.url };
    const first = await cli(['push', repo.policyDir], env);
    assert.is(first.code, 0, first.err);
    assert.match(first.out, 'uploaded');
    const rec = server.seen[0] as Recorded;
    assert.is(rec.method, 'POST');
    assert.is(rec.url, '/v1/policies');
    assert.is(rec.headers['content-type'], 'application/gzip');
    const claims = tokenClaims(rec);
    assert.is(claims.key_id, CRED.ALLOWANCE_KEY_ID);
    assert.ok((claims.exp as number) - (claims.iat as number) <= 300);
    const bundle = readPolicyBundle(new Uint8Array(rec.body));
    assert.is(bundle.manifest.revision, head);
    assert.equal(
      [...((bundle.manifest as { wasm?: { entrypoint: string }[] }).wasm ?? [])].map((w) => w.entrypoint).sort(),
      ['allowance/intent/decision', 'allowance/spend/decision'],
    );
    assert.is((await cli(['push', repo.policyDir, '--json'], env)).code, 0);
    const conflict = await cli(['push', repo.policyDir, '--json'], env);
    assert.is(conflict.code, 1);
    assert.is(JSON.parse(conflict.out).error.code, 'policy_revision_conflict');
    const invalid = await cli(['push', repo.policyDir], env);
    assert.is(invalid.code, 1);
    assert.match(invalid.err, 'policy_bundle_invalid');
    assert.match(invalid.err, 'smoke_failed');
    assert.is((await cli(['push', repo.policyDir], env)).code, 3);
    // --base goes to the operator route with the same bytes.
    answers.push([200, { revision: head, sha256: 'f'.repeat(64), activated_at: '2026-11-30T00:00:00.000Z' }]);
    assert.is((await cli(['push', repo.policyDir, '--base'], env)).code, 0);
    assert.is(server.seen.at(-1)?.url, '/v1/base-policy');
  } finally {
    await server.close();
  }
});

s('lifecycle commands call the agreed routes; replay --wait polls the job to its report', async () => {
  const report = {
    revision: 'r2',
    from: '2026-11-01T00:00:00Z',
    to: '2026-11-30T00:00:00Z',
    replayed: 3,
    changed: 1,
    transitions: { 'ALLOW->DENY': 1 },
    reasons: { 'policy:vendor_not_approved': 1 },
    approved_amount_delta: { sum: -1850, min: -1850, max: 0 },
    top_agents: [{ agent_id: 'agt_1', changed: 1 }],
    top_merchants: [{ merchant_id: 'mer_x', changed: 1 }],
    samples: [
      {
        processor_id: 'prc_1',
        authorization_id: 'pa_1',
        at: '2026-11-02T00:00:00.000Z',
        active: { action: 'ALLOW', reasons: [] },
        candidate: { action: 'DENY', reasons: ['policy:vendor_not_approved'] },
      },
    ],
  };
  let polls = 0;
  const server = await scriptedServer((req) => {
    if (req.url === '/v1/policies/r%2F2/replay') return [202, { id: 'rpl_1', status: 'running' }];
    if (req.url === '/v1/policy-replays/rpl_1') {
      polls += 1;
      return polls < 3
        ? [200, { id: 'rpl_1', status: 'running', progress: { done: polls, total: 3 }, report: null, error: null }]
        : [200, { id: 'rpl_1', status: 'completed', progress: { done: 3, total: 3 }, report, error: null }];
    }
    if (req.url === '/v1/policies/r2/replay') return [200, report];
    if (req.url === '/v1/policies/r2/shadow-report') {
      const delta = { sum: 0, min: null, max: null };
      return [
        200,
        { revision: 'r2', active_revision: null, since: null, evaluated: 0, diverged: 0, approved_amount_delta: delta },
      ];
    }
    return [200, { active_revision: 'r2', shadow_revision: null, previous_revision: 'r1' }];
  });
  try {
    const env = { ...CRED, ALLOWANCE_SERVER: server.url };
    for (const [args, method, path] of [
      [['shadow', 'r2'], 'POST', '/v1/policies/r2/shadow'],
      [['unshadow'], 'DELETE', '/v1/policies/shadow'],
      [['promote', 'r2'], 'POST', '/v1/policies/r2/promote'],
      [['rollback'], 'POST', '/v1/policies/rollback'],
      [['retire', 'r1'], 'POST', '/v1/policies/r1/retire'],
      [['report', 'r2'], 'GET', '/v1/policies/r2/shadow-report'],
    ] as const) {
      const r = await cli([...args], env);
      assert.is(r.code, 0, r.err);
      assert.is(server.seen.at(-1)?.method, method);
      assert.is(server.seen.at(-1)?.url, path);
    }
    // An empty shadow report (nothing evaluated yet) prints without made-up numbers.
    const empty = await cli(['report', 'r2'], env);
    assert.match(empty.out, 'approved amount delta: sum 0, min -, max -');
    const small = await cli(['replay', 'r2', '--from', report.from, '--to', report.to, '--limit', '10'], env);
    assert.is(small.code, 0, small.err);
    assert.equal(JSON.parse((server.seen.at(-1) as Recorded).body.toString()), {
      from: report.from,
      to: report.to,
      limit: 10,
    });
    assert.match(small.out, 'ALLOW->DENY');
    const waited = await cli(['replay', 'r/2', '--from', report.from, '--to', report.to, '--wait', '--json'], env);
    assert.is(waited.code, 0, waited.err);
    assert.is(JSON.parse(waited.out).report.changed, 1);
    assert.is(polls, 3);
    assert.equal(waited.sleeps, [1000, 1000]);
    const background = await cli(['replay', 'r/2', '--from', report.from, '--to', report.to], env);
    assert.is(background.code, 0);
    assert.match(background.out, 'rpl_1');
  } finally {
    await server.close();
  }
});

s('rules-push puts the rules file (object or bare array); rules-show reads a revision back', async () => {
  const revision = {
    revision: 'rules-0123456789abcdef',
    status: 'inactive',
    base_revision: 'base-1',
    rules: [{ id: 'no_gambling', priority: 1, is_active: true, conditions: {}, action: { type: 'deny' } }],
    uploaded_at: '2026-11-30T00:00:00.000Z',
    uploaded_by: CRED.ALLOWANCE_KEY_ID,
  };
  const server = await scriptedServer((req) => {
    if (req.method === 'PUT' && JSON.parse(req.body.toString()).rules.length === 0) {
      const details = { problem: 'schema', index: 0, rule_id: null, path: '/rules/0' };
      return [422, { error: { code: 'rules_invalid', message: 'rule 0 at /rules/0: is invalid', details } }];
    }
    return [req.method === 'PUT' ? 201 : 200, revision];
  });
  const dir = await mkdtemp(join(tmpdir(), 'allowance-rules-cli-'));
  try {
    const env = { ...CRED, ALLOWANCE_SERVER: server.url };
    const rules = [{ id: 'no_gambling', priority: 1, conditions: {}, action: { type: 'deny' } }];
    await writeFile(join(dir, 'object.json'), JSON.stringify({ rules }));
    await writeFile(join(dir, 'array.json'), JSON.stringify(rules));
    for (const file of ['object.json', 'array.json']) {
      const r = await cli(['rules-push', join(dir, file)], env);
      assert.is(r.code, 0, r.err);
      assert.is(server.seen.at(-1)?.method, 'PUT');
      assert.is(server.seen.at(-1)?.url, '/v1/policy-rules');
      assert.equal(JSON.parse((server.seen.at(-1) as Recorded).body.toString()), { rules });
      assert.match(r.out, 'stored rules-0123456789abcdef (inactive, 1 rules over base base-1)');
    }
    await writeFile(join(dir, 'empty.json'), '[]');
    const refused = await cli(['rules-push', join(dir, 'empty.json')], env);
    assert.is(refused.code, 1);
    assert.match(refused.err, 'rules_invalid');
    await writeFile(join(dir, 'broken.json'), '{');
    assert.is((await cli(['rules-push', join(dir, 'broken.json')], env)).code, 2);
    assert.is((await cli(['rules-push'], env)).code, 2);
    const shown = await cli(['rules-show', 'rules-0123456789abcdef'], env);
    assert.is(shown.code, 0, shown.err);
    assert.is(server.seen.at(-1)?.url, '/v1/policy-rules/rules-0123456789abcdef');
    assert.equal(JSON.parse(shown.out), revision);
    await cli(['rules-show'], env);
    assert.is(server.seen.at(-1)?.url, '/v1/policy-rules');
  } finally {
    await server.close();
  }
});

s('the allowance binary routes policy and audit, with documented exit codes', async () => {
  assert.is((await spawnCli(['--help'])).code, 0);
  assert.is((await spawnCli(['nope'])).code, 2);
  assert.is((await spawnCli(['policy', 'test', '--help'])).code, 0);
  const audit = await spawnCli(['audit', 'verify', join(tmpdir(), 'no-such-export.json')]);
  assert.is(audit.code, 2);
  assert.match(audit.err, 'no-such-export.json');
});

s.run();
