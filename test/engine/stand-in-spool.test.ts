import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SpooledDecision } from '../../src/engine/stand-in-spool.js';
import { SpoolLockedError, StandInSpool } from '../../src/engine/stand-in-spool.js';
import type { Decision } from '../../src/types.js';

const spool = suite('stand-in spool: one process per directory');

function entry(n: number): SpooledDecision {
  return {
    kind: 'decision',
    processor_id: 'proc_1',
    request: { authorization_id: `pa_${n}` } as SpooledDecision['request'],
    request_sha256: 'a'.repeat(64),
    decision: { decision_id: `dec_${n}` } as Decision,
    reservation: null,
    actor: null,
  };
}

async function rejectsLocked(p: Promise<unknown>): Promise<void> {
  try {
    await p;
    assert.unreachable('expected spool_locked');
  } catch (err) {
    assert.instance(err, SpoolLockedError);
    assert.is((err as SpoolLockedError).code, 'spool_locked');
  }
}

spool('a directory in use cannot be opened by another spool until the first closes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-spool-'));
  const first = new StandInSpool(dir);
  await first.open();
  const one = entry(1);
  await first.append(one);
  await rejectsLocked(new StandInSpool(dir, { waitMs: 200 }).open());
  // The first one is unaffected: it appends, drains and compacts as before.
  await first.append(entry(2));
  await first.markDrained(one);
  assert.is(first.size, 1);
  await first.close();
  const second = new StandInSpool(dir, { waitMs: 200 });
  await second.open();
  assert.equal(
    second.list().map((e) => e.decision.decision_id),
    ['dec_2'],
    'what the first left pending',
  );
  await second.close();
});

spool('a lock its holder stopped refreshing (a process that died) is taken over; a fresh one is not', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-spool-'));
  const lock = join(dir, 'spool.lock');
  await mkdir(lock);
  await rejectsLocked(new StandInSpool(dir, { staleMs: 5_000, waitMs: 200 }).open());
  const past = new Date(Date.now() - 60_000);
  await utimes(lock, past, past);
  const taker = new StandInSpool(dir, { staleMs: 5_000, waitMs: 200 });
  await taker.open();
  await taker.append(entry(1));
  assert.is(taker.size, 1);
  await taker.close();
});

spool('another process holding the directory keeps this one out; killed, its lock is taken over', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-spool-'));
  const module = new URL('../../src/engine/stand-in-spool.js', import.meta.url).href;
  const holder = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { StandInSpool } = await import(${JSON.stringify(module)});
       const s = new StandInSpool(${JSON.stringify(dir)}, { staleMs: 2000 });
       await s.open();
       process.stdout.write('open\\n');
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((ok) => holder.once('exit', ok));
  try {
    await new Promise<void>((ok, fail) => {
      holder.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('open')) ok();
      });
      holder.once('exit', (code) => fail(new Error(`holder exited with ${code}`)));
    });
    await rejectsLocked(new StandInSpool(dir, { staleMs: 2_000, waitMs: 300 }).open());
  } finally {
    holder.kill('SIGKILL');
    await exited;
  }
  // Its lock is left behind, no longer refreshed: taken over once stale (open waits for it).
  const next = new StandInSpool(dir, { staleMs: 2_000, waitMs: 10_000 });
  await next.open();
  await next.append(entry(1));
  await next.close();
});

/** A promise of the next call of a callback, failing the test if none comes within `ms`. */
function nextCall<T>(ms: number): { callback: (value: T) => void; called: Promise<T> } {
  let callback: (value: T) => void = () => {};
  let timer: NodeJS.Timeout | undefined;
  const called = new Promise<T>((ok, fail) => {
    // The lock's refresh timer does not keep a process alive (a server has its listener): this one does,
    // and fails the test when no call comes at all.
    timer = setTimeout(() => fail(new Error(`no call within ${ms} ms`)), ms);
    callback = ok;
  }).finally(() => clearTimeout(timer));
  return { callback, called };
}

spool('a spool that lost its lock takes it again when nobody holds it, and rewrites what is pending', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-spool-'));
  const lost = nextCall<Error>(15_000);
  const regained = nextCall<void>(15_000);
  const s = new StandInSpool(dir, {
    staleMs: 2_000,
    waitMs: 5_000,
    onLost: lost.callback,
    onRegained: regained.callback,
  });
  await s.open();
  await s.append(entry(1));
  // Another process, believing the lock stale, compacted the spool (an empty file renamed over it) and
  // removed the lock: the holder's next refresh (every second here) finds the lock gone.
  await writeFile(join(dir, 'empty.tmp'), '');
  await rename(join(dir, 'empty.tmp'), join(dir, 'stand-in.jsonl'));
  await rm(join(dir, 'spool.lock'), { recursive: true });
  assert.instance(await lost.called, Error);
  // Nobody holds it now: the holder takes it again and writes what is pending into the file now in place.
  await regained.called;
  assert.ok((await readFile(join(dir, 'stand-in.jsonl'), 'utf8')).includes('dec_1'), 'pending decision written back');
  await s.append(entry(3));
  assert.is(s.size, 2);
  assert.ok((await readFile(join(dir, 'stand-in.jsonl'), 'utf8')).includes('dec_3'), 'appends go to that file');
  await s.close();
});

spool('a spool whose lost lock another process took stays without it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-spool-'));
  const lost = nextCall<Error>(15_000);
  let regained = false;
  const s = new StandInSpool(dir, {
    staleMs: 2_000,
    waitMs: 1_000,
    onLost: lost.callback,
    onRegained: () => {
      regained = true;
    },
  });
  await s.open();
  const one = entry(1);
  await s.append(one);
  await rm(join(dir, 'spool.lock'), { recursive: true });
  const other = new StandInSpool(dir, { staleMs: 2_000, waitMs: 200 });
  await other.open(); // the other process: it also takes over what was pending
  assert.equal(
    other.list().map((e) => e.decision.decision_id),
    ['dec_1'],
  );
  await lost.called;
  try {
    await s.append(entry(2));
    assert.unreachable('an append after the lock was lost');
  } catch (e) {
    assert.match(String(e), /lost its lock/);
  }
  // Draining what was pending still works, and never compacts the other's file.
  await s.markDrained(one);
  assert.is(s.size, 0);
  assert.ok((await readFile(join(dir, 'stand-in.jsonl'), 'utf8')).includes('dec_1'), 'not compacted');
  await s.close();
  assert.is(regained, false);
  await other.close();
});

spool.run();
