import type { MongoClient } from 'mongodb';
import { ComposedStorageBase, type StorageParts } from '../../src/storage/index.js';
import { MongoAuditStorage } from './mongo-audit-storage.js';
import { MongoAuthorizationStorage } from './mongo-authorization-storage.js';
import { type MongoAdapterOptions, MongoBackend } from './mongo-backend.js';
import { MongoEntityStorage } from './mongo-entity-storage.js';
import { MongoLifecycle } from './mongo-lifecycle.js';
import { MongoUsageLedger } from './mongo-usage-ledger.js';

export type { MongoAdapterOptions } from './mongo-backend.js';

/** The engine's stores of one MongoDB database, one per contract, on one {@link MongoBackend}. */
export function mongoParts(backend: MongoBackend): StorageParts {
  return {
    entities: new MongoEntityStorage(backend),
    authorizations: new MongoAuthorizationStorage(backend),
    usage: new MongoUsageLedger(backend),
    audit: new MongoAuditStorage(backend),
    lifecycle: new MongoLifecycle(backend),
  };
}

/**
 * The MongoDB storage adapter, on the official driver: the engine's {@link StorageParts} on one connection
 * (entities, authorizations, usage ledger, audit, lifecycle; each in its own file). Every guarantee of the
 * contract holds across any number of servers sharing the database, using only single-document atomic
 * writes (no transactions): unique `_id`s and a sparse unique index for insert-if-absent, conditional
 * `updateOne`/`findOneAndUpdate` for versioned updates, intent consumption and usage holds. A write's audit
 * drafts are embedded in the document it writes, in the same write (audit-outbox.ts); the audit storage
 * lists them from every store's carrier collections with `audit_outbox`. `init()` creates the indexes.
 */
export class MongoAdapter extends ComposedStorageBase {
  private readonly backend: MongoBackend;

  constructor(options: MongoAdapterOptions = {}) {
    const backend = new MongoBackend(options);
    super(mongoParts(backend));
    this.backend = backend;
  }

  /** The database the adapter works in. */
  get databaseName(): string {
    return this.backend.db.databaseName;
  }

  /** The client the adapter talks through (closed by `close()` when the adapter created it). */
  get mongoClient(): MongoClient {
    return this.backend.client;
  }
}
