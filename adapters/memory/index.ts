export { MemoryAdapter } from './memory-adapter.js';
export { MemoryCredentialStorage } from './memory-credential-storage.js';
