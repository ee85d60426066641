import { runAdapterConformance } from '../../adapters/conformance/index.js';
import { MemoryAdapter, MemoryCredentialStorage } from '../../adapters/memory/index.js';

runAdapterConformance('memory', async () => {
  const adapter = new MemoryAdapter();
  return {
    adapter,
    credentials: new MemoryCredentialStorage(),
    inspect: {
      usage: async (orgId, authorityId) => adapter.inspectUsage(orgId, authorityId),
      authorization: async (processorId, id) => adapter.inspectAuthorization(processorId, id),
      raw: async (kind, id) => adapter.inspectEntity(kind, id),
    },
  };
});
