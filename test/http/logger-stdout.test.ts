import { fork } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('logs on standard output: buffered, asynchronous, never lost at exit or on flush');

const CHILD = fileURLToPath(new URL('../support/log-child.js', import.meta.url));

function records(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('a line buffered when the process exits is written before it ends', async () => {
  const child = fork(CHILD, ['exit'], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const code = await new Promise<number | null>((ok) => child.on('close', (c) => ok(c)));
  assert.is(code, 0);
  const lines = records(out);
  assert.is(lines.length, 1);
  assert.is(lines[0]?.event, 'child_line');
  assert.is(lines[0]?.level, 'info');
  assert.is(lines[0]?.secret, '[redacted]');
});

test('flush() resolves once the buffered lines are written', async () => {
  // Standard output is a file here, so what was written can be read back the moment the child says so.
  const dir = await mkdtemp(join(tmpdir(), 'allowance-log-'));
  const path = join(dir, 'stdout.log');
  const fd = openSync(path, 'w');
  const child = fork(CHILD, ['flush'], { stdio: ['ignore', fd, 'inherit', 'ipc'] });
  try {
    await new Promise<void>((ok, fail) => {
      child.once('message', () => ok());
      child.once('exit', (c) => fail(new Error(`child exited with ${c}`)));
    });
    assert.equal(
      records(readFileSync(path, 'utf8')).map((r) => r.event),
      ['child_line'],
    );
  } finally {
    child.kill('SIGKILL');
    closeSync(fd);
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
