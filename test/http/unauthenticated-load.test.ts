import { createHash, randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryStores } from '../../adapters/memory/index.js';
import { createSecretBox } from '../../src/crypto/index.js';
import type { AppDeps } from '../../src/http/index.js';
import { addressLimitKey, clientAddress, parseTrustedProxies } from '../../src/http/middleware/client-address.js';
import type { ApiCredential, CredentialStorage } from '../../src/storage/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { clientToken, makeWorld, setupSpending, startTestApp } from '../support/http-app.js';

/** The memory credential storage with a count of `getCredential` and `readCredential` calls (store reads of a key id). */
function countingStorage() {
  const stores = createMemoryStores();
  const inner = stores.credentials;
  const counter = { reads: 0 };
  const storage = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'getCredential' || prop === 'readCredential') {
        return (keyId: string) => {
          counter.reads += 1;
          return prop === 'getCredential' ? target.getCredential(keyId) : target.readCredential(keyId);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as CredentialStorage;
  return { stores, storage, counter };
}

async function startWith(overrides: Partial<AppDeps>) {
  const { stores, storage, counter } = countingStorage();
  const clock = new ManualClock(Date.now());
  const masterKey = randomBytes(32);
  const t = await startTestApp({ credentials: storage, clock, masterKey, ...overrides }, stores.store);
  return { t, storage, counter, clock, masterKey };
}

const unknownToken = (keyId = `ek_${randomBytes(8).toString('hex')}`) =>
  clientToken({ key_id: keyId, secret: `sk_${'x'.repeat(40)}` });

const s = suite('unauthenticated load');

s('an unknown key id reads the store once per TTL, not once per request', async () => {
  const { t, counter, clock } = await startWith({ unknownKeyCacheMs: 2_000 });
  try {
    const token = unknownToken();
    for (let i = 0; i < 20; i++) {
      const res = await t.call('GET', '/v1/agents', { auth: token });
      assert.is(res.status, 401);
      assert.is(res.body.error.reason, 'unknown_key');
    }
    assert.is(counter.reads, 1);
    clock.advance(2_000);
    assert.is((await t.call('GET', '/v1/agents', { auth: token })).status, 401);
    assert.is(counter.reads, 2, 'read again once the TTL is over');
    // The exchange of a key id and secret uses the same cache.
    const before = counter.reads;
    for (let i = 0; i < 5; i++) {
      const res = await t.call('POST', '/v1/auth/token', {
        body: { key_id: 'ek_missing', secret: 'sk_nope_nope_nope' },
      });
      assert.is(res.status, 401);
    }
    assert.is(counter.reads - before, 1);
  } finally {
    await t.close();
  }
});

s('a credential created after its key id was probed works once the TTL is over; created here, at once', async () => {
  const { t, storage, clock, masterKey } = await startWith({ unknownKeyCacheMs: 2_000 });
  try {
    const w = await makeWorld(t);
    // Another server stores a credential whose key id this server answered as unknown a moment ago.
    const keyId = `ek_${randomBytes(8).toString('hex')}`;
    const secret = `sk_${randomBytes(32).toString('base64url')}`;
    assert.is(
      (await t.call('GET', '/v1/agents', { auth: { key_id: keyId, secret } })).body.error.reason,
      'unknown_key',
    );
    const row: ApiCredential = {
      key_id: keyId,
      name: null,
      role: 'enterprise',
      owner_id: w.orgId,
      status: 'active',
      secret_sha256: createHash('sha256').update(secret).digest('hex'),
      secret_ciphertext: createSecretBox(masterKey).seal(secret, keyId),
      secret_last4: secret.slice(-4),
      created_at: new Date(clock.now()).toISOString(),
      revoked_at: null,
      last_used_at: null,
      version: 0,
    };
    await storage.insertCredential(row);
    assert.is((await t.call('GET', '/v1/agents', { auth: { key_id: keyId, secret } })).status, 401, 'within the TTL');
    clock.advance(2_000);
    assert.is((await t.call('GET', '/v1/agents', { auth: { key_id: keyId, secret } })).status, 200);
    // Created through this server: usable at once.
    const created = await t.call('POST', `/v1/orgs/${w.orgId}/credentials`, {
      auth: { key_id: 'op_test', secret: `sk_${'o'.repeat(40)}` },
      body: { name: 'second' },
    });
    assert.is(created.status, 201);
    assert.is((await t.call('GET', '/v1/agents', { auth: created.body })).status, 200);
  } finally {
    await t.close();
  }
});

s('fresh unknown key ids are limited per client address before any store read', async () => {
  const { t, counter, clock } = await startWith({ addressRateLimit: { perSecond: 1, burst: 5 } });
  try {
    for (let i = 0; i < 5; i++) {
      assert.is((await t.call('GET', '/v1/agents', { auth: unknownToken() })).status, 401);
    }
    assert.is(counter.reads, 5);
    const limited = await t.call('GET', '/v1/agents', { auth: unknownToken() });
    assert.is(limited.status, 429, limited.text);
    assert.is(limited.body.error.code, 'rate_limited');
    assert.is(limited.body.error.details.limit, 'client_address');
    assert.is(limited.headers.get('retry-after'), '1');
    assert.is(counter.reads, 5, 'the limited request read nothing');
    // Without a trusted proxy, X-Forwarded-For does not change the address.
    const spoofed = await t.call('GET', '/v1/agents', {
      auth: unknownToken(),
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    assert.is(spoofed.status, 429);
    clock.advance(1_000);
    assert.is((await t.call('GET', '/v1/agents', { auth: unknownToken() })).status, 401);
  } finally {
    await t.close();
  }
});

s('addressRateLimit: null: no per-address bucket, and requests are still served', async () => {
  const { t } = await startWith({ addressRateLimit: null, unknownKeyCacheMs: 0 });
  try {
    assert.is(t.app.services.addressLimiter, null);
    const w = await makeWorld(t);
    assert.is((await t.call('GET', '/v1/agents', { auth: w.enterprise })).status, 200);
    for (let i = 0; i < 30; i++) assert.is((await t.call('GET', '/v1/agents', { auth: unknownToken() })).status, 401);
  } finally {
    await t.close();
  }
});

s('store reads that find nothing are budgeted per address; credentials this server holds still pass', async () => {
  const { t, counter, clock } = await startWith({ unknownKeyRateLimit: { perSecond: 1, burst: 3 } });
  try {
    const w = await makeWorld(t);
    assert.is((await t.call('GET', '/v1/agents', { auth: w.enterprise })).status, 200);
    const before = counter.reads;
    for (let i = 0; i < 3; i++) {
      assert.is((await t.call('GET', '/v1/agents', { auth: unknownToken() })).body.error.reason, 'unknown_key');
    }
    const refused = await t.call('GET', '/v1/agents', { auth: unknownToken() });
    assert.is(refused.status, 429, refused.text);
    assert.is(refused.body.error.details.limit, 'client_address');
    assert.is(counter.reads - before, 3, 'the refused key id was not read');
    // A credential this server holds is not held up by the misses of its address.
    assert.is((await t.call('GET', '/v1/agents', { auth: w.enterprise })).status, 200);
    // The exchange counts wrong secrets too.
    clock.advance(1_000);
    const wrong = { key_id: w.enterprise.key_id, secret: 'sk_wrong_wrong_wrong' };
    assert.is((await t.call('POST', '/v1/auth/token', { body: wrong })).status, 401);
    assert.is((await t.call('POST', '/v1/auth/token', { body: wrong })).status, 429);
  } finally {
    await t.close();
  }
});

s('behind a trusted proxy the forwarded address is limited, each client apart', async () => {
  const { t } = await startWith({
    addressRateLimit: { perSecond: 1, burst: 2 },
    trustedProxies: parseTrustedProxies(['127.0.0.0/8']),
  });
  try {
    const from = (ip: string) =>
      t.call('GET', '/v1/agents', { auth: unknownToken(), headers: { 'x-forwarded-for': `198.51.100.1, ${ip}` } });
    assert.is((await from('203.0.113.1')).status, 401);
    assert.is((await from('203.0.113.1')).status, 401);
    assert.is((await from('203.0.113.1')).status, 429);
    assert.is((await from('203.0.113.2')).status, 401);
  } finally {
    await t.close();
  }
});

s('verify-batch counts every token against the address; verify and the exchange are limited too', async () => {
  const { t } = await startWith({ addressRateLimit: { perSecond: 1, burst: 150 } });
  try {
    const w = await makeWorld(t);
    const { agentId } = await setupSpending(w);
    const issued = await t.call('POST', '/v1/tokens', {
      auth: w.enterprise,
      body: { agent_id: agentId, scope: ['a'], target_service: 'svc' },
    });
    const batch = Array(100).fill(issued.body.token);
    const first = await t.call('POST', '/v1/tokens/verify-batch', { body: { tokens: batch } });
    assert.is(first.status, 200);
    const second = await t.call('POST', '/v1/tokens/verify-batch', { body: { tokens: batch } });
    assert.is(second.status, 429);
    assert.is(second.body.error.details.limit, 'client_address');
    // What is left (fewer than 100 after setup) still serves single verifications, until it runs out.
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      statuses.push((await t.call('POST', '/v1/tokens/verify', { body: { token: issued.body.token } })).status);
    }
    assert.ok(statuses.includes(200));
    assert.is(statuses[statuses.length - 1], 429);
    const exchange = await t.call('POST', '/v1/auth/token', { body: { key_id: 'ek_x', secret: 'sk_y_y_y_y_y_y_y' } });
    assert.is(exchange.status, 429);
  } finally {
    await t.close();
  }
});

s.run();

const addresses = suite('client address');

addresses('the socket address unless it is a trusted proxy; IPv6 limited by /64', () => {
  const trusted = parseTrustedProxies(['10.0.0.0/8', '::1']);
  assert.is(clientAddress('::ffff:192.0.2.4', '203.0.113.5', []), '192.0.2.4');
  assert.is(clientAddress('192.0.2.4', '203.0.113.5', trusted), '192.0.2.4');
  assert.is(clientAddress('10.1.2.3', '203.0.113.5, 10.9.9.9', trusted), '203.0.113.5');
  assert.is(clientAddress('::1', '198.51.100.7, 203.0.113.5', trusted), '203.0.113.5');
  assert.is(clientAddress('10.1.2.3', 'garbage', trusted), '10.1.2.3');
  assert.is(clientAddress('10.1.2.3', undefined, trusted), '10.1.2.3');
  assert.is(addressLimitKey('2001:db8:1:2:3:4:5:6'), addressLimitKey('2001:db8:1:2:ffff::1'));
  assert.is.not(addressLimitKey('2001:db8:1:2::1'), addressLimitKey('2001:db8:1:3::1'));
  assert.throws(() => parseTrustedProxies(['10.0.0.0/99']));
  assert.throws(() => parseTrustedProxies(['proxy.example']));
});

addresses.run();

const status = suite('cached credential status');

status('a revocation by another server is seen after 30 s, or at once when the clock stepped back', async () => {
  const { t, storage, clock } = await startWith({});
  try {
    const w = await makeWorld(t);
    const revokeElsewhere = async (keyId: string) => {
      const row = await storage.getCredential(keyId);
      await storage.updateCredential(keyId, row?.version as number, {
        status: 'revoked',
        revoked_at: new Date(clock.now()).toISOString(),
      });
    };
    assert.is((await t.call('GET', '/v1/agents', { auth: w.enterprise })).status, 200);
    await revokeElsewhere(w.enterprise.key_id);
    assert.is((await t.call('GET', '/v1/agents', { auth: w.enterprise })).status, 200, 'cached within 30 s');
    clock.advance(30_000);
    assert.is((await t.call('GET', '/v1/agents', { auth: w.enterprise })).body.error.reason, 'token_revoked');

    const second = await t.call('POST', `/v1/orgs/${w.orgId}/credentials`, {
      auth: { key_id: 'op_test', secret: `sk_${'o'.repeat(40)}` },
      body: { name: 'second' },
    });
    assert.is((await t.call('GET', '/v1/agents', { auth: second.body })).status, 200);
    await revokeElsewhere(second.body.key_id);
    clock.advance(-60_000);
    assert.is((await t.call('GET', '/v1/agents', { auth: second.body })).body.error.reason, 'token_revoked');
  } finally {
    await t.close();
  }
});

status.run();
