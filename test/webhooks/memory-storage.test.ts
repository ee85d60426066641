import { createMemoryStores } from '../../adapters/memory/index.js';
import { runWebhookStorageCases } from '../support/webhook-storage-cases.js';

runWebhookStorageCases('memory', async () => {
  const { store, webhooks } = createMemoryStores();
  return { storage: webhooks, audit: store, cleanup: async () => {} };
});
