import { MemoryWebhookStorage } from '../../adapters/memory/index.js';
import { runWebhookStorageCases } from '../support/webhook-storage-cases.js';

runWebhookStorageCases('memory', async () => ({ storage: new MemoryWebhookStorage(), cleanup: async () => {} }));
