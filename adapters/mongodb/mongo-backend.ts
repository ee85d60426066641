import type { Collection, Db, Document, MongoClient } from 'mongodb';
import { type Collections, DRAFT_CARRIERS, openCollections } from './collections.js';
import { type ConnectionOptions, openConnection } from './connection.js';
import { BRIDGE_DRAFT_CARRIERS } from './mongo-bridge-storage.js';
import { CREDENTIAL_COLLECTION_NAMES } from './mongo-credential-storage.js';
import { DOMAIN_DRAFT_CARRIERS } from './mongo-domain-storage.js';
import { POLICY_ANALYSIS_DRAFT_CARRIERS } from './mongo-policy-analysis-storage.js';
import { POLICY_DRAFT_CARRIERS } from './mongo-policy-storage.js';
import { WEBHOOK_DRAFT_CARRIERS } from './mongo-webhook-storage.js';
import { runMapped } from './storage-errors.js';

/** Options of the MongoDB backend ({@link MongoAdapter}, `createMongoStores`). */
export interface MongoAdapterOptions extends ConnectionOptions {
  /** Tries of a conditional write that keeps losing races before `unavailable`. Default 100. */
  maxAttempts?: number;
  /** How long ended reservation ids are remembered, so a late replay changes nothing. Default 35 days. */
  reservationRetentionMs?: number;
}

const DEFAULT_MAX_ATTEMPTS = 100;
const DEFAULT_RETENTION_MS = 35 * 86_400_000;

/**
 * The collections whose documents can carry pending audit drafts (see audit-outbox.ts), store by store: the
 * engine's (entities, authorizations) and the credential, webhook, policy, policy-analysis, bridge and domain
 * storages'.
 * Each store writes drafts only into its own documents, through audit-outbox.ts; the audit storage reads
 * and acknowledges them in these collections, and the lifecycle creates their marker index.
 */
export const DRAFT_CARRIER_NAMES: readonly string[] = [
  ...DRAFT_CARRIERS,
  ...Object.values(CREDENTIAL_COLLECTION_NAMES),
  ...WEBHOOK_DRAFT_CARRIERS,
  ...POLICY_DRAFT_CARRIERS,
  ...POLICY_ANALYSIS_DRAFT_CARRIERS,
  ...BRIDGE_DRAFT_CARRIERS,
  ...DOMAIN_DRAFT_CARRIERS,
];

/**
 * What the engine's stores of one MongoDB database share: the connection, the collections, the settings
 * of conditional writes, and the closed state (after `close()` every call is `unavailable`). Driver errors
 * become StorageError in {@link MongoBackend.run}: duplicate key → `conflict`, unreachable or timed out →
 * `unavailable`, else `internal`.
 */
export class MongoBackend {
  readonly client: MongoClient;
  readonly ownsClient: boolean;
  readonly db: Db;
  readonly c: Collections;
  /** Every collection whose documents can carry drafts ({@link DRAFT_CARRIER_NAMES}). */
  readonly draftCarriers: Collection<Document>[];
  readonly maxAttempts: number;
  readonly retentionSeconds: number;
  private closed = false;

  constructor(options: MongoAdapterOptions = {}) {
    const connection = openConnection(options, 'MongoAdapter');
    this.client = connection.client;
    this.ownsClient = connection.ownsClient;
    this.db = connection.db;
    this.c = openCollections(this.db);
    this.maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.retentionSeconds = Math.ceil((options.reservationRetentionMs ?? DEFAULT_RETENTION_MS) / 1000);
    this.draftCarriers = DRAFT_CARRIER_NAMES.map((name) => this.db.collection(name));
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    return runMapped(this.closed, 'MongoDB adapter', fn);
  }

  /** Marks the backend closed and closes the client when the backend created it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close().catch(() => {});
  }
}
