#!/usr/bin/env node
// Starts the Allowance HTTP server. Configuration comes from the environment (see src/config/config.ts).
// Usage: node build/src/cli/server.js
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, mongoClientOptions, type ServerConfig } from '../config/index.js';
import { createJsonLogger } from '../http/logger.js';
import { type StoreSet, startServer } from '../http/start-server.js';
import type { CredentialStorage, StorageAdapter } from '../storage/index.js';

interface MongoOptions {
  uri: string;
  clientOptions: Record<string, number>;
}

interface MongoModule {
  /** Both stores on one connection. */
  createMongoStores?: (options: MongoOptions) => StoreSet | Promise<StoreSet>;
  createMongoAdapter?: (options: MongoOptions) => StorageAdapter | Promise<StorageAdapter>;
  createMongoCredentialStorage?: (options: MongoOptions) => CredentialStorage | Promise<CredentialStorage>;
}

async function stores(config: ServerConfig): Promise<StoreSet> {
  if (config.mongodbUri === null) {
    const memory = await import(new URL('../../adapters/memory/index.js', import.meta.url).href);
    // One outbox for both stores, so credential and token events land in the org's audit trail.
    return memory.createMemoryStores();
  }
  const entry = new URL('../../adapters/mongodb/index.js', import.meta.url);
  const mod: MongoModule = existsSync(fileURLToPath(entry)) ? await import(entry.href) : {};
  // Every store call of an authorize runs inside its deadline, the driver's own timeouts included.
  const options: MongoOptions = {
    uri: config.mongodbUri,
    clientOptions: mongoClientOptions(config.authorizeDeadlineMs),
  };
  if (typeof mod.createMongoStores === 'function') return await mod.createMongoStores(options);
  if (typeof mod.createMongoAdapter !== 'function' || typeof mod.createMongoCredentialStorage !== 'function') {
    throw new ConfigError(
      'MONGODB_URI is set, but this build has no MongoDB storage for both the engine and the API credentials ' +
        '(adapters/mongodb must export createMongoAdapter and createMongoCredentialStorage). ' +
        'Unset MONGODB_URI to run on the in-memory store.',
    );
  }
  return {
    store: await mod.createMongoAdapter(options),
    credentials: await mod.createMongoCredentialStorage(options),
  };
}

let config: ServerConfig;
try {
  config = loadConfig();
} catch (err) {
  console.error(`allowance: ${(err as Error).message}`);
  process.exit(78);
}
const logger = createJsonLogger(config.logLevel);
try {
  const running = await startServer(config, { stores, logger });
  const stop = (signal: string) => {
    logger.info('shutting_down', { signal });
    running.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown_failed', { error: String(err) });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
} catch (err) {
  if (err instanceof ConfigError) logger.error('config_invalid', { message: err.message });
  else logger.error('start_failed', { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
}
