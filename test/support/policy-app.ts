import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMemoryStores } from '../../adapters/memory/index.js';
import { createMongoStores } from '../../adapters/mongodb/index.js';
import type { AuditEvent } from '../../src/audit/types.js';
import { createEngine, type Engine } from '../../src/engine/index.js';
import { type AllowanceApp, createApp } from '../../src/http/index.js';
import { PolicyRegistry } from '../../src/policy/index.js';
import { type Clock, systemClock } from '../../src/util/clock.js';
import { defaultPolicy } from './engine-fixture.js';
import { httpCall, OPERATOR, type TestApp } from './http-app.js';
import { freshDbName, testMongoServer } from './mongo-target.js';

/** The real app with the policy lifecycle and policy analysis, listening on a loopback port. */
export interface PolicyApp {
  url: string;
  engine: Engine;
  registry: PolicyRegistry;
  call: TestApp['call'];
  /** The org's audit trail, once everything written so far is linked. */
  trail(orgId: string): Promise<AuditEvent[]>;
  close(): Promise<void>;
}

/** The real app (policy registry, lifecycle routes, policy analysis) on memory or MongoDB stores; the engine on `clock`. */
export async function startPolicyApp(kind: 'memory' | 'mongodb', clock: Clock = systemClock): Promise<PolicyApp> {
  const stores =
    kind === 'memory'
      ? createMemoryStores()
      : createMongoStores({ uri: (await testMongoServer()).uri, dbName: freshDbName() });
  const registry = new PolicyRegistry({ storage: stores.policies, base: await defaultPolicy() });
  const engine = createEngine({
    store: stores.store,
    policy: registry,
    clock,
    analysis: { storage: stores.policyAnalysis },
  });
  await engine.init();
  await stores.credentials.init();
  await stores.policies.init();
  await stores.policyAnalysis.init();
  await registry.refresh();
  const app: AllowanceApp = createApp({
    engine,
    credentials: stores.credentials,
    policies: { storage: stores.policies, registry },
    masterKey: randomBytes(32),
    operator: OPERATOR,
    rateLimit: { perSecond: 10_000, burst: 10_000 },
  });
  await app.start();
  const server: Server = createServer(app.callback());
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    engine,
    registry,
    async trail(orgId) {
      await engine.audit.chainer.drain();
      return stores.store.listAuditEvents(orgId, { limit: 10_000 });
    },
    call: httpCall(url),
    async close() {
      await app.stop();
      await engine.close();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await stores.policyAnalysis.close();
      await stores.policies.close();
      await stores.credentials.close();
    },
  };
}
