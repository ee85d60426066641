// The example policy repository driven end to end with the CLI against a started server:
// test, push, shadow, replay over stored decisions, promote, decide, roll back.
import { readdir } from 'node:fs/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runPolicyCommand } from '../../src/cli/policy-command.js';
import { type Jwks, verifyJws } from '../../src/crypto/index.js';
import {
  authorizeBody,
  makeWorld,
  OPERATOR,
  setupSpending,
  startTestApp,
  type TestApp,
  type World,
} from '../support/http-app.js';
import { POLICY_DIR } from '../support/policy-bundle.js';
import { captureIo, copyExampleRepo, type TempPolicyRepo } from '../support/policy-repo.js';

const s = suite('policy repository end to end');

let t: TestApp;
let w: World;
let repo: TempPolicyRepo;
let reference: string;

s.before(async () => {
  t = await startTestApp();
  w = await makeWorld(t);
  ({ reference } = await setupSpending(w));
  repo = await copyExampleRepo();
});

s.after(async () => {
  await t.close();
});

// biome-ignore lint/suspicious/noExplicitAny: JSON answers of the CLI
async function policy(...args: string[]): Promise<{ code: number; json: any; out: string; err: string }> {
  const io = captureIo({
    ALLOWANCE_SERVER: t.url,
    ALLOWANCE_KEY_ID: w.enterprise.key_id,
    ALLOWANCE_SECRET: w.enterprise.secret,
  });
  // Machine output unless the caller asks for the human one.
  const human = args.includes('--no-json');
  const code = await runPolicyCommand(human ? args.filter((a) => a !== '--no-json') : [...args, '--json'], io);
  const out = io.stdout.join('');
  return { code, json: !human && out ? JSON.parse(out) : null, out, err: io.stderr.join('') };
}

const UNAPPROVED = { id: 'mer_3c7a1b9f', name: 'Example Store', mcc: '5734', country: 'US' };
const APPROVED = { id: 'mer_softco', name: 'SoftCo', mcc: '5734', country: 'US' };
const CAFE = { id: 'mer_cafe', name: 'Cafe', mcc: '5812', country: 'US' };

async function authorize(merchant: Record<string, string>, amount = 1850) {
  const res = await t.call('POST', '/v1/authorize', {
    auth: w.processor,
    body: authorizeBody(reference, { merchant, amount }),
  });
  assert.is(res.status, 200, res.text);
  return res.body;
}

s('test, push, shadow, replay, promote, decide, roll back', async () => {
  const start = new Date(Date.now() - 60_000).toISOString();

  // Decisions under the base policy only: all approved.
  for (const [merchant, amount] of [
    [UNAPPROVED, 1850],
    [APPROVED, 1850],
    [CAFE, 30_000],
  ] as const) {
    const d = await authorize(merchant, amount);
    assert.is(d.action, 'ALLOW');
    assert.is(d.org_policy_revision, null);
  }

  const tested = await policy('test', repo.policyDir);
  assert.is(tested.code, 0, tested.err);

  const pushed = await policy('push', repo.policyDir);
  assert.is(pushed.code, 0, pushed.err);
  const rev = await repo.head();
  assert.is(pushed.json.revision, rev);
  assert.is(pushed.json.status, 'inactive');
  // The same commit again is the same upload.
  const again = await policy('push', repo.policyDir);
  assert.is(again.code, 0, again.err);
  assert.is(again.json.sha256, pushed.json.sha256);
  assert.not.ok((await readdir(repo.root, { recursive: true })).some((f) => f.endsWith('.tar.gz')));

  const shadow = await policy('shadow', rev);
  assert.is(shadow.code, 0, shadow.err);
  // Shadowed: evaluated beside the active policy, its result never returned.
  const live = await authorize(UNAPPROVED);
  assert.is(live.action, 'ALLOW');
  assert.is(live.org_policy_revision, null);

  // The shadow recorder writes in batches: flush it, then read the report as the CLI prints it.
  await t.engine.policyAnalysis.flushShadow();
  const shadowReport = await policy('report', rev);
  assert.is(shadowReport.code, 0, shadowReport.err);
  assert.is(shadowReport.json.evaluated, 1);
  assert.is(shadowReport.json.diverged, 1);
  assert.equal(shadowReport.json.transitions, { 'ALLOW->DENY': 1 });
  assert.equal(shadowReport.json.reasons, { 'policy:vendor_not_approved': 1 });
  assert.is(shadowReport.json.samples[0].authorization_id, live.authorization_id);

  const end = new Date(Date.now() + 60_000).toISOString();
  const replay = await policy('replay', rev, '--from', start, '--to', end, '--wait');
  assert.is(replay.code, 0, replay.err);
  const report = replay.json.report ?? replay.json;
  assert.is(report.replayed, 4);
  assert.is(report.changed, 3);
  assert.equal(report.transitions, { 'ALLOW->DENY': 3 });
  assert.is(report.top_merchants.find((m: { merchant_id: string }) => m.merchant_id === UNAPPROVED.id)?.changed, 2);

  const printed = await policy('replay', rev, '--from', start, '--to', end, '--no-json');
  assert.match(printed.out, 'replayed 4, changed 3');

  const promoted = await policy('promote', rev);
  assert.is(promoted.code, 0, promoted.err);
  assert.is(promoted.json.active_revision, rev);
  assert.is(promoted.json.shadow_revision, null);
  const status = await policy('status');
  assert.is(status.json.active_revision, rev);
  assert.equal(
    status.json.items.map((p: { revision: string; status: string }) => [p.revision, p.status]),
    [[rev, 'active']],
  );
  const human = await policy('status', '--no-json');
  assert.match(human.out, `active:   ${rev}`);

  // The org policy now decides too, and only tightens.
  const denied = await authorize(UNAPPROVED);
  assert.is(denied.action, 'DENY');
  assert.ok(denied.reason_codes.includes('policy:vendor_not_approved'), denied.reason_codes.join());
  assert.is(denied.org_policy_revision, rev);
  const jwks = (await t.call('GET', '/.well-known/jwks.json')).body as Jwks;
  const proof = verifyJws(denied.proof, jwks);
  assert.ok(proof.ok && proof.payload.org_policy_revision === rev);
  const allowed = await authorize(APPROVED);
  assert.is(allowed.action, 'ALLOW');
  assert.is(allowed.org_policy_revision, rev);
  assert.is(allowed.policy_revision, denied.policy_revision);
  const capped = await authorize(CAFE, 30_000);
  assert.is(capped.action, 'DENY');
  assert.ok(capped.reason_codes.includes('policy:cost_centre_cap_exceeded'));

  const rolledBack = await policy('rollback');
  assert.is(rolledBack.code, 0, rolledBack.err);
  assert.is(rolledBack.json.active_revision, null);
  const after = await authorize(UNAPPROVED);
  assert.is(after.action, 'ALLOW');
  assert.is(after.org_policy_revision, null);

  // An unknown revision, and this org's revision seen from another org, are not found.
  const unknown = await policy('promote', 'f'.repeat(40));
  assert.is(unknown.code, 1);
  assert.is(unknown.json.error.code, 'not_found');
  const other = await makeWorld(t, 'Other');
  const io = captureIo({
    ALLOWANCE_SERVER: t.url,
    ALLOWANCE_KEY_ID: other.enterprise.key_id,
    ALLOWANCE_SECRET: other.enterprise.secret,
  });
  assert.is(await runPolicyCommand(['promote', rev, '--json'], io), 1);
  assert.is(JSON.parse(io.stdout.join('')).error.code, 'not_found');
});

s('the operator pushes the platform base policy with --base; decisions name its revision', async () => {
  const io = captureIo({
    ALLOWANCE_SERVER: t.url,
    ALLOWANCE_KEY_ID: OPERATOR.keyId,
    ALLOWANCE_SECRET: OPERATOR.secret,
  });
  const code = await runPolicyCommand(['push', POLICY_DIR, '--base', '--revision', 'base-e2e-1', '--json'], io);
  assert.is(code, 0, io.stderr.join(''));
  assert.is(JSON.parse(io.stdout.join('')).revision, 'base-e2e-1');
  const status = captureIo(io.env);
  assert.is(await runPolicyCommand(['status', '--base', '--json'], status), 0, status.stderr.join(''));
  assert.is(JSON.parse(status.stdout.join('')).revision, 'base-e2e-1');
  const d = await authorize(APPROVED);
  assert.is(d.policy_revision, 'base-e2e-1');
  // An enterprise credential cannot.
  assert.is((await policy('push', POLICY_DIR, '--base', '--revision', 'base-e2e-2')).code, 1);
});

s.run();
