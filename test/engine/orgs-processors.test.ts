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

test.run();
