/**
 * Starts the API on 127.0.0.1 (memory store, default policy) for fuzzing it from its own OpenAPI document,
 * seeds an org with an agent, authority and binding, and prints one JSON line with the base URL, the ids
 * and ready-to-use bearer tokens (client-signed HS256, one hour). Runs until SIGINT or SIGTERM.
 *
 * Usage: node build/test/support/fuzz-server.js [port]
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMemoryStores } from '../../adapters/memory/index.js';
import { createEngine } from '../../src/engine/index.js';
import { createApp } from '../../src/http/index.js';
import { MAX_CLIENT_TOKEN_LIFETIME } from '../../src/http/middleware/authenticate.js';
import { defaultPolicy } from './engine-fixture.js';
import { clientToken, OPERATOR, OPERATOR_CRED } from './http-app.js';

async function main(): Promise<void> {
  const port = Number(process.argv[2] ?? 0);
  const { store, credentials, webhooks } = createMemoryStores();
  const engine = createEngine({ store, policy: await defaultPolicy() });
  await engine.init();
  const app = createApp({
    engine,
    credentials,
    webhooks,
    masterKey: randomBytes(32),
    operator: OPERATOR,
    // Fuzzing sends many requests per credential; rate limiting is not what is under test.
    rateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
  });
  await app.start();
  const server = createServer(app.callback());
  await new Promise<void>((ok) => server.listen(port, '127.0.0.1', () => ok()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const now = Math.floor(Date.now() / 1000);
  const longLived = { iat: now, exp: now + MAX_CLIENT_TOKEN_LIFETIME };
  const call = async (path: string, token: string, body: unknown) => {
    const res = await fetch(url + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown> & { id: string };
    if (res.status !== 201) throw new Error(`seeding ${path} failed with ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };

  const operator = clientToken(OPERATOR_CRED, longLived);
  const org = await call('/v1/orgs', operator, { name: 'Fuzz Org' });
  const processor = await call('/v1/processors', operator, { name: 'Fuzz Pay' });
  const entCred = await call(`/v1/orgs/${org.id}/credentials`, operator, { name: 'fuzz' });
  const prcCred = await call(`/v1/processors/${processor.id}/credentials`, operator, { name: 'fuzz' });
  const enterprise = clientToken(entCred as never, longLived);
  const processorToken = clientToken(prcCred as never, longLived);
  const agent = await call('/v1/agents', enterprise, { name: 'buyer' });
  const authority = await call('/v1/authorities', enterprise, {
    agent_id: agent.id,
    currency: 'USD',
    limits: { per_transaction: 50_000, daily: 100_000 },
  });
  const reference = `tok_${randomBytes(6).toString('hex')}`;
  const binding = await call('/v1/bindings', enterprise, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'network_token', reference, last4: '4242' },
  });

  process.stdout.write(
    `${JSON.stringify({
      url,
      port: (server.address() as AddressInfo).port,
      org_id: org.id,
      processor_id: processor.id,
      agent_id: agent.id,
      authority_id: authority.id,
      binding_id: binding.id,
      credential_reference: reference,
      tokens: { enterprise, processor: processorToken, operator },
    })}\n`,
  );

  const stop = () => {
    void app.stop();
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
