import type { Collection, Db, Document, IndexDescription, MongoClient } from 'mongodb';
import type { AuditDraft } from '../../src/audit/types.js';
import type {
  ApiCredential,
  CredentialStorage,
  IssuedToken,
  ListQuery,
  Page,
  TimedCredential,
  TokenRevocation,
} from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import { AUDIT_PENDING_INDEX, embedDrafts, PENDING_DRAFT_GRACE_MS, pushDrafts } from './audit-outbox.js';
import { type ConnectionOptions, openConnection } from './connection.js';
import { isDuplicateKey, runMapped } from './storage-errors.js';
import { toDomain, toStored } from './stored-document.js';

/** Options of {@link MongoCredentialStorage}. */
export interface MongoCredentialStorageOptions extends ConnectionOptions {
  /** The clock that decides which revocations are past their `exp`. Default `Date.now`. */
  now?: () => number;
}

/** The field a credential read adds for the server's clock; never stored (`%` cannot start a stored field name). */
const STORE_NOW = '%store_now';

/** Names of the collections of the credential storage, next to the adapter's in the same database. */
export const CREDENTIAL_COLLECTION_NAMES = {
  credentials: 'api_credentials',
  revokedTokens: 'revoked_tokens',
  issuedTokens: 'issued_tokens',
} as const;

/** The collection of the revocation counter (one document, never deleted): the last seq handed out. */
export const REVOCATION_COUNTER_COLLECTION = 'revocation_counter';

/**
 * The indexes `init()` creates (all idempotent). A credential's `_id` is its key id and a revocation's
 * `_id` is its identity (`jti NUL <jti>` for one token, `agent NUL <org> NUL <agent> NUL <revoked_at>` for
 * every token of an agent), so both are unique by construction and a repeated revocation is one document.
 * - api_credentials (owner_id, key_id desc): an owner's newest-first list.
 * - revoked_tokens (revoked_at, exp): the refresh read, "recorded since, still ahead of exp", oldest first.
 * - revoked_tokens.expires_at: a TTL index on `exp` as a date, so revocations are dropped once no token
 *   they cover can verify (a revocation written with audit drafts is kept at least PENDING_DRAFT_GRACE_MS,
 *   so its drafts outlive it until the chainer has read them).
 * - audit_pending on both: sparse, on the marker of documents with pending audit drafts (see
 *   audit-outbox.ts); the MongoAdapter's `listAuditOutbox` reads them through it.
 */
export function credentialIndexPlan(): [keyof typeof CREDENTIAL_COLLECTION_NAMES, IndexDescription[]][] {
  return [
    ['credentials', [{ key: { owner_id: 1, key_id: -1 }, name: 'owner_id_key_id' }, AUDIT_PENDING_INDEX]],
    [
      'revokedTokens',
      [
        { key: { seq: 1 }, name: 'seq_unique', unique: true, sparse: true },
        { key: { expires_at: 1 }, name: 'expires_at_ttl', expireAfterSeconds: 0 },
        AUDIT_PENDING_INDEX,
      ],
    ],
    ['issuedTokens', [{ key: { expires_at: 1 }, name: 'expires_at_ttl', expireAfterSeconds: 0 }, AUDIT_PENDING_INDEX]],
  ];
}

/** Draws of a revocation seq before giving up when each one is found taken. */
const MAX_SEQ_ATTEMPTS = 10;

/** Fields the storage adds to revocation documents besides the common ones; never part of a TokenRevocation. */
const REVOCATION_INTERNAL = ['expires_at'] as const;

function revocationKey(r: TokenRevocation): string {
  return r.jti !== null
    ? `jti\u0000${r.org_id}\u0000${r.jti}`
    : `agent\u0000${r.org_id}\u0000${r.agent_id}\u0000${r.revoked_at}`;
}

/**
 * A stored revocation or issued token with its TTL date; `nowMs` is the real time, the clock of the TTL
 * monitor that `expires_at` is for.
 */
function expiringDoc(
  value: TokenRevocation | IssuedToken,
  id: string,
  events: readonly AuditDraft[] | undefined,
  nowMs: number,
): Document {
  const doc = toStored(value) as Document;
  doc._id = id;
  let expires = new Date(value.exp);
  if (events && events.length > 0 && !(expires.getTime() >= nowMs + PENDING_DRAFT_GRACE_MS)) {
    expires = new Date(nowMs + PENDING_DRAFT_GRACE_MS);
  }
  if (!Number.isNaN(expires.getTime())) doc.expires_at = expires;
  return embedDrafts(doc, events);
}

function toIssuedToken(doc: Document): IssuedToken {
  const out = toDomain<Record<string, unknown>>(doc);
  for (const f of REVOCATION_INTERNAL) delete out[f];
  return out as unknown as IssuedToken;
}

function toRevocation(doc: Document): TokenRevocation {
  const out = toDomain<Record<string, unknown>>(doc);
  for (const f of REVOCATION_INTERNAL) delete out[f];
  return out as unknown as TokenRevocation;
}

/**
 * {@link CredentialStorage} on MongoDB, in the same database as the MongoAdapter (see
 * {@link createMongoStores} to share its connection). Single-document writes only: inserts keyed by `_id`
 * for unique key ids, a `findOneAndUpdate` filtered on `version` for compare-and-set. Audit drafts of a
 * write are embedded in the document it writes, in the same write (see audit-outbox.ts); the MongoAdapter
 * of the same database lists and acknowledges them. Driver errors become StorageError the way the adapter
 * maps them; after `close()` every call is `unavailable`.
 */
export class MongoCredentialStorage implements CredentialStorage {
  private readonly client: MongoClient;
  private readonly ownsClient: boolean;
  private readonly db: Db;
  private readonly credentials: Collection<Document>;
  private readonly revokedTokens: Collection<Document>;
  private readonly issuedTokens: Collection<Document>;
  private readonly revocationCounter: Collection<Document>;
  private readonly now: () => number;
  private closed = false;

  constructor(options: MongoCredentialStorageOptions = {}) {
    const connection = openConnection(options, 'MongoCredentialStorage');
    this.client = connection.client;
    this.ownsClient = connection.ownsClient;
    this.db = connection.db;
    this.credentials = this.db.collection(CREDENTIAL_COLLECTION_NAMES.credentials);
    this.revokedTokens = this.db.collection(CREDENTIAL_COLLECTION_NAMES.revokedTokens);
    this.issuedTokens = this.db.collection(CREDENTIAL_COLLECTION_NAMES.issuedTokens);
    this.revocationCounter = this.db.collection(REVOCATION_COUNTER_COLLECTION);
    this.now = options.now ?? Date.now;
  }

  /** The database the storage works in. */
  get databaseName(): string {
    return this.db.databaseName;
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    return runMapped(this.closed, 'MongoDB credential storage', fn);
  }

  init(): Promise<void> {
    return this.run(async () => {
      for (const [name, indexes] of credentialIndexPlan()) {
        await this.db.collection(CREDENTIAL_COLLECTION_NAMES[name]).createIndexes(indexes);
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close().catch(() => {});
  }

  insertCredential(credential: ApiCredential, events?: readonly AuditDraft[]): Promise<void> {
    return this.run(async () => {
      try {
        await this.credentials.insertOne(
          embedDrafts({ ...(toStored(credential) as Document), _id: credential.key_id }, events),
        );
      } catch (err) {
        if (isDuplicateKey(err)) {
          throw new StorageError('conflict', `duplicate key id ${credential.key_id}`, { cause: err });
        }
        throw err;
      }
    });
  }

  getCredential(keyId: string): Promise<ApiCredential | null> {
    return this.run(async () => {
      const doc = await this.credentials.findOne({ _id: keyId } as Document);
      return doc ? toDomain<ApiCredential>(doc) : null;
    });
  }

  /** One aggregation: the document and the server's `$$NOW`, so the time is MongoDB's, not this process's. */
  readCredential(keyId: string): Promise<TimedCredential | null> {
    return this.run(async () => {
      const [doc] = await this.credentials
        .aggregate([{ $match: { _id: keyId } }, { $limit: 1 }, { $addFields: { [STORE_NOW]: '$$NOW' } }])
        .toArray();
      if (!doc) return null;
      const { [STORE_NOW]: now, ...rest } = doc;
      if (!(now instanceof Date)) throw new StorageError('internal', 'the server returned no $$NOW');
      return { credential: toDomain<ApiCredential>(rest), storeTimeMs: now.getTime() };
    });
  }

  listCredentials(ownerId: string, query: ListQuery): Promise<Page<ApiCredential>> {
    return this.run(async () => {
      const filter: Document = { owner_id: ownerId };
      if (query.status !== undefined) filter.status = query.status;
      if (query.cursor !== undefined) filter.key_id = { $lt: query.cursor };
      const docs = await this.credentials
        .find(filter)
        .sort({ owner_id: 1, key_id: -1 })
        .limit(query.limit + 1)
        .toArray();
      const items = docs.slice(0, query.limit).map((d) => toDomain<ApiCredential>(d));
      const last = items[items.length - 1];
      return { items, next_cursor: docs.length > query.limit && last ? last.key_id : null };
    });
  }

  /** One `findOneAndUpdate` filtered on the version; the key id and the version are never patched. */
  updateCredential(
    keyId: string,
    expectVersion: number,
    patch: Partial<ApiCredential>,
    events?: readonly AuditDraft[],
  ): Promise<ApiCredential | null> {
    return this.run(async () => {
      const { key_id: _k, version: _v, ...rest } = patch;
      const set = toStored(rest) as Document;
      const update: Document = { $inc: { version: 1 } };
      if (Object.keys(set).length > 0) update.$set = set;
      pushDrafts(update, events);
      const doc = await this.credentials.findOneAndUpdate({ _id: keyId, version: expectVersion } as Document, update, {
        returnDocument: 'after',
      });
      if (doc) return toDomain<ApiCredential>(doc);
      const exists = await this.credentials.findOne({ _id: keyId } as Document, { projection: { _id: 1 } });
      if (exists) throw new StorageError('conflict', `version of ${keyId} moved`);
      return null;
    });
  }

  /** Insert-if-absent by `_id` (org NUL jti); a repeat stores none of its drafts (the insert fails). */
  insertIssuedToken(token: IssuedToken, events?: readonly AuditDraft[]): Promise<void> {
    return this.run(async () => {
      try {
        await this.issuedTokens.insertOne(expiringDoc(token, `${token.org_id}\u0000${token.jti}`, events, Date.now()));
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    });
  }

  getIssuedToken(orgId: string, jti: string): Promise<IssuedToken | null> {
    return this.run(async () => {
      const doc = await this.issuedTokens.findOne({
        _id: `${orgId}\u0000${jti}`,
        exp: { $gt: new Date(this.now()).toISOString() },
      } as Document);
      return doc ? toIssuedToken(doc) : null;
    });
  }

  /**
   * Insert-if-absent by the revocation's identity, numbered from the counter document (`$inc`): recording
   * one again leaves the first and stores none of its drafts. A duplicate key on insert is told apart: the
   * identity taken means recorded already; otherwise the seq was taken (a counter that handed a number out
   * twice), and a fresh one is drawn. A repeat that races past the existence check, or a write that fails
   * after taking its number, leaves that seq unused (readers wait for such a gap for a while, then skip it).
   */
  insertRevokedToken(revocation: TokenRevocation, events?: readonly AuditDraft[]): Promise<void> {
    return this.run(async () => {
      const { seq: _ignored, ...value } = revocation;
      const id = revocationKey(value);
      const recorded = async () =>
        (await this.revokedTokens.findOne({ _id: id } as Document, { projection: { _id: 1 } })) !== null;
      if (await recorded()) return;
      for (let attempt = 1; ; attempt++) {
        const seq = (await this.nextRevocationSeq())?.seq;
        if (typeof seq !== 'number') throw new StorageError('internal', 'the revocation counter returned no seq');
        try {
          await this.revokedTokens.insertOne({ ...expiringDoc(value, id, events, Date.now()), seq });
          return;
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          if (await recorded()) return;
          if (attempt >= MAX_SEQ_ATTEMPTS) {
            throw new StorageError('internal', `revocation seq ${seq} taken ${attempt} times in a row`, { cause: err });
          }
        }
      }
    });
  }

  /**
   * `$inc` of the counter document, created by the first revocation. Two first revocations at once may both
   * try to insert it: the one that loses gets a duplicate key and increments the document the other made.
   */
  private async nextRevocationSeq(): Promise<Document | null> {
    const inc = () =>
      this.revocationCounter.findOneAndUpdate(
        { _id: 'revocations' } as Document,
        { $inc: { seq: 1 } },
        { upsert: true, returnDocument: 'after' },
      );
    try {
      return await inc();
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      return inc();
    }
  }

  listRevokedTokens(afterSeq: number): Promise<TokenRevocation[]> {
    return this.run(async () => {
      const nowIso = new Date(this.now()).toISOString();
      const docs = await this.revokedTokens
        .find({ seq: { $gt: afterSeq }, exp: { $gt: nowIso } })
        .sort({ seq: 1 })
        .toArray();
      return docs.map(toRevocation);
    });
  }
}

/** Builds a {@link MongoCredentialStorage} with its own connection; call `init()` before use. */
export function createMongoCredentialStorage(options: MongoCredentialStorageOptions = {}): MongoCredentialStorage {
  return new MongoCredentialStorage(options);
}
