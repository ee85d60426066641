import { createMemoryStores } from '../../adapters/memory/index.js';
import { runBridgeStorageCases } from '../support/bridge-storage-cases.js';

runBridgeStorageCases('memory', async () => {
  const { store, bridges } = createMemoryStores();
  return { storage: bridges, audit: store, cleanup: async () => {} };
});
