import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { makeAgent, makeOrg } from '../../adapters/conformance/index.js';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { isStorageError } from '../../src/storage/index.js';
import { holdWriteLock } from '../support/sqlite-lock-process.js';

const wait = suite('a SQLite write waiting for another process’s lock');

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'allowance-sqlite-lock-'));
}

/** Settles to what the promise did, without throwing. */
function outcome(p: Promise<unknown>): { settled: boolean } {
  const state = { settled: false };
  p.then(
    () => {
      state.settled = true;
    },
    () => {
      state.settled = true;
    },
  );
  return state;
}

wait(
  'leaves the event loop free: reads are answered meanwhile, and the write lands once the lock is back',
  async () => {
    const dir = tempDir();
    const path = join(dir, 'allowance.db');
    // A wait far longer than the test: only the release ends it.
    const adapter = new SqliteAdapter({ path, busyTimeoutMs: 60_000 });
    try {
      const org = makeOrg();
      await adapter.insertOrg(org);
      const holder = await holdWriteLock(path);
      const agent = makeAgent(org.id);
      const write = adapter.insertAgent(agent);
      const state = outcome(write);
      // Waiting inside SQLite (busy_timeout) would hold this process until the wait ends: nothing else
      // would run before the write had settled.
      assert.equal(await adapter.getOrg(org.id), org);
      assert.is(await adapter.getAgent(org.id, agent.id), null);
      await new Promise<void>((ok) => setImmediate(ok));
      assert.is(state.settled, false, 'the write waits for the lock');
      await holder.release();
      await write;
      assert.equal(await adapter.getAgent(org.id, agent.id), agent);
    } finally {
      await adapter.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

wait('a lock held past busyTimeoutMs is unavailable, nothing is written, and reads went on meanwhile', async () => {
  const dir = tempDir();
  const path = join(dir, 'allowance.db');
  const adapter = new SqliteAdapter({ path, busyTimeoutMs: 300 });
  try {
    const org = makeOrg();
    await adapter.insertOrg(org);
    const holder = await holdWriteLock(path);
    const agent = makeAgent(org.id);
    const write = adapter.insertAgent(agent);
    const state = outcome(write);
    let reads = 0;
    while (!state.settled) {
      assert.equal(await adapter.getOrg(org.id), org);
      reads++;
      // Paces the reads while the write waits for the lock (it settles on its own, after busyTimeoutMs); the
      // outcome is awaited above, never guessed from elapsed time.
      await new Promise<void>((ok) => setTimeout(ok, 5));
    }
    try {
      await write;
      assert.unreachable('written under a held lock');
    } catch (err) {
      assert.ok(isStorageError(err, 'unavailable'), String(err));
    }
    assert.ok(reads > 1, `reads answered while the write waited: ${reads}`);
    await holder.release();
    assert.is(await adapter.getAgent(org.id, agent.id), null);
  } finally {
    await adapter.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

wait.run();
