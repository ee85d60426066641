import type { Document } from 'mongodb';
import type { AuditDraft } from '../../src/audit/types.js';
import type {
  AuthorizationExpectation,
  AuthorizationStorage,
  ClaimResult,
  ListQuery,
  Page,
} from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import type { AuthorizationRecord } from '../../src/types.js';
import { embedDrafts, pushDrafts } from './audit-outbox.js';
import type { MongoBackend } from './mongo-backend.js';
import { type Attempt, withRetries } from './retry.js';
import { isDuplicateKey } from './storage-errors.js';
import { toDomain, toStored, withoutUndefined } from './stored-document.js';

function authKey(processorId: string, authorizationId: string): string {
  return `${processorId}\u0000${authorizationId}`;
}

function listKey(createdAt: string, processorId: string, authorizationId: string): string {
  return `${createdAt}\u0000${authorizationId}\u0000${processorId}`;
}

function authorizationDoc(record: AuthorizationRecord): Document {
  const doc = toStored(record) as Document;
  doc._id = authKey(record.processor_id, record.authorization_id);
  doc.list_key = listKey(record.created_at, record.processor_id, record.authorization_id);
  if (record.approval) doc.approval_list_key = approvalListKey(record.org_id, doc.list_key);
  return doc;
}

/**
 * `org_id NUL list_key`, only on records that carry an approval (a sparse index): an org's approvals in
 * list order without visiting its other authorizations.
 */
function approvalListKey(orgId: string | null, key: string): string {
  return `${orgId ?? ''}\u0000${key}`;
}

/**
 * {@link AuthorizationStorage} on MongoDB: `authorizations`, `_id` = processor NUL authorization id, so the
 * claim is an insert; updates are one `findOneAndUpdate` filtered on the version. A write's audit drafts
 * go into the record's document in the same write (audit-outbox.ts).
 */
export class MongoAuthorizationStorage implements AuthorizationStorage {
  constructor(private readonly b: MongoBackend) {}

  // Authorizations: `_id` = processor NUL authorization id, so the claim is an insert.

  /**
   * One `findOneAndUpdate` upserting with `$setOnInsert` and returning the document as it was before: null
   * when this call inserted it, else the record that was there (a lost claim is one command).
   */
  claimAuthorization(record: AuthorizationRecord, events?: readonly AuditDraft[]): Promise<ClaimResult> {
    return this.b.run(() =>
      withRetries(this.b.maxAttempts, 'claimAuthorization', async (): Promise<Attempt<ClaimResult>> => {
        const { _id, ...fields } = embedDrafts(authorizationDoc(record), events);
        let before: Document | null;
        try {
          before = await this.b.c.authorizations.findOneAndUpdate(
            { _id } as Document,
            { $setOnInsert: fields },
            { upsert: true, returnDocument: 'before' },
          );
        } catch (err) {
          // Two claims of one id upserting at once: the loser reads the winner's record on the next try.
          if (isDuplicateKey(err)) return 'retry';
          throw err;
        }
        return before
          ? { done: { created: false, existing: toDomain<AuthorizationRecord>(before) } }
          : { done: { created: true } };
      }),
    );
  }

  getAuthorization(processorId: string, authorizationId: string): Promise<AuthorizationRecord | null> {
    return this.b.run(async () => {
      const doc = await this.b.c.authorizations.findOne({ _id: authKey(processorId, authorizationId) } as Document);
      return doc ? toDomain<AuthorizationRecord>(doc) : null;
    });
  }

  /** One `findOneAndUpdate` filtered on the version: the hot path of every decision. */
  updateAuthorization(
    processorId: string,
    authorizationId: string,
    expect: AuthorizationExpectation,
    patch: Partial<AuthorizationRecord>,
    events?: readonly AuditDraft[],
  ): Promise<AuthorizationRecord | null> {
    return this.b.run(async () => {
      const _id = authKey(processorId, authorizationId);
      const {
        processor_id: _p,
        authorization_id: _a,
        version: _v,
        ...rest
      } = withoutUndefined(patch) as Partial<AuthorizationRecord>;
      const set = toStored(rest) as Document;
      if (rest.created_at !== undefined) set.list_key = listKey(rest.created_at, processorId, authorizationId);
      // An approval set by a whole-record update (a taken-over claim decided STEP_UP); later approval
      // changes keep the key the record got then.
      if (rest.approval && rest.created_at !== undefined && rest.org_id !== undefined) {
        set.approval_list_key = approvalListKey(rest.org_id, set.list_key as string);
      }
      const update: Document = { $inc: { version: 1 } };
      if (Object.keys(set).length > 0) update.$set = set;
      pushDrafts(update, events);
      const doc = await this.b.c.authorizations.findOneAndUpdate({ _id, version: expect.version } as Document, update, {
        returnDocument: 'after',
      });
      if (doc) return toDomain<AuthorizationRecord>(doc);
      const exists = await this.b.c.authorizations.findOne({ _id } as Document, { projection: { _id: 1 } });
      if (exists) throw new StorageError('conflict', `version of ${authorizationId} moved`);
      return null;
    });
  }

  listAuthorizations(orgId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    return this.listAuthorizationsBy('org_id', orgId, query);
  }

  listProcessorAuthorizations(processorId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    return this.listAuthorizationsBy('processor_id', processorId, query);
  }

  /** Newest first by `list_key` within one org or one processor, on the index (scope, list_key). */
  private listAuthorizationsBy(
    scope: 'org_id' | 'processor_id',
    value: string,
    query: ListQuery,
  ): Promise<Page<AuthorizationRecord>> {
    return this.b.run(async () => {
      const filter: Document = { [scope]: value };
      if (query.status !== undefined) filter.status = query.status;
      if (query.agent_id !== undefined) filter.agent_id = query.agent_id;
      if (query.cursor !== undefined) filter.list_key = { $lt: query.cursor };
      const docs = await this.b.c.authorizations
        .find(filter)
        .sort({ [scope]: 1, list_key: -1 })
        .limit(query.limit + 1)
        .toArray();
      const page = docs.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        items: page.map((d) => toDomain<AuthorizationRecord>(d)),
        next_cursor: docs.length > query.limit && last ? String(last.list_key) : null,
      };
    });
  }

  findOrgAuthorizations(orgId: string, authorizationId: string, limit: number): Promise<AuthorizationRecord[]> {
    return this.b.run(async () => {
      const docs = await this.b.c.authorizations
        .find({ org_id: orgId, authorization_id: authorizationId })
        .sort({ org_id: 1, authorization_id: 1, processor_id: 1 })
        .limit(limit)
        .toArray();
      return docs.map((d) => toDomain<AuthorizationRecord>(d));
    });
  }

  findApproval(approvalId: string): Promise<AuthorizationRecord | null> {
    return this.b.run(async () => {
      const doc = await this.b.c.authorizations.findOne({ 'approval.id': approvalId });
      return doc ? toDomain<AuthorizationRecord>(doc) : null;
    });
  }

  /** Newest first by `list_key` within the org, on the sparse `approval_list_key` (records with an approval). */
  listApprovals(orgId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    return this.b.run(async () => {
      const from = approvalListKey(orgId, '');
      const to = query.cursor !== undefined ? approvalListKey(orgId, query.cursor) : approvalListKey(orgId, '\uffff');
      const filter: Document = { approval_list_key: { $gt: from, $lt: to } };
      if (query.status !== undefined) filter['approval.status'] = query.status;
      if (query.agent_id !== undefined) filter.agent_id = query.agent_id;
      const docs = await this.b.c.authorizations
        .find(filter)
        .sort({ approval_list_key: -1 })
        .limit(query.limit + 1)
        .toArray();
      const page = docs.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        items: page.map((d) => toDomain<AuthorizationRecord>(d)),
        next_cursor: docs.length > query.limit && last ? String(last.list_key) : null,
      };
    });
  }

  listDueApprovals(before: string, limit: number): Promise<AuthorizationRecord[]> {
    return this.b.run(async () => {
      const docs = await this.b.c.authorizations
        .find({ 'approval.status': { $in: ['pending', 'approved'] }, 'approval.expires_at': { $lte: before } })
        .sort({ 'approval.status': 1, 'approval.expires_at': 1 })
        .limit(limit)
        .toArray();
      return docs
        .map((d) => toDomain<AuthorizationRecord>(d))
        .sort((a, b) => ((a.approval?.expires_at as string) < (b.approval?.expires_at as string) ? -1 : 1));
    });
  }

  listOpenHolds(before: string, limit: number): Promise<AuthorizationRecord[]> {
    return this.b.run(async () => {
      const docs = await this.b.c.authorizations
        .find({
          hold_open: true,
          $or: [
            { status: 'approved', hold_expires_at: { $ne: null, $lte: before } },
            { status: { $in: ['captured', 'reversed', 'expired', 'declined'] } },
          ],
        })
        .sort({ hold_open: 1, hold_expires_at: 1 })
        .limit(limit)
        .toArray();
      return docs.map((d) => toDomain<AuthorizationRecord>(d));
    });
  }
}
