import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const here = dirname(fileURLToPath(import.meta.url));
const conformanceDir = join(here, '../../adapters/conformance');

/** Runs the memory adapter's conformance file under `node --test` (TAP) and returns its exit code and counts. */
function nodeTest(
  env: Record<string, string> = {},
): Promise<{ code: number | null; pass: number; fail: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--test', '--test-reporter=tap', join(here, 'memory-conformance.node-test.js')],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(out)?.[1] ?? -1);
      resolve({ code, pass: count('pass'), fail: count('fail'), out });
    });
  });
}

const test = suite('conformance suite: independent of the test runner');

test('the suite imports no test runner', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : [],
    );
  const all = files(conformanceDir);
  assert.ok(all.length > 5);
  for (const f of all) assert.not.match(readFileSync(f, 'utf8'), /from ['"]uvu/, f);
});

test('the memory adapter passes it under node:test', async () => {
  const r = await nodeTest();
  assert.is(r.code, 0, r.out.slice(-2000));
  assert.is(r.fail, 0);
  // Every case and the closing count check.
  assert.ok(r.pass > 50, `${r.pass} passed`);
  assert.match(r.out, /ok \d+ - conformance\[memory\]: every case ran/);
  assert.match(r.out, /conformance\[memory\]: \d+ groups, \d+ cases/);
});

test('a broken adapter fails it under node:test', async () => {
  const r = await nodeTest({ CONFORMANCE_BROKEN: '1' });
  assert.is.not(r.code, 0);
  assert.ok(r.fail > 0, `${r.fail} failed`);
  assert.match(r.out, /not ok \d+ - conformance\[memory-broken\] crud: /);
});

test.run();
