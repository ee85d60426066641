import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { guardStore } from '../../src/engine/guard-store.js';
import { isAppError } from '../../src/errors/index.js';
import { STORAGE_ADAPTER_METHODS, type StorageAdapter, StorageError } from '../../src/storage/index.js';
import { rejectsWithCode } from '../support/assert-rejects.js';
import { makeFixture } from '../support/engine-fixture.js';
import { faultyStore } from '../support/faulty-store.js';

const test = suite('engine: the store guard');

/** A store whose every method answers null, but for `overrides`. */
function fakeStore(overrides: Record<string, (...args: unknown[]) => unknown>): StorageAdapter {
  const store: Record<string, unknown> = {};
  for (const m of STORAGE_ADAPTER_METHODS) store[m] = overrides[m] ?? (() => Promise.resolve(null));
  return store as unknown as StorageAdapter;
}

test('a store call answers what the adapter answered, as a promise, with the adapter as `this`', async () => {
  const seen: unknown[] = [];
  const store = fakeStore({
    getAgent(this: unknown, ...args: unknown[]) {
      seen.push(this, ...args);
      return Promise.resolve({ id: 'agt_1' });
    },
    // An adapter method answering a plain value still gives a promise.
    getAuthority: () => ({ id: 'auth_1' }),
  });
  const guarded = guardStore(store);
  assert.equal(await guarded.getAgent('org_1', 'agt_1'), { id: 'agt_1' });
  assert.equal(seen, [store, 'org_1', 'agt_1']);
  const plain = guarded.getAuthority('org_1', 'auth_1');
  assert.instance(plain, Promise);
  assert.equal(await plain, { id: 'auth_1' });
});

test('a rejection and a synchronous throw both reject with the AppError of the failure', async () => {
  const guarded = guardStore(
    fakeStore({
      getAgent: () => Promise.reject(new StorageError('unavailable', 'down')),
      getAuthority: () => {
        throw new StorageError('unavailable', 'down at once');
      },
      getProcessor: () => Promise.reject(new Error('a bug')),
    }),
  );
  await rejectsWithCode(guarded.getAgent('org_1', 'agt_1'), 'storage_unavailable');
  let thrownAtOnce = false;
  let call: Promise<unknown> | undefined;
  try {
    call = guarded.getAuthority('org_1', 'auth_1') as Promise<unknown>;
  } catch {
    thrownAtOnce = true;
  }
  assert.is(thrownAtOnce, false, 'a synchronous throw becomes a rejection');
  await rejectsWithCode(call as Promise<unknown>, 'storage_unavailable');
  const other = await (guarded.getProcessor('prc_1') as Promise<unknown>).catch((err: unknown) => err);
  assert.ok(isAppError(other), 'an unknown failure is an AppError too');
});

test('through authorize (its time budget calls the adapter itself), every failure is the AppError the guard makes', async () => {
  const faults = faultyStore();
  const f = await makeFixture({ store: faults.store });
  faults.wrap('getAuthorization', () => Promise.reject(new StorageError('unavailable', 'down')));
  await rejectsWithCode(f.engine.authorize(f.processor.id, f.request()), 'storage_unavailable');
  faults.wrap('getAuthorization', () => {
    throw new StorageError('unavailable', 'down at once');
  });
  await rejectsWithCode(f.engine.authorize(f.processor.id, f.request()), 'storage_unavailable');
  faults.wrap('getAuthorization', null);
  // A failure of a call whose result is noted (the claim), and an unknown failure: AppErrors too.
  faults.wrap('claimAuthorization', () => Promise.reject(new Error('a bug')));
  const bug = await f.engine.authorize(f.processor.id, f.request()).catch((err: unknown) => err);
  assert.ok(isAppError(bug), 'an unknown failure is an AppError');
  faults.wrap('claimAuthorization', () => {
    throw new StorageError('unavailable', 'down at once');
  });
  await rejectsWithCode(f.engine.authorize(f.processor.id, f.request()), 'storage_unavailable');
  faults.wrap('claimAuthorization', null);
  const d = await f.engine.authorize(f.processor.id, f.request());
  assert.is(d.action, 'ALLOW');
});

test.run();
