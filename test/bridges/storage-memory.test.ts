import { MemoryBridgeStorage } from '../../adapters/memory/index.js';
import { runBridgeStorageCases } from '../support/bridge-storage-cases.js';

runBridgeStorageCases('memory', async () => ({ storage: new MemoryBridgeStorage(), cleanup: async () => {} }));
