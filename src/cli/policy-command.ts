// `allowance policy …`: test, build and push an enterprise's policy repository, and drive its
// lifecycle on a server (status, shadow, replay, promote, rollback, retire).
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { BundleRejection } from '../policy/bundle-rejection.js';
import { checkPolicyConformance, INTENT_CONFORMANCE_CASES, SPEND_CONFORMANCE_CASES } from '../policy/conformance.js';
import { isPolicyError } from '../policy/errors.js';
import { checkBundleUpload, REVISION_PATTERN } from '../policy/upload-check.js';
import { buildPolicyBundle, coverageLines, parseCoveragePercent, runPolicyTests } from '../policy-build/index.js';
import { projectRoot } from '../util/project-root.js';
import { type CliApi, CliError, type CliRequestInit, createCliApi, EXIT } from './cli-api.js';

/** Where the CLI writes: stdout and stderr, replaceable in tests. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Waits between two polls of a replay job. */
  sleep(ms: number): Promise<void>;
}

const COMMON = `common options:
  --server URL     the Allowance server (default: $ALLOWANCE_SERVER)
  --json           print the server's answer as one JSON document (machine output)
  --timeout SEC    per request (default 30)
  -h, --help       this help

credentials: $ALLOWANCE_KEY_ID and $ALLOWANCE_SECRET (an enterprise credential; the operator's for --base).
exit status: 0 ok, 1 the operation failed (tests, refused by the server: 4xx), 2 usage or configuration
error, 3 server or network error (unreachable, timeout, 5xx).`;

const HELP: Record<string, string> = {
  policy: `usage: allowance policy <command> [options]

Policy repository:
  test [DIR]              opa test with coverage + the engine's conformance cases
  build [DIR] --out FILE  build the WASM bundle (pinned opa, runtime capabilities, git revision)
  push [DIR]              build and upload it (--base: the platform base policy, operator only)
Lifecycle on the server (own org):
  status                  revisions with their state; active, shadow and previous revision
  shadow REV              run REV beside the active policy on live traffic (never returned)
  unshadow                stop shadowing
  report REV              the shadow report of REV (divergences on live traffic)
  replay REV --from T --to T [--wait]   re-decide stored decisions against REV and print the diff
  replay-job ID [--wait]  a background replay's progress and report
  promote REV             make REV the active policy (every server within a second)
  rollback                back to the previous active revision
  retire REV              retire an inactive revision
Rules as data (instead of Rego):
  rules-push FILE         store the rules in FILE (JSON) as a draft revision; shadow/replay/promote it as any
  rules-show [REV]        the rules of REV, or of the newest rules revision

DIR is the folder holding the Rego, its *_test.rego and data.json (default: the current folder).
Run \`allowance policy <command> --help\` for a command's options.

${COMMON}`,
  test: `usage: allowance policy test [DIR] [--coverage-min PERCENT] [--run REGEX] [--json]

Runs the pinned opa's unit tests (*_test.rego) in DIR with coverage, restricted to the builtins the
runtime implements, then builds the WASM bundle into a temporary folder and evaluates the engine's
conformance inputs (valid spend and intent inputs: weekends, every status, empty merchants, zero and
huge amounts, …) against allowance/spend/decision and allowance/intent/decision. A policy that throws,
returns nothing or returns an invalid decision fails, naming the input and the problem.

  --coverage-min PERCENT   minimum line coverage of the policy files, tests excluded (default 90)
  --run REGEX              only the opa tests matching REGEX (the conformance cases always run)
  --json                   one JSON document with the coverage and the conformance problems

exit status: 0 passed, 1 a test, the coverage gate or a conformance case failed, 2 usage error.`,
  build: `usage: allowance policy build [DIR] --out FILE [--revision REV] [--allow-dirty]

Builds DIR into an OPA bundle (.tar.gz with policy.wasm, data.json, .manifest) with the pinned opa,
restricted to the engine's capabilities (a builtin the runtime lacks fails here), entry points
allowance/spend/decision and allowance/intent/decision, and checks it as the server checks an upload
(entry points, builtins, smoke inputs) and against the conformance cases.
FILE must lie outside DIR (opa test would load a bundle found there).

  --out FILE        where to write the bundle (required)
  --revision REV    the bundle revision (default: the git commit of DIR, \`git rev-parse HEAD\`)
  --allow-dirty     accept uncommitted changes in DIR; the revision is then <commit>-dirty
  --json            print {revision, out, size_bytes}

exit status: 0 built, 1 build or conformance failure, or uncommitted changes, 2 usage error.`,
  push: `usage: allowance policy push [DIR] [--server URL] [--revision REV] [--allow-dirty] [--base] [--json]

Builds DIR like \`allowance policy build\` and uploads the bundle: POST /v1/policies (the org's policy,
enterprise credential) or, with --base, POST /v1/base-policy (the platform base policy, operator
credential; every server switches to it). An upload is inactive until promoted. The same revision with
the same content again is accepted (already uploaded); with other content it is refused (409).

  --revision REV    the bundle revision (default: the git commit of DIR)
  --allow-dirty     accept uncommitted changes in DIR; the revision is then <commit>-dirty
  --base            push the platform base policy (operator)

${COMMON}`,
  status: `usage: allowance policy status [--base] [--server URL] [--json]

Lists the org's uploaded revisions with their state and names the active, shadow and previous
revision (GET /v1/policies). With --base: the platform base policy (GET /v1/base-policy).

${COMMON}`,
  shadow: `usage: allowance policy shadow REV [--server URL] [--json]

Sets REV as the org's shadow policy: it is evaluated beside the active policy on every live
authorization and intent, its result is never returned, divergences go to \`allowance policy report REV\`.

${COMMON}`,
  unshadow: `usage: allowance policy unshadow [--server URL] [--json]

Stops shadowing (DELETE /v1/policies/shadow).

${COMMON}`,
  report: `usage: allowance policy report REV [--samples N] [--server URL] [--json]

The shadow report of REV: live decisions evaluated, how many diverged, by transition and reason,
the approved amount delta and the latest samples (at most N printed, default 10).

${COMMON}`,
  replay: `usage: allowance policy replay REV --from TIME --to TIME [--limit N] [--wait] [--samples N] [--json]

Re-decides the org's stored decisions in [from, to) from their exact stored policy input against REV
and prints the diff: transitions, reasons, approved amount delta, the agents and merchants most
affected, samples. Nothing but the report and an audit event is written. A small window answers at
once; a large one runs as a background job: with --wait the CLI polls it until it is done, otherwise it
prints the job id (see \`allowance policy replay-job\`).

  --from TIME, --to TIME   RFC 3339 (to is exclusive), e.g. 2026-11-01T00:00:00Z
  --limit N                replay at most N decisions
  --wait                   wait for a background job and print its report
  --wait-timeout SEC       give up waiting after SEC seconds (default 1800; exit 1)
  --samples N              samples printed (default 10)

${COMMON}`,
  'replay-job': `usage: allowance policy replay-job ID [--wait] [--wait-timeout SEC] [--samples N] [--json]

A background replay (GET /v1/policy-replays/ID): its status, progress and, once completed, its report.
A failed job exits 1.

${COMMON}`,
  promote: `usage: allowance policy promote REV [--server URL] [--json]

Makes REV the org's active policy (the previous one is kept for rollback; promoting the shadow revision
ends the shadow). Every server on the same store switches within a second, without a restart.

${COMMON}`,
  rollback: `usage: allowance policy rollback [--server URL] [--json]

Returns the org to its previous active revision (409 invalid_state when there is none).

${COMMON}`,
  retire: `usage: allowance policy retire REV [--server URL] [--json]

Retires an inactive revision: it can no longer be shadowed or promoted.

${COMMON}`,
  'rules-push': `usage: allowance policy rules-push FILE [--server URL] [--json]

Stores the org's ordered rules (PUT /v1/policy-rules) as a draft policy revision built over the base
policy, and prints its revision: shadow, replay, promote and roll it back like any revision. FILE holds
{"rules": [...]} or the bare array (docs/policies.md, "Rules as data"). Invalid rules exit 1 with the
server's rules_invalid message naming the rule, its index and the path.

${COMMON}`,
  'rules-show': `usage: allowance policy rules-show [REV] [--server URL]

Prints the rules revision REV (or the org's newest one) as JSON: revision, status, base revision, rules.

${COMMON}`,
};

const SERVER_OPTIONS = {
  server: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const BUILD_OPTIONS = {
  revision: { type: 'string' },
  'allow-dirty': { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

type Values = Record<string, string | boolean | undefined>;

interface Parsed {
  values: Values;
  positionals: string[];
}

function parse(command: string, argv: string[], options: ParseArgsConfig['options'], maxPositionals: number): Parsed {
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as Parsed;
  } catch (err) {
    throw new CliError(EXIT.usage, `${(err as Error).message}\n\n${HELP[command]}`);
  }
  if (parsed.values.help) return parsed;
  if (parsed.positionals.length > maxPositionals) {
    throw new CliError(EXIT.usage, `unexpected argument ${parsed.positionals[maxPositionals]}\n\n${HELP[command]}`);
  }
  return parsed;
}

function required(command: string, value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new CliError(EXIT.usage, `${what} is required\n\n${HELP[command]}`);
  return value;
}

function positiveInt(raw: string | boolean | undefined, option: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw new CliError(EXIT.usage, `${option}: not a positive integer: ${raw}`);
  }
  return n;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

function rfc3339(raw: string | boolean | undefined, option: string): string {
  if (typeof raw !== 'string' || !RFC3339.test(raw) || Number.isNaN(Date.parse(raw))) {
    throw new CliError(EXIT.usage, `${option}: not an RFC 3339 time: ${raw ?? '(missing)'}`);
  }
  return raw;
}

function policyDir(positional: string | undefined): string {
  const dir = resolve(positional ?? '.');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(EXIT.usage, `not a folder: ${dir}`);
  return dir;
}

function client(values: Values, env: NodeJS.ProcessEnv): CliApi {
  const server = (values.server as string | undefined) ?? env.ALLOWANCE_SERVER;
  if (!server) throw new CliError(EXIT.usage, 'no server: pass --server URL or set ALLOWANCE_SERVER');
  const keyId = env.ALLOWANCE_KEY_ID;
  const secret = env.ALLOWANCE_SECRET;
  if (!keyId || !secret) throw new CliError(EXIT.usage, 'no credential: set ALLOWANCE_KEY_ID and ALLOWANCE_SECRET');
  const timeoutMs = positiveInt(values.timeout, '--timeout', 30) * 1000;
  return createCliApi({ server, keyId, secret, timeoutMs });
}

function git(args: string[], cwd: string): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile('git', args, { cwd, encoding: 'utf8' }, (err, stdout, stderr) => {
      done({ ok: err === null, stdout, stderr });
    });
  });
}

/**
 * The revision of the policies in `dir`: `--revision` when given, else the git commit checked
 * out there; uncommitted changes under `dir` make it `<commit>-dirty`, refused unless allowed.
 */
export async function resolveRevision(dir: string, values: Values): Promise<string> {
  if (typeof values.revision === 'string') {
    if (!REVISION_PATTERN.test(values.revision)) {
      throw new CliError(EXIT.usage, `--revision: letters, digits and . _ - only, at most 128: ${values.revision}`);
    }
    return values.revision;
  }
  const head = await git(['rev-parse', '--verify', '--quiet', 'HEAD'], dir);
  const sha = head.stdout.trim();
  if (!head.ok || !/^[0-9a-f]{40,64}$/.test(sha)) {
    throw new CliError(EXIT.failure, `${dir} is not in a git repository with a commit: commit it or pass --revision`);
  }
  const status = await git(['status', '--porcelain', '--untracked-files=all', '--', '.'], dir);
  if (!status.ok) throw new CliError(EXIT.failure, `git status failed in ${dir}: ${status.stderr.trim()}`);
  if (status.stdout.trim() === '') return sha;
  if (values['allow-dirty']) return `${sha}-dirty`;
  const files = status.stdout.trimEnd().split('\n').slice(0, 10).join('\n  ');
  throw new CliError(
    EXIT.failure,
    `uncommitted changes in ${dir}; commit them (the revision is the commit) or pass --allow-dirty:\n  ${files}`,
  );
}

/** Unpacked size accepted by the local check: the server's default (8 × its 10 MiB upload limit). */
const LOCAL_MAX_UNPACKED_BYTES = 80 * 1024 * 1024;

/** The engine's capabilities: the builtins its WASM runtime implements. */
function capabilitiesFile(): string {
  return join(projectRoot(), 'policies', 'capabilities.json');
}

function conformanceText(problems: ReturnType<typeof checkPolicyConformance>): string[] {
  return problems.map((p) => `  ${p.input} (${p.entrypoint}): ${p.code}: ${p.message}`);
}

interface Built {
  revision: string;
  bytes: Uint8Array;
}

/** Builds `dir` into a temporary folder, checks the conformance cases and returns the archive bytes. */
async function buildChecked(dir: string, revision: string): Promise<Built> {
  const tmp = await mkdtemp(join(tmpdir(), 'allowance-policy-build-'));
  try {
    const outFile = join(tmp, 'bundle.tar.gz');
    try {
      await buildPolicyBundle({ sourceDir: dir, outFile, revision, capabilities: capabilitiesFile() });
    } catch (err) {
      if (isPolicyError(err)) {
        const stderr = typeof err.details?.stderr === 'string' ? `\n${err.details.stderr.trim()}` : '';
        throw new CliError(EXIT.failure, `build failed: ${err.code}: ${err.message}${stderr}`);
      }
      throw err;
    }
    const bytes = new Uint8Array(await readFile(outFile));
    // The checks the server runs on an upload (entry points, builtins, smoke inputs), then the conformance cases.
    let checked: Awaited<ReturnType<typeof checkBundleUpload>>;
    try {
      checked = await checkBundleUpload(bytes, { maxUnpackedBytes: LOCAL_MAX_UNPACKED_BYTES });
    } catch (err) {
      if (err instanceof BundleRejection) {
        throw new CliError(EXIT.failure, `the server would refuse this bundle: ${err.message}`);
      }
      throw err;
    }
    const problems = checkPolicyConformance(checked.policy);
    if (problems.length > 0) {
      throw new CliError(
        EXIT.failure,
        [`the policy fails ${problems.length} conformance case(s):`, ...conformanceText(problems)].join('\n'),
      );
    }
    return { revision, bytes };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function cmdTest(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    'test',
    argv,
    { ...SERVER_OPTIONS, 'coverage-min': { type: 'string' }, run: { type: 'string' } },
    1,
  );
  if (values.help) return help('test', io);
  let min = 90;
  try {
    if (values['coverage-min'] !== undefined) min = parseCoveragePercent(values['coverage-min'] as string);
  } catch (err) {
    throw new CliError(EXIT.usage, (err as Error).message);
  }
  const dir = policyDir(positionals[0]);
  // The files the bundle leaves out are left out of the tests too (schemas would load as data).
  const extra = ['--capabilities', capabilitiesFile(), '--ignore', '*.tar.gz', '--ignore', '.*'];
  extra.push('--ignore', 'schemas', '--ignore', 'capabilities.json');
  if (typeof values.run === 'string') extra.push('--run', values.run);
  let tests: Awaited<ReturnType<typeof runPolicyTests>>;
  try {
    tests = await runPolicyTests({ cwd: dir, paths: ['.'], coverageMin: min, args: extra });
  } catch (err) {
    if (isPolicyError(err)) throw new CliError(EXIT.failure, `opa test: ${err.code}: ${err.message}`);
    throw err;
  }
  // The conformance cases run on the bundle as the server will load it.
  let buildError: string | null = null;
  if (tests.policyPercent !== null) {
    try {
      await buildChecked(dir, 'conformance');
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      buildError = err.message;
    }
  }
  const ok = tests.exitCode === 0 && buildError === null;
  const cases = SPEND_CONFORMANCE_CASES.length + INTENT_CONFORMANCE_CASES.length;
  if (values.json) {
    io.out(
      `${JSON.stringify({
        ok,
        tests: {
          passed: tests.policyPercent !== null,
          output: tests.failureOutput || undefined,
          coverage: tests.policyPercent,
          coverage_min: min,
          files: tests.files,
        },
        conformance: { cases, passed: tests.policyPercent !== null && buildError === null, problem: buildError },
      })}\n`,
    );
    return ok ? EXIT.ok : EXIT.failure;
  }
  if (tests.policyPercent === null) {
    io.out(tests.failureOutput.endsWith('\n') ? tests.failureOutput : `${tests.failureOutput}\n`);
    io.err('policy test: opa test failed\n');
    return EXIT.failure;
  }
  io.out(`${coverageLines(tests).join('\n')}\n`);
  if (tests.belowMinimum) {
    io.err(`policy test: policy coverage ${tests.policyPercent.toFixed(1)}% is below the minimum of ${min}%\n`);
  }
  if (buildError !== null) io.err(`policy test: ${buildError}\n`);
  else io.out(`conformance: ${cases} inputs, every decision valid\n`);
  if (ok) io.out('PASS\n');
  return ok ? EXIT.ok : EXIT.failure;
}

async function cmdBuild(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    'build',
    argv,
    { ...BUILD_OPTIONS, out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    1,
  );
  if (values.help) return help('build', io);
  const out = resolve(required('build', values.out as string | undefined, '--out FILE'));
  const dir = policyDir(positionals[0]);
  const rel = relative(dir, out);
  if (!rel.startsWith('..') && !isAbsolute(rel)) {
    throw new CliError(EXIT.usage, `--out must lie outside ${dir}: opa test would load a bundle found there`);
  }
  const revision = await resolveRevision(dir, values);
  const built = await buildChecked(dir, revision);
  // Written next to the target and renamed: a reader never sees half a bundle.
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, built.bytes);
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new CliError(EXIT.failure, `cannot write ${out}: ${(err as Error).message}`);
  }
  if (values.json) io.out(`${JSON.stringify({ revision, out, size_bytes: built.bytes.length })}\n`);
  else io.out(`built ${out}: revision ${revision}, ${built.bytes.length} bytes\n`);
  return EXIT.ok;
}

async function cmdPush(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    'push',
    argv,
    { ...SERVER_OPTIONS, ...BUILD_OPTIONS, base: { type: 'boolean' } },
    1,
  );
  if (values.help) return help('push', io);
  const api = client(values, io.env);
  const dir = policyDir(positionals[0]);
  const revision = await resolveRevision(dir, values);
  const built = await buildChecked(dir, revision);
  // The bundle's bytes as they are, as application/gzip.
  const upload = { body: built.bytes as never, bodySerializer: (b: unknown) => b as Uint8Array, headers: GZIP };
  const res = values.base
    ? await api.send('POST /v1/base-policy', (init) => api.api.POST('/v1/base-policy', { ...upload, ...init }))
    : await api.send('POST /v1/policies', (init) => api.api.POST('/v1/policies', { ...upload, ...init }));
  if (values.json) {
    io.out(`${JSON.stringify(res.body)}\n`);
  } else if (values.base) {
    io.out(`base policy ${res.body?.revision ?? revision} active (sha256 ${res.body?.sha256 ?? '?'})\n`);
  } else {
    const what = res.status === 201 ? 'uploaded' : 'already uploaded, identical';
    io.out(
      `${what}: revision ${res.body?.revision ?? revision}, ${res.body?.size_bytes ?? built.bytes.length} bytes, `,
    );
    io.out(`status ${res.body?.status ?? '?'}\n`);
    io.out(`next: allowance policy shadow ${revision} | replay ${revision} --from … --to … | promote ${revision}\n`);
  }
  return EXIT.ok;
}

// biome-ignore lint/suspicious/noExplicitAny: server answers are printed field by field
type Json = any;

type ApiResult = { data?: unknown; error?: unknown; response: Response };

const GZIP = { 'content-type': 'application/gzip' };

function pad(s: unknown, n: number): string {
  return String(s ?? '-').padEnd(n);
}

async function cmdStatus(argv: string[], io: CliIo): Promise<number> {
  const { values } = parse('status', argv, { ...SERVER_OPTIONS, base: { type: 'boolean' } }, 0);
  if (values.help) return help('status', io);
  const api = client(values, io.env);
  if (values.base) {
    const res = await api.send('GET /v1/base-policy', (init) => api.api.GET('/v1/base-policy', init));
    if (values.json) io.out(`${JSON.stringify(res.body)}\n`);
    else
      io.out(`base policy ${res.body.revision} (sha256 ${res.body.sha256}, active since ${res.body.activated_at})\n`);
    return EXIT.ok;
  }
  const items: Json[] = [];
  let first: Json = null;
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const query = cursor ? { cursor } : {};
    const res: Json = await api.send('GET /v1/policies', (init) =>
      api.api.GET('/v1/policies', { params: { query }, ...init }),
    );
    first ??= res.body;
    items.push(...(res.body.items ?? []));
    cursor = res.body.next_cursor ?? null;
    if (cursor === null) break;
  }
  if (values.json) {
    io.out(`${JSON.stringify({ ...first, items, next_cursor: cursor })}\n`);
    return EXIT.ok;
  }
  io.out(`active:   ${first.active_revision ?? '(none: base policy only)'}\n`);
  io.out(`shadow:   ${first.shadow_revision ?? '(none)'}\n`);
  io.out(`previous: ${first.previous_revision ?? '(none)'}\n`);
  if (items.length === 0) {
    io.out('no revisions uploaded\n');
    return EXIT.ok;
  }
  io.out(`\n${pad('REVISION', 42)} ${pad('STATUS', 9)} ${pad('UPLOADED', 25)} ${pad('BY', 20)} SIZE\n`);
  for (const p of items) {
    io.out(
      `${pad(p.revision, 42)} ${pad(p.status, 9)} ${pad(p.uploaded_at, 25)} ${pad(p.uploaded_by, 20)} ${p.size_bytes}\n`,
    );
  }
  return EXIT.ok;
}

function stateLine(body: Json): string {
  return `active ${body?.active_revision ?? '(base only)'}, shadow ${body?.shadow_revision ?? '(none)'}, previous ${body?.previous_revision ?? '(none)'}`;
}

async function cmdLifecycle(
  command: 'shadow' | 'unshadow' | 'promote' | 'rollback' | 'retire',
  argv: string[],
  io: CliIo,
): Promise<number> {
  const needsRev = command === 'shadow' || command === 'promote' || command === 'retire';
  const { values, positionals } = parse(command, argv, SERVER_OPTIONS, needsRev ? 1 : 0);
  if (values.help) return help(command, io);
  const rev = needsRev ? required(command, positionals[0], 'REV') : '';
  const api = client(values, io.env);
  const path = { params: { path: { revision: rev } } };
  const call: Record<typeof command, [string, (init: CliRequestInit) => Promise<ApiResult>]> = {
    shadow: [
      'POST /v1/policies/{revision}/shadow',
      (i) => api.api.POST('/v1/policies/{revision}/shadow', { ...path, ...i }),
    ],
    unshadow: ['DELETE /v1/policies/shadow', (i) => api.api.DELETE('/v1/policies/shadow', i)],
    promote: [
      'POST /v1/policies/{revision}/promote',
      (i) => api.api.POST('/v1/policies/{revision}/promote', { ...path, ...i }),
    ],
    rollback: ['POST /v1/policies/rollback', (i) => api.api.POST('/v1/policies/rollback', i)],
    retire: [
      'POST /v1/policies/{revision}/retire',
      (i) => api.api.POST('/v1/policies/{revision}/retire', { ...path, ...i }),
    ],
  };
  const res = await api.send(...call[command]);
  if (values.json) {
    io.out(`${JSON.stringify(res.body)}\n`);
    return EXIT.ok;
  }
  const done: Record<typeof command, string> = {
    shadow: `shadowing ${rev}`,
    unshadow: 'shadow stopped',
    promote: `promoted ${rev}`,
    rollback: 'rolled back',
    retire: `retired ${rev}`,
  };
  const body = res.body ?? {};
  const hasState = 'active_revision' in body || 'shadow_revision' in body;
  io.out(`${done[command]}${hasState ? `: ${stateLine(body)}` : body.status ? `: ${rev} is ${body.status}` : ''}\n`);
  return EXIT.ok;
}

function counts(title: string, map: Record<string, number> | undefined): string[] {
  const entries = Object.entries(map ?? {}).sort(([, a], [, b]) => b - a);
  if (entries.length === 0) return [`${title}: none`];
  return [`${title}:`, ...entries.map(([k, n]) => `  ${String(n).padStart(8)}  ${k}`)];
}

function sideText(side: Json): string {
  if (!side) return '-';
  const amount = side.approved_amount == null ? '' : ` ${side.approved_amount}`;
  return `${side.action}${amount}${side.reasons?.length ? ` [${side.reasons.join(', ')}]` : ''}`;
}

function sampleLines(samples: Json[] | undefined, max: number): string[] {
  const list = (samples ?? []).slice(0, max);
  if (list.length === 0) return [];
  return [
    `samples (${list.length} of ${(samples ?? []).length}):`,
    ...list.map(
      (s) =>
        `  ${s.at ?? ''} ${s.authorization_id ?? s.id ?? ''}${s.agent_id ? ` agent ${s.agent_id}` : ''}: ${sideText(s.active ?? s.before)} -> ${sideText(s.candidate ?? s.after)}`,
    ),
  ];
}

function deltaLine(delta: Json): string {
  if (!delta) return 'approved amount delta: -';
  return `approved amount delta: sum ${delta.sum ?? 0}, min ${delta.min ?? '-'}, max ${delta.max ?? '-'}`;
}

/** The human form of a shadow report or a replay report. */
export function reportText(report: Json, samples: number): string {
  const out: string[] = [];
  if ('replayed' in report) {
    out.push(`replay of ${report.revision} over [${report.from}, ${report.to})`);
    out.push(`replayed ${report.replayed}, changed ${report.changed}`);
  } else {
    out.push(
      `shadow report of ${report.revision} against ${report.active_revision ?? 'the base policy'} since ${report.since}`,
    );
    out.push(`evaluated ${report.evaluated}, diverged ${report.diverged}`);
  }
  out.push(...counts('transitions', report.transitions));
  out.push(...counts('reasons', report.reasons));
  out.push(deltaLine(report.approved_amount_delta));
  if (report.top_agents) {
    out.push(...counts('top agents', Object.fromEntries(report.top_agents.map((a: Json) => [a.agent_id, a.changed]))));
  }
  if (report.top_merchants) {
    out.push(
      ...counts('top merchants', Object.fromEntries(report.top_merchants.map((m: Json) => [m.merchant_id, m.changed]))),
    );
  }
  out.push(...sampleLines(report.samples, samples));
  return `${out.join('\n')}\n`;
}

async function cmdReport(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse('report', argv, { ...SERVER_OPTIONS, samples: { type: 'string' } }, 1);
  if (values.help) return help('report', io);
  const rev = required('report', positionals[0], 'REV');
  const samples = positiveInt(values.samples, '--samples', 10);
  const api = client(values, io.env);
  const res = await api.send('GET /v1/policies/{revision}/shadow-report', (init) =>
    api.api.GET('/v1/policies/{revision}/shadow-report', { params: { path: { revision: rev } }, ...init }),
  );
  io.out(values.json ? `${JSON.stringify(res.body)}\n` : reportText(res.body, samples));
  return EXIT.ok;
}

/** GET /v1/policy-replays/{id}: the replay job. */
async function getJob(api: CliApi, id: string): Promise<Json> {
  const res = await api.send('GET /v1/policy-replays/{id}', (init) =>
    api.api.GET('/v1/policy-replays/{id}', { params: { path: { id } }, ...init }),
  );
  return res.body;
}

async function waitForJob(api: CliApi, id: string, values: Values, io: CliIo): Promise<Json> {
  const deadline = Date.now() + positiveInt(values['wait-timeout'], '--wait-timeout', 1800) * 1000;
  let lastShown = '';
  for (;;) {
    const job: Json = await getJob(api, id);
    if (job.status !== 'running') return job;
    const progress = `${job.progress?.done ?? '?'}/${job.progress?.total ?? '?'}`;
    if (!values.json && progress !== lastShown) io.err(`replay ${id}: running, ${progress}\n`);
    lastShown = progress;
    if (Date.now() >= deadline) {
      throw new CliError(
        EXIT.failure,
        `replay ${id} still running after --wait-timeout; see allowance policy replay-job ${id}`,
      );
    }
    await io.sleep(1000);
  }
}

function printJob(job: Json, values: Values, io: CliIo, samples: number): number {
  if (values.json) io.out(`${JSON.stringify(job)}\n`);
  else if (job.status === 'completed' && job.report) io.out(reportText(job.report, samples));
  else if (job.status === 'failed')
    io.err(`replay ${job.id} failed: ${job.error?.code ?? ''} ${job.error?.message ?? JSON.stringify(job.error)}\n`);
  else io.out(`replay ${job.id}: ${job.status}, ${job.progress?.done ?? '?'}/${job.progress?.total ?? '?'}\n`);
  return job.status === 'failed' ? EXIT.failure : EXIT.ok;
}

const REPLAY_OPTIONS = {
  ...SERVER_OPTIONS,
  wait: { type: 'boolean' },
  'wait-timeout': { type: 'string' },
  samples: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

async function cmdReplay(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    'replay',
    argv,
    { ...REPLAY_OPTIONS, from: { type: 'string' }, to: { type: 'string' }, limit: { type: 'string' } },
    1,
  );
  if (values.help) return help('replay', io);
  const rev = required('replay', positionals[0], 'REV');
  const from = rfc3339(values.from, '--from');
  const to = rfc3339(values.to, '--to');
  if (Date.parse(from) >= Date.parse(to)) throw new CliError(EXIT.usage, '--from must be before --to');
  const samples = positiveInt(values.samples, '--samples', 10);
  const body: { from: string; to: string; limit?: number } = { from, to };
  if (values.limit !== undefined) body.limit = positiveInt(values.limit, '--limit', 1);
  const api = client(values, io.env);
  const res = await api.send('POST /v1/policies/{revision}/replay', (init) =>
    api.api.POST('/v1/policies/{revision}/replay', { params: { path: { revision: rev } }, body, ...init }),
  );
  if (res.status !== 202) {
    io.out(values.json ? `${JSON.stringify(res.body)}\n` : reportText(res.body, samples));
    return EXIT.ok;
  }
  const id = String(res.body.id);
  if (!values.wait) {
    if (values.json) io.out(`${JSON.stringify(res.body)}\n`);
    else io.out(`replay ${id} running in the background: allowance policy replay-job ${id} --wait\n`);
    return EXIT.ok;
  }
  return printJob(await waitForJob(api, id, values, io), values, io, samples);
}

async function cmdReplayJob(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse('replay-job', argv, REPLAY_OPTIONS, 1);
  if (values.help) return help('replay-job', io);
  const id = required('replay-job', positionals[0], 'ID');
  const samples = positiveInt(values.samples, '--samples', 10);
  const api = client(values, io.env);
  const job = values.wait ? await waitForJob(api, id, values, io) : await getJob(api, id);
  return printJob(job, values, io, samples);
}

async function cmdRulesPush(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse('rules-push', argv, SERVER_OPTIONS, 1);
  if (values.help) return help('rules-push', io);
  const file = required('rules-push', positionals[0], 'FILE');
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new CliError(EXIT.usage, `${file}: not a readable JSON file (${(err as Error).message})`);
  }
  const api = client(values, io.env);
  // The document goes as it is: the server validates it (JSON Schema, rules_unsupported).
  const body = (Array.isArray(doc) ? { rules: doc } : doc) as never;
  const res = await api.send('PUT /v1/policy-rules', (init) => api.api.PUT('/v1/policy-rules', { body, ...init }));
  if (values.json) {
    io.out(`${JSON.stringify(res.body)}\n`);
    return EXIT.ok;
  }
  const b = res.body ?? {};
  const what = res.status === 201 ? 'stored' : 'unchanged';
  io.out(`${what} ${b.revision} (${b.status}, ${b.rules?.length ?? 0} rules over base ${b.base_revision})\n`);
  io.out(`next: allowance policy shadow ${b.revision}, replay ${b.revision} --from T --to T, promote ${b.revision}\n`);
  return EXIT.ok;
}

async function cmdRulesShow(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse('rules-show', argv, SERVER_OPTIONS, 1);
  if (values.help) return help('rules-show', io);
  const rev = positionals[0];
  const api = client(values, io.env);
  const res =
    rev === undefined
      ? await api.send('GET /v1/policy-rules', (init) => api.api.GET('/v1/policy-rules', init))
      : await api.send('GET /v1/policy-rules/{revision}', (init) =>
          api.api.GET('/v1/policy-rules/{revision}', { params: { path: { revision: rev } }, ...init }),
        );
  io.out(`${JSON.stringify(res.body, null, 2)}\n`);
  return EXIT.ok;
}

function help(command: string, io: CliIo): number {
  io.out(`${HELP[command]}\n`);
  return EXIT.ok;
}

/** Runs `allowance policy <argv…>` and returns the exit status; errors are written to io.err. */
export async function runPolicyCommand(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        io.err(`${HELP.policy}\n`);
        return EXIT.usage;
      case '-h':
      case '--help':
      case 'help':
        return help('policy', io);
      case 'test':
        return await cmdTest(rest, io);
      case 'build':
        return await cmdBuild(rest, io);
      case 'push':
        return await cmdPush(rest, io);
      case 'status':
        return await cmdStatus(rest, io);
      case 'shadow':
      case 'unshadow':
      case 'promote':
      case 'rollback':
      case 'retire':
        return await cmdLifecycle(command, rest, io);
      case 'report':
        return await cmdReport(rest, io);
      case 'replay':
        return await cmdReplay(rest, io);
      case 'replay-job':
        return await cmdReplayJob(rest, io);
      case 'rules-push':
        return await cmdRulesPush(rest, io);
      case 'rules-show':
        return await cmdRulesShow(rest, io);
      default:
        io.err(`allowance policy: unknown command ${command}\n\n${HELP.policy}\n`);
        return EXIT.usage;
    }
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    if (err.body !== undefined && rest.includes('--json')) io.out(`${JSON.stringify(err.body)}\n`);
    io.err(`allowance policy ${command}: ${err.message}\n`);
    return err.exitCode;
  }
}
