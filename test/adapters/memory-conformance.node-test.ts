// The memory adapter's conformance suite under node:test (run by runner-independence.test.ts with
// `node --test`): the suite takes the runner's test function and needs nothing of uvu.
// CONFORMANCE_BROKEN=1 runs it against an adapter that loses every org, which must fail.
import { test } from 'node:test';
import { runAdapterConformance } from '../../adapters/conformance/index.js';
import { createMemoryStores } from '../../adapters/memory/index.js';
import type { StorageAdapter } from '../../src/storage/index.js';

const broken = process.env.CONFORMANCE_BROKEN === '1';

function losingOrgs(inner: StorageAdapter): StorageAdapter {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'getOrg') return async () => null;
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

runAdapterConformance(test, broken ? 'memory-broken' : 'memory', async () => {
  const { store: adapter, credentials, policies, policyAnalysis, quotas, domains } = createMemoryStores();
  return {
    adapter: broken ? losingOrgs(adapter) : adapter,
    credentials,
    policies,
    policyAnalysis,
    quotas,
    domains,
    inspect: {
      usage: async (orgId, authorityId) => adapter.inspectUsage(orgId, authorityId),
      authorization: async (processorId, id) => adapter.inspectAuthorization(processorId, id),
      raw: async (kind, id) => adapter.inspectEntity(kind, id),
      auditOutbox: async () => adapter.inspectAuditOutbox(),
      auditEvents: async (orgId) => adapter.inspectAuditChain(orgId),
    },
  };
});
