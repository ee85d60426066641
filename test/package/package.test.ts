// The installable package as a new user gets it: `npm pack`, the tarball installed into a fresh project,
// every entry point imported, the bin run, the type declarations compiled against. Offline: the
// dependencies come from the npm cache that `npm ci` of this repository filled.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function exec(
  file: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done) => {
    execFile(file, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, out, errOut) => {
      done({ code: err === null ? 0 : ((err as { code?: number }).code ?? -1), out, err: errOut });
    });
  });
}

interface LockEntry {
  version?: string;
  resolved?: string;
  dev?: boolean;
  devOptional?: boolean;
  [key: string]: unknown;
}

/** `name` and what it depends on, transitively: the lockfile paths of the packages a project installs with it. */
function closure(lock: Record<string, LockEntry>, names: string[]): Set<string> {
  const paths = new Set<string>();
  const queue = [...names];
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    const path = `node_modules/${name}`;
    if (paths.has(path) || !lock[path]) continue;
    for (const p of Object.keys(lock)) {
      if (p !== path && !p.startsWith(`${path}/node_modules/`)) continue;
      paths.add(p);
      // A nested copy's own dependencies too (resolved at the top level when not nested beside it).
      queue.push(...Object.keys((lock[p]?.dependencies as Record<string, string>) ?? {}));
    }
  }
  return paths;
}

/**
 * The scratch project's package-lock.json: the tarball and its dependencies at the versions and integrities of this repository's lockfile, with registry URLs so `npm ci
 * --offline` needs nothing but the cache (this repository's lockfile leaves `resolved` out).
 */
function scratchLock(
  repoLock: { packages: Record<string, LockEntry> },
  pkg: Record<string, unknown>,
  tarball: string,
  registry: string,
) {
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    '': { name: 'scratch', dependencies: { allowance: spec } },
    'node_modules/allowance': {
      version: pkg.version,
      resolved: spec,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  const wanted = closure(repoLock.packages, Object.keys(pkg.dependencies as object));
  for (const path of wanted) {
    const entry = repoLock.packages[path] as LockEntry;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const base = name.split('/').pop();
    const { dev: _dev, devOptional: _devOptional, ...rest } = entry;
    packages[path] = { ...rest, resolved: entry.resolved ?? `${registry}${name}/-/${base}-${entry.version}.tgz` };
  }
  return { name: 'scratch', lockfileVersion: 3, requires: true, packages };
}

function repoLockOf(): Record<string, LockEntry> {
  return JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')).packages;
}

/**
 * Runs the installed `allowance demo --keep` (an in-memory server on a free port), reads its address from
 * the story, fetches /docs and the Swagger UI bundle from it, then stops it.
 */
async function explorerFromInstalled(project: string): Promise<{ page: number; bundle: Buffer | null }> {
  const bin = join(project, 'node_modules/allowance/build/src/cli/allowance.js');
  const child = spawn(process.execPath, [bin, 'demo', '--keep'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const baseUrl = await new Promise<string>((found, failed) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /The server keeps running on (http:\/\/\S+) /.exec(out);
        if (m) found(m[1] as string);
      });
      child.stderr.on('data', (d) => {
        err += d;
      });
      child.on('exit', (code) => failed(new Error(`allowance demo --keep ended with ${code}: ${err}`)));
    });
    const page = await fetch(`${baseUrl}/docs`);
    await page.arrayBuffer();
    const bundle = await fetch(`${baseUrl}/docs/swagger-ui-bundle.js`);
    return { page: page.status, bundle: bundle.ok ? Buffer.from(await bundle.arrayBuffer()) : null };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

const CONFORMANCE_JS = `import { test } from 'node:test';
import { runAdapterConformance } from 'allowance/conformance';
import { createMemoryStores } from 'allowance/memory';

runAdapterConformance(test, 'installed-memory', async () => {
  const { store: adapter, credentials, policies, policyAnalysis, quotas, domains } = createMemoryStores();
  return { adapter, credentials, policies, policyAnalysis, quotas, domains };
});
`;

const CHECK_JS = `import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createEngine, loadPolicy, verifyJws } from 'allowance';
import { MemoryAdapter } from 'allowance/memory';
import * as mongodb from 'allowance/mongodb';
import * as conformance from 'allowance/conformance';
import { AllowanceApiError, createAllowanceClient } from 'allowance/client';

const require = createRequire(import.meta.url);
const bundle = require.resolve('allowance/package.json').replace(/package\\.json$/, 'build/policies/bundle.tar.gz');
const engine = createEngine({ store: new MemoryAdapter(), policy: await loadPolicy(await readFile(bundle)) });
await engine.init();
const org = await engine.createOrg({ name: 'Scratch' });
const processor = await engine.createProcessor({ name: 'Pay' });
const agent = await engine.createAgent(org.id, { name: 'bot' });
const authority = await engine.createAuthority(org.id, { agent_id: agent.id, currency: 'USD', limits: { per_transaction: 5000 } });
await engine.createBinding(org.id, {
  agent_id: agent.id, authority_id: authority.id, processor_id: processor.id,
  credential: { type: 'network_token', reference: 'tok_1', last4: '4242' },
});
const decision = await engine.authorize(processor.id, {
  authorization_id: 'pa_1', credential_reference: 'tok_1', amount: 100, currency: 'USD',
  merchant: { id: 'm', name: 'Shop', mcc: '5734', country: 'US' },
});
await engine.close();
const client = createAllowanceClient({ baseUrl: 'http://127.0.0.1:9' });
console.log(JSON.stringify({
  action: decision.action,
  proof: verifyJws(decision.proof, engine.jwks()).ok,
  mongodb: Object.keys(mongodb).sort(),
  conformance: typeof conformance.runAdapterConformance,
  client: typeof client.authorize,
  apiError: typeof AllowanceApiError,
}));
`;

// Compiled with --noEmit against the installed declarations. The @ts-expect-error lines fail the compile
// if the types were missing (everything any): a wrong path and a wrong field must be type errors.
const CHECK_TS = `import { createEngine, type Decision as EngineDecision } from 'allowance';
import { MemoryAdapter } from 'allowance/memory';
import { runAdapterConformance } from 'allowance/conformance';
import { createAllowanceClient, type Decision, type Schemas } from 'allowance/client';

export const engine = createEngine;
export const adapter: MemoryAdapter = new MemoryAdapter();
export const suiteRunner: typeof runAdapterConformance = runAdapterConformance;
const client = createAllowanceClient({ baseUrl: 'http://localhost:8080' });
export async function pay(): Promise<Decision> {
  const agent: Schemas['Agent'] | undefined = (await client.api.GET('/v1/agents/{id}', { params: { path: { id: 'agt_1' } } })).data;
  // @ts-expect-error: no such path
  await client.api.GET('/v1/no-such-path');
  // @ts-expect-error: amount is an integer, not a string
  await client.authorize({ authorization_id: 'pa_1', amount: '100', currency: 'USD', merchant: {} });
  const d = await client.authorize({ authorization_id: 'pa_1', amount: 100, currency: 'USD', merchant: {}, credential_reference: agent?.id ?? 't' });
  const action: 'ALLOW' | 'ALLOW_WITH_LIMITS' | 'DENY' | 'STEP_UP' = d.action;
  void action;
  return d;
}
export type Same = EngineDecision extends object ? true : false;
`;

const pack = suite('npm package');

pack('npm pack → fresh project → every entry point imports, npx allowance --help runs, types compile', async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  assert.match(pkg.scripts.prepack, /npm run build/, 'prepack builds, so a pack from a clean clone ships build/');
  const tmp = await mkdtemp(join(tmpdir(), 'allowance-pack-'));
  try {
    // The build is there already (npm test builds first): packing without scripts leaves build/ alone
    // while other tests read it.
    const packed = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT);
    assert.is(packed.code, 0, packed.err);
    const [info] = JSON.parse(packed.out) as Array<{ filename: string; files: Array<{ path: string }> }>;
    assert.ok(info);
    const files = new Set(info.files.map((f) => f.path));
    for (const target of Object.values(pkg.exports as Record<string, string | { types: string; default: string }>)) {
      if (typeof target === 'string') continue;
      assert.ok(files.has(target.default.slice(2)), target.default);
      assert.ok(files.has(target.types.slice(2)), target.types);
    }
    assert.ok(files.has(pkg.bin.allowance), 'the bin ships');
    assert.ok(files.has('build/policies/bundle.tar.gz'), 'the default policy bundle ships');
    for (const f of ['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png', 'LICENSE', 'NOTICE']) {
      assert.ok(files.has(`build/api-explorer/${f}`), `the API explorer's ${f} ships`);
    }
    // No analytics postinstall for whoever installs the package: swagger-ui-dist (which depends on
    // @scarf/scarf) is a devDependency, its files ship in build/api-explorer.
    assert.is(pkg.dependencies['swagger-ui-dist'], undefined);
    const wantedByPackage = closure(repoLockOf(), Object.keys(pkg.dependencies as object));
    const scarf = [...wantedByPackage].filter((path) => /(^|\/)(@scarf\/scarf|swagger-ui-dist)$/.test(path));
    assert.equal(scarf, [], 'nothing the package installs pulls in @scarf/scarf');
    const unwanted = [...files].filter((f) =>
      /^(build\/(test|bench)\/|test\/|bench\/|src\/|adapters\/|scripts\/|\.tools\/|node_modules\/|\.ci\/|artifacts\/)/.test(
        f,
      ),
    );
    assert.equal(unwanted, [], 'no tests, benchmarks, sources, tools');

    const project = join(tmp, 'project');
    await mkdir(project);
    const registry = (await exec('npm', ['config', 'get', 'registry'], ROOT)).out.trim().replace(/\/?$/, '/');
    const repoLock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8'));
    const tarball = join(tmp, info.filename);
    const lock = scratchLock(repoLock, pkg, tarball, registry);
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({
        name: 'scratch',
        private: true,
        type: 'module',
        dependencies: { allowance: `file:${tarball}` },
      }),
    );
    await writeFile(join(project, 'package-lock.json'), JSON.stringify(lock));
    const installed = await exec('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], project);
    assert.is(installed.code, 0, installed.err);
    for (const absent of ['@scarf/scarf', 'swagger-ui-dist']) {
      assert.not.ok(existsSync(join(project, 'node_modules', absent)), `${absent} is not installed`);
    }

    await writeFile(join(project, 'check.mjs'), CHECK_JS);
    const ran = await exec(process.execPath, ['check.mjs'], project);
    assert.is(ran.code, 0, ran.err);
    const result = JSON.parse(ran.out);
    assert.is(result.action, 'ALLOW');
    assert.is(result.proof, true);
    assert.ok(result.mongodb.includes('MongoAdapter'), result.mongodb.join(','));
    assert.is(result.conformance, 'function');
    assert.is(result.client, 'function');
    assert.is(result.apiError, 'function');

    // The conformance suite on node:test, with no other test runner installed.
    assert.not.ok(existsSync(join(project, 'node_modules/uvu')), 'uvu is not installed');
    await writeFile(join(project, 'conformance.test.mjs'), CONFORMANCE_JS);
    const conformed = await exec(process.execPath, ['--test', '--test-reporter=tap', 'conformance.test.mjs'], project);
    assert.is(conformed.code, 0, conformed.out.slice(-2000) + conformed.err);
    assert.match(conformed.out, /^# fail 0$/m);
    assert.match(conformed.out, /ok \d+ - conformance\[installed-memory\]: every case ran/);

    const help = await exec('npm', ['exec', '--offline', '--no', '--', 'allowance', '--help'], project);
    assert.is(help.code, 0, help.err);
    for (const command of ['serve', 'demo', 'keys', 'policy', 'audit'])
      assert.match(help.out, new RegExp(`\\n  ${command} `));
    // The installed bin runs a server from the installed files (its policy bundle, its dependencies).
    const demo = await exec('npm', ['exec', '--offline', '--no', '--', 'allowance', 'demo', '--json'], project);
    assert.is(demo.code, 0, demo.err);
    const story = JSON.parse(demo.out);
    assert.is(story.decision.action, 'ALLOW');
    assert.is(story.proof.verified, true);

    // The installed server serves the API explorer from the package's own copy of the assets.
    const explorer = await explorerFromInstalled(project);
    assert.is(explorer.page, 200);
    assert.ok(
      explorer.bundle?.equals(await readFile(join(ROOT, 'node_modules/swagger-ui-dist/swagger-ui-bundle.js'))),
      'the installed server serves swagger-ui-bundle.js',
    );

    await writeFile(join(project, 'check.ts'), CHECK_TS);
    const tsc = await exec(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--skipLibCheck',
        'check.ts',
      ],
      project,
    );
    assert.is(tsc.code, 0, tsc.out + tsc.err);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

pack.run();
