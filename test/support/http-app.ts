import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import {
  createMemoryStores,
  type MemoryAdapter,
  type MemoryCredentialStorage,
  type MemoryPolicyStorage,
  type MemoryWebhookStorage,
} from '../../adapters/memory/index.js';
import type { SigningKey } from '../../src/crypto/index.js';
import { createEngine, type Engine, type EngineConfig } from '../../src/engine/index.js';
import {
  type AllowanceApp,
  type AppDeps,
  createApp,
  createAppServer,
  type GracefulServer,
  silentLogger,
} from '../../src/http/index.js';
import { PolicyRegistry } from '../../src/policy/index.js';
import type { StorageAdapter } from '../../src/storage/index.js';
import { defaultPolicy } from './engine-fixture.js';

/** The operator credential of every test app. */
export const OPERATOR = { keyId: 'op_test', secret: `sk_${'o'.repeat(40)}` };

/** A credential as the API returned it at creation. */
export interface TestCredential {
  key_id: string;
  secret: string;
}

/** A JSON response. */
export interface TestResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  body: any;
  text: string;
}

/** A client-signed HS256 token, as a customer's code would make it with jsonwebtoken. */
export function clientToken(
  cred: TestCredential,
  claims: Record<string, unknown> = {},
  options: jwt.SignOptions = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ key_id: cred.key_id, iat: now, exp: now + 300, ...claims }, cred.secret, {
    algorithm: 'HS256',
    ...options,
  });
}

/** The real app on an ephemeral port, with fetch helpers. */
export interface TestApp {
  url: string;
  app: AllowanceApp;
  server: Server;
  /** The server's graceful drain, as a SIGTERM runs it. */
  graceful: GracefulServer;
  /** The memory store, unless startTestApp got another one. */
  store: MemoryAdapter;
  credentials: MemoryCredentialStorage;
  /** The memory webhook storage sharing the store's outbox; the app uses it only with `memoryWebhooks`. */
  webhooks: MemoryWebhookStorage;
  /** The memory policy storage the app's policy routes and registry use. */
  policies: MemoryPolicyStorage;
  /** The registry the engine resolves policies with (`refresh()` applies store changes now). */
  registry: PolicyRegistry;
  /** The app's engine (e.g. `policyAnalysis.flushShadow()` to await the shadow recorder). */
  engine: Engine;
  /** Sends a request; `token` may be a credential (a fresh client token is signed) or a raw bearer string. */
  call(
    method: string,
    path: string,
    options?: {
      auth?: TestCredential | string | null;
      body?: unknown;
      raw?: string | Uint8Array;
      headers?: Record<string, string>;
    },
  ): Promise<TestResponse>;
  close(): Promise<void>;
}

/**
 * Starts an app on 127.0.0.1:0 over fresh memory stores. With `memoryWebhooks` the app's webhook storage is
 * the memory one built with the store (`TestApp.webhooks`), so webhook events land in its trail.
 */
export async function startTestApp(
  overrides: Partial<AppDeps> & {
    memoryWebhooks?: boolean;
    /** The memory bridge storage built with the store (`TestApp.bridges`), so bridge events land in its trail. */
    memoryBridges?: boolean;
    engineConfig?: Partial<EngineConfig>;
    signingKeys?: SigningKey[];
    policyCheckTimeoutMs?: number;
  } = {},
  engineStore?: StorageAdapter,
): Promise<TestApp> {
  // One outbox for every store, as a server has: credential and webhook events land in the engine store's trail.
  const { store, credentials, webhooks, policies, policyAnalysis, bridges, quotas, domains } = createMemoryStores();
  const { memoryWebhooks, memoryBridges, engineConfig, signingKeys, policyCheckTimeoutMs, ...deps } = overrides;
  const registry = new PolicyRegistry({ storage: policies, base: await defaultPolicy() });
  const engine = createEngine({
    store: engineStore ?? store,
    policy: registry,
    ...(engineStore ? {} : { analysis: { storage: policyAnalysis } }),
    ...(engineConfig ? { config: engineConfig } : {}),
    ...(signingKeys ? { keys: signingKeys } : {}),
    quotas,
  });
  await engine.init();
  const app = createApp({
    engine,
    credentials,
    masterKey: randomBytes(32),
    operator: OPERATOR,
    rateLimit: { perSecond: 10_000, burst: 10_000 },
    addressRateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
    unknownKeyRateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
    ...(memoryWebhooks ? { webhooks } : {}),
    ...(memoryBridges ? { bridges } : {}),
    domains,
    policies: {
      storage: policies,
      registry,
      ...(policyCheckTimeoutMs !== undefined ? { checkTimeoutMs: policyCheckTimeoutMs } : {}),
    },
    ...deps,
  });
  await app.start();
  const { server, graceful } = createAppServer(app, silentLogger);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    app,
    server,
    graceful,
    store,
    credentials,
    webhooks,
    policies,
    registry,
    engine,
    call: httpCall(url),
    async close() {
      await app.stop();
      await engine.audit.chainer.stop();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** An app with an org, a processor and a credential of each, made through the API. */
export interface World {
  t: TestApp;
  orgId: string;
  processorId: string;
  enterprise: TestCredential;
  processor: TestCredential;
}

/** Sets up an org, a processor and their credentials with the operator credential. */
export async function makeWorld(t: TestApp, name = 'Acme'): Promise<World> {
  const org = await t.call('POST', '/v1/orgs', { auth: OPERATOR_CRED, body: { name } });
  const processor = await t.call('POST', '/v1/processors', { auth: OPERATOR_CRED, body: { name: `${name} Pay` } });
  const ent = await t.call('POST', `/v1/orgs/${org.body.id}/credentials`, {
    auth: OPERATOR_CRED,
    body: { name: 'ci' },
  });
  const prc = await t.call('POST', `/v1/processors/${processor.body.id}/credentials`, { auth: OPERATOR_CRED });
  if (org.status !== 201 || ent.status !== 201 || prc.status !== 201) {
    throw new Error(`world setup failed: ${org.text} ${ent.text} ${prc.text}`);
  }
  return { t, orgId: org.body.id, processorId: processor.body.id, enterprise: ent.body, processor: prc.body };
}

/** The operator credential in the shape `call` takes. */
export const OPERATOR_CRED: TestCredential = { key_id: OPERATOR.keyId, secret: OPERATOR.secret };

/** An agent, authority and binding of the world's org, bound to its processor; returns ids and the reference. */
export async function setupSpending(
  w: World,
  limits: Record<string, unknown> = { per_transaction: 50_000, daily: 100_000 },
): Promise<{ agentId: string; authorityId: string; bindingId: string; reference: string }> {
  const { t, enterprise } = w;
  const agent = await t.call('POST', '/v1/agents', { auth: enterprise, body: { name: 'buyer' } });
  const authority = await t.call('POST', '/v1/authorities', {
    auth: enterprise,
    body: { agent_id: agent.body.id, currency: 'USD', limits },
  });
  const reference = `tok_${randomBytes(6).toString('hex')}`;
  const binding = await t.call('POST', '/v1/bindings', {
    auth: enterprise,
    body: {
      agent_id: agent.body.id,
      authority_id: authority.body.id,
      processor_id: w.processorId,
      credential: { type: 'network_token', reference, last4: '4242' },
    },
  });
  if (binding.status !== 201) throw new Error(`spending setup failed: ${agent.text} ${authority.text} ${binding.text}`);
  return { agentId: agent.body.id, authorityId: authority.body.id, bindingId: binding.body.id, reference };
}

/** A valid authorize body for `reference`. */
export function authorizeBody(reference: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    authorization_id: `pa_${randomBytes(8).toString('hex')}`,
    credential_reference: reference,
    amount: 1850,
    currency: 'USD',
    merchant: { id: 'mer_3c7a1b9f', name: 'Example Store', mcc: '5734', country: 'US' },
    channel: 'online',
    ...overrides,
  };
}

/** The `call` of a test app listening at `url`: signs the client token, sends JSON, parses the answer. */
export function httpCall(url: string): TestApp['call'] {
  return async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.auth) {
      headers.authorization =
        typeof options.auth === 'string' ? `Bearer ${options.auth}` : `Bearer ${clientToken(options.auth)}`;
    }
    let body: string | Uint8Array | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };
}
