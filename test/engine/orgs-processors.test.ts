import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { isAppError } from '../../src/errors/index.js';
import { StorageError } from '../../src/storage/index.js';
import { makeFixture } from '../support/engine-fixture.js';

const test = suite('engine: orgs and processors by id');

test('getOrg and getProcessor return what was created, null for an unknown id', async () => {
  const f = await makeFixture();
  assert.equal(await f.engine.getOrg(f.org.id), f.org);
  assert.equal(await f.engine.getProcessor(f.processor.id), f.processor);
  assert.is(await f.engine.getOrg('org_unknown'), null);
  assert.is(await f.engine.getProcessor('prc_unknown'), null);
});

test('a store outage is storage_unavailable, as every engine read', async () => {
  const store = new MemoryAdapter();
  const read = store.getProcessor.bind(store);
  let down = false;
  store.getProcessor = async (id: string) => {
    if (down) throw new StorageError('unavailable', 'down');
    return read(id);
  };
  const f = await makeFixture({ store });
  down = true;
  const err = await f.engine.getProcessor(f.processor.id).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(isAppError(err, 'storage_unavailable'));
});

test('an active processor is looked up once for a run of authorizations, not once per authorization', async () => {
  const store = new MemoryAdapter();
  const read = store.getProcessor.bind(store);
  let reads = 0;
  store.getProcessor = async (id: string) => {
    reads++;
    return read(id);
  };
  const f = await makeFixture({ store });
  reads = 0;
  for (let i = 0; i < 5; i++) {
    const d = await f.engine.authorize(f.processor.id, f.request({ amount: 100 + i }));
    assert.is(d.action, 'ALLOW');
  }
  assert.is(reads, 1);
  // An unknown processor is never cached: each attempt is looked up and refused.
  for (let i = 0; i < 2; i++) {
    const err = await f.engine.authorize('prc_unknown', f.request()).catch((e: unknown) => e);
    assert.ok(isAppError(err, 'processor_not_active'));
  }
  assert.is(reads, 3);
});

test.run();
