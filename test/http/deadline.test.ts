import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryStores } from '../../adapters/memory/index.js';
import { ConfigError, loadConfig, mongoClientOptions } from '../../src/config/index.js';
import { silentLogger } from '../../src/http/logger.js';
import { startServer } from '../../src/http/start-server.js';
import { StorageError } from '../../src/storage/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { faultyStore } from '../support/faulty-store.js';
import { authorizeBody, makeWorld, OPERATOR_CRED, startTestApp } from '../support/http-app.js';
import { assertMatches } from '../support/response-schemas.js';

const deadline = suite('authorize deadline: configuration, server wiring, /readyz');

deadline('ALLOWANCE_AUTHORIZE_DEADLINE_MS and ALLOWANCE_SPOOL_DIR: defaults and validation', () => {
  const c = loadConfig({});
  assert.is(c.authorizeDeadlineMs, 1500);
  assert.is(c.spoolDir, join('.', 'data', 'spool'));
  assert.is(loadConfig({ ALLOWANCE_DATA_DIR: '/var/lib/allowance' }).spoolDir, '/var/lib/allowance/spool');
  assert.is(loadConfig({ ALLOWANCE_AUTHORIZE_DEADLINE_MS: '800' }).authorizeDeadlineMs, 800);
  assert.is(loadConfig({ ALLOWANCE_SPOOL_DIR: '/var/spool/allowance' }).spoolDir, '/var/spool/allowance');
  for (const bad of ['0', '99', '60001', '1.5', 'abc', '-5']) {
    assert.throws(
      () => loadConfig({ ALLOWANCE_AUTHORIZE_DEADLINE_MS: bad }),
      (e: unknown) => e instanceof ConfigError,
      bad,
    );
  }
});

deadline('MONGODB_URI may not ask for driver timeouts longer than the deadline', () => {
  // MongoDB needs both keys configured; the key file is read only when the server starts.
  const keys = { ALLOWANCE_MASTER_KEY: 'ab'.repeat(32), ALLOWANCE_SIGNING_KEY_FILE: 'signing-key.pem' };
  const ok = loadConfig({
    ...keys,
    MONGODB_URI: 'mongodb://db:27017/allowance?serverSelectionTimeoutMS=1000&appName=x',
  });
  assert.is(ok.mongodbUri?.startsWith('mongodb://'), true);
  for (const uri of [
    'mongodb://db:27017/allowance?socketTimeoutMS=30000',
    'mongodb://db:27017/?serverSelectionTimeoutMS=30000',
    'mongodb://db:27017/?connecttimeoutms=0',
    'mongodb://db:27017/?socketTimeoutMS=0',
  ]) {
    assert.throws(
      () => loadConfig({ ...keys, MONGODB_URI: uri }),
      (e: unknown) => e instanceof ConfigError && /MONGODB_URI sets/.test((e as Error).message),
      uri,
    );
  }
  assert.equal(mongoClientOptions(1500), {
    serverSelectionTimeoutMS: 1500,
    connectTimeoutMS: 1500,
    socketTimeoutMS: 1500,
    waitQueueTimeoutMS: 1500,
  });
});

deadline('the server sizes the engine: deadline, claim lease twice the deadline, spool directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-spool-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    ALLOWANCE_AUTHORIZE_DEADLINE_MS: '700',
    ALLOWANCE_SPOOL_DIR: dir,
    ALLOWANCE_OPERATOR_KEY_ID: 'op_deadline',
    ALLOWANCE_OPERATOR_SECRET: `sk_${'d'.repeat(40)}`,
  });
  const running = await startServer(config, {
    stores: async () => createMemoryStores(),
    logger: silentLogger,
    announce: () => {},
  });
  try {
    const engine = running.app.services.engine;
    assert.is(engine.context.config.authorizeDeadlineMs, 700);
    assert.is(engine.context.config.claimLeaseMs, 1400);
    assert.is(engine.standIn?.spoolDir, dir);
  } finally {
    await running.shutdown(100);
  }
});

deadline('/readyz is 503 storage_unavailable, with its message, when the ping hangs or fails', async () => {
  const faulty = faultyStore();
  const t = await startTestApp({}, faulty.store);
  try {
    const w = await makeWorld(t);
    assert.is((await t.call('GET', '/readyz')).status, 200);
    let release: () => void = () => {};
    const hung = new Promise<void>((resolve) => {
      release = resolve;
    });
    faulty.wrap('ping', () => hung);
    const frozen = await t.call('GET', '/readyz');
    release();
    assert.is(frozen.status, 503, frozen.text);
    assert.is(frozen.body.error.code, 'storage_unavailable');
    assert.is(frozen.body.error.message, 'the store does not answer');
    assertMatches('ErrorResponse', frozen.body);

    faulty.wrap('ping', () => Promise.reject(new StorageError('unavailable', 'connection refused')));
    const down = await t.call('GET', '/readyz');
    assert.is(down.status, 503);
    assert.is(down.body.error.code, 'storage_unavailable');
    assert.not.ok(down.text.includes('connection refused'), 'the cause stays in the logs');

    // Any 503 caused by the store says so.
    faulty.wrap('listAgents', () => Promise.reject(new StorageError('unavailable', 'socket closed')));
    const list = await t.call('GET', '/v1/agents', { auth: w.enterprise });
    assert.is(list.status, 503);
    assert.is(list.body.error.code, 'storage_unavailable');
    assert.is(list.body.error.message, 'storage unavailable');
    assert.not.ok(list.text.includes('socket closed'));
  } finally {
    await t.close();
  }
});

deadline('POST /v1/authorize answers a frozen store with a stand-in decision of the documented shape', async () => {
  const faulty = faultyStore();
  const spoolDir = await mkdtemp(join(tmpdir(), 'allowance-spool-'));
  const t = await startTestApp({ engineConfig: { authorizeDeadlineMs: 200, standInSpoolDir: spoolDir } }, faulty.store);
  try {
    const w = await makeWorld(t);
    const agent = await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'buyer' } });
    const authority = await t.call('POST', '/v1/authorities', {
      auth: w.enterprise,
      body: { agent_id: agent.body.id, currency: 'USD', stand_in: { action: 'ALLOW_UP_TO', max_amount: 2500 } },
    });
    assert.is(authority.status, 201, authority.text);
    assertMatches('Authority', authority.body);
    assert.equal(authority.body.stand_in, { action: 'ALLOW_UP_TO', max_amount: 2500 });
    const bad = await t.call('PATCH', `/v1/authorities/${authority.body.id}`, {
      auth: w.enterprise,
      body: { stand_in: { action: 'ALLOW_UP_TO' } },
    });
    assert.is(bad.status, 422);
    assert.is(bad.body.error.code, 'validation_failed');
    const reference = `tok_${Date.now()}`;
    const binding = await t.call('POST', '/v1/bindings', {
      auth: w.enterprise,
      body: {
        agent_id: agent.body.id,
        authority_id: authority.body.id,
        processor_id: w.processorId,
        credential: { type: 'network_token', reference, last4: '4242' },
      },
    });
    assert.is(binding.status, 201, binding.text);
    const warm = await t.call('POST', '/v1/authorize', { auth: w.processor, body: authorizeBody(reference) });
    assert.is(warm.status, 200, warm.text);
    assert.is(warm.body.stand_in, false);
    assertMatches('Decision', warm.body);

    let release: () => void = () => {};
    const frozen = new Promise<void>((resolve) => {
      release = resolve;
    });
    for (const m of ['getProcessor', 'findBinding', 'claimAuthorization', 'getAuthorization'] as const) {
      faulty.wrap(m, async (original, ...args) => {
        await frozen;
        return original(...args);
      });
    }
    const res = await t.call('POST', '/v1/authorize', { auth: w.processor, body: authorizeBody(reference) });
    release();
    assert.is(res.status, 200, res.text);
    assertMatches('Decision', res.body);
    assert.is(res.body.stand_in, true);
    assert.is(res.body.action, 'ALLOW');
    assert.equal(res.body.reason_codes, ['stand_in_store_unavailable']);
    // The spool's backlog is a gauge: 1 until the drain writes the stand-in into the store.
    assert.match((await t.call('GET', '/metrics')).text, /\nallowance_stand_in_pending 1\n/);
    assert.is(await t.engine.standIn?.drain(), 1);
    assert.match((await t.call('GET', '/metrics')).text, /\nallowance_stand_in_pending 0\n/);
  } finally {
    await t.close();
  }
});

deadline(
  'a credential the store cannot read is 503, and one checked before keeps working through the outage',
  async () => {
    const clock = new ManualClock(Date.now());
    const t = await startTestApp({ clock });
    try {
      const w = await makeWorld(t);
      assert.is((await t.call('GET', '/v1/agents', { auth: w.enterprise })).status, 200, 'checked and cached');
      const fresh = await t.call('POST', `/v1/orgs/${w.orgId}/credentials`, { auth: OPERATOR_CRED, body: {} });
      assert.is(fresh.status, 201, fresh.text);
      const storage = t.credentials as unknown as { getCredential: (keyId: string) => Promise<unknown> };
      const original = storage.getCredential.bind(t.credentials);
      storage.getCredential = () => Promise.reject(new StorageError('unavailable', 'socket closed'));
      try {
        const unknown = await t.call('GET', '/v1/agents', { auth: fresh.body });
        assert.is(unknown.status, 503, unknown.text);
        assert.is(unknown.body.error.code, 'storage_unavailable');
        clock.advance(31_000); // past the credential status TTL
        const known = await t.call('GET', '/v1/agents', { auth: w.enterprise });
        assert.is(known.status, 200, known.text);
        // A store that does not answer at all: the status checked before stands after a short wait.
        storage.getCredential = () => new Promise(() => {});
        clock.advance(31_000);
        const frozen = await t.call('GET', '/v1/agents', { auth: w.enterprise });
        assert.is(frozen.status, 200, frozen.text);
      } finally {
        storage.getCredential = original;
      }
    } finally {
      await t.close();
    }
  },
);

deadline.run();
