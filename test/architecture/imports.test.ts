// The layering rules of docs/architecture.md, checked on the compiled module graph.
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const BUILD = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SPECIFIER = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The specifiers a compiled module imports (static and literal dynamic imports). */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(SPECIFIER)) out.push((m[1] ?? m[2]) as string);
  return out;
}

/** Every module reachable from `entry` (relative imports followed), with the packages each one imports. */
function graph(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const todo = [join(BUILD, entry)];
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (seen.has(file)) continue;
    const specs = specifiers(file);
    seen.set(file, specs);
    for (const s of specs) if (s.startsWith('.')) todo.push(resolve(dirname(file), s));
  }
  return seen;
}

const rel = (file: string) => relative(BUILD, file);

const test = suite('architecture: imports');

test('the server reaches no policy build tooling and spawns nothing (no opa, no git at run time)', () => {
  const modules = graph('src/http/start-server.js');
  assert.ok(modules.size > 20);
  const tooling = [...modules.keys()].map(rel).filter((f) => f.startsWith('src/policy-build/'));
  assert.equal(tooling, []);
  const spawning = [...modules].filter(([, specs]) => specs.includes('node:child_process')).map(([f]) => rel(f));
  assert.equal(spawning, []);
});

test('src/ imports adapters/ only from the composition root (src/cli)', () => {
  const offenders: string[] = [];
  for (const entry of ['src/index.js', 'src/http/start-server.js', 'src/cli/allowance.js']) {
    for (const [file, specs] of graph(entry)) {
      const from = rel(file);
      if (!from.startsWith('src/') || from.startsWith('src/cli/')) continue;
      for (const s of specs)
        if (s.startsWith('.') && rel(resolve(dirname(file), s)).startsWith('adapters/'))
          offenders.push(`${from} -> ${s}`);
    }
  }
  assert.equal(offenders, []);
});

test('config/ imports no feature module', () => {
  const offenders = [...graph('src/config/index.js')]
    .flatMap(([file, specs]) => specs.filter((s) => s.startsWith('.')).map((s) => rel(resolve(dirname(file), s))))
    .filter((target) => !/^src\/(config|crypto|util|errors)\//.test(target));
  assert.equal(offenders, []);
});

test('no module outside the engine imports an engine file past its index', () => {
  const offenders: string[] = [];
  for (const [file, specs] of graph('src/cli/allowance.js')) {
    const from = rel(file);
    if (!from.startsWith('src/') || from.startsWith('src/engine/')) continue;
    for (const s of specs) {
      const target = rel(resolve(dirname(file), s));
      if (s.startsWith('.') && target.startsWith('src/engine/') && target !== 'src/engine/index.js') {
        offenders.push(`${from} -> ${target}`);
      }
    }
  }
  assert.equal(offenders, []);
});

test('no module outside the engine reaches its context (store, signer, policies): it uses the engine surface', () => {
  const modules = new Map<string, string[]>();
  for (const entry of ['src/index.js', 'src/cli/allowance.js', 'src/http/start-server.js']) {
    for (const [file, specs] of graph(entry)) modules.set(file, specs);
  }
  const reach = /\.context\b(?!\s*\()|\{[^}]*\bcontext\b[^}]*\}\s*=\s*[\w.#]*engine\b/;
  const offenders = [...modules.keys()]
    .map(rel)
    .filter((f) => f.startsWith('src/') && !f.startsWith('src/engine/'))
    .filter((f) => reach.test(readFileSync(join(BUILD, f), 'utf8')));
  assert.ok(modules.size > 100);
  assert.equal(offenders, []);
});

test('one ajv instance: every schema of src/ is compiled by src/schemas/validator', () => {
  const makers = [...graph('src/index.js').keys()]
    .filter((file) => /new Ajv(2020)?\(/.test(readFileSync(file, 'utf8')))
    .map(rel);
  assert.equal(makers, ['src/schemas/validator.js']);
});

/**
 * What each folder of src/ may import (besides itself and node/npm packages): the layering of
 * docs/architecture.md. `types` is src/types.ts.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  util: [],
  errors: [],
  crypto: ['util'],
  config: ['crypto', 'util', 'errors'],
  types: [],
  storage: ['audit', 'errors', 'types', 'util'],
  schemas: ['audit', 'errors', 'types', 'util'],
  audit: ['crypto', 'errors', 'storage', 'types', 'util'],
  policy: ['errors', 'schemas', 'storage', 'types', 'util'],
  'policy-build': ['policy', 'util'],
  engine: ['audit', 'crypto', 'errors', 'policy', 'schemas', 'storage', 'types', 'util'],
  bridges: ['crypto', 'engine', 'errors', 'schemas', 'storage', 'types', 'util'],
  webhooks: ['audit', 'config', 'crypto', 'engine', 'errors', 'schemas', 'storage', 'types', 'util'],
  domains: ['audit', 'errors', 'storage', 'util'],
  http: [
    'audit',
    'bridges',
    'config',
    'crypto',
    'domains',
    'engine',
    'errors',
    'policy',
    'schemas',
    'storage',
    'types',
    'util',
    'webhooks',
  ],
  client: ['crypto', 'types', 'util'],
};

/** The folder of a compiled module under build/: `engine` for src/engine/x.js, `types` for src/types.js. */
function folderOf(path: string): string | null {
  const m = /^src\/([^/]+)(\/|\.js$)/.exec(path);
  return m ? (m[1] as string) : null;
}

test('every folder of src/ imports only the folders below it', () => {
  const offenders: string[] = [];
  const modules = new Map<string, string[]>();
  for (const entry of ['src/index.js', 'src/cli/allowance.js', 'src/client/index.js']) {
    for (const [file, specs] of graph(entry)) modules.set(file, specs);
  }
  assert.ok(modules.size > 100);
  for (const [file, specs] of modules) {
    const from = folderOf(rel(file));
    if (from === null || from === 'cli' || from === 'index') continue;
    const allowed = MAY_IMPORT[from];
    assert.ok(allowed, `no rule for src/${from}`);
    for (const s of specs) {
      if (!s.startsWith('.')) continue;
      const target = rel(resolve(dirname(file), s));
      const to = folderOf(target) ?? target.split('/')[0];
      if (to !== from && !allowed?.includes(to as string)) offenders.push(`${rel(file)} -> ${target}`);
    }
  }
  assert.equal(offenders, []);
});

test.run();
