import type { StoreLifecycle } from '../../src/storage/index.js';
import { AUDIT_PENDING_INDEX } from './audit-outbox.js';
import { DRAFT_CARRIERS, indexPlan } from './collections.js';
import type { MongoBackend } from './mongo-backend.js';

/** {@link StoreLifecycle} on MongoDB: `init()` creates the indexes (see `indexPlan`) and pings. */
export class MongoLifecycle implements StoreLifecycle {
  constructor(private readonly b: MongoBackend) {}

  init(): Promise<void> {
    return this.b.run(async () => {
      for (const [name, indexes] of indexPlan(this.b.retentionSeconds)) {
        await this.b.c[name].createIndexes(indexes);
      }
      // The other stores' collections carry drafts too; the outbox read needs their marker index.
      const own = new Set<string>(DRAFT_CARRIERS.map((name) => this.b.c[name].collectionName));
      for (const coll of this.b.draftCarriers) {
        if (!own.has(coll.collectionName)) await coll.createIndexes([AUDIT_PENDING_INDEX]);
      }
      await this.b.db.command({ ping: 1 });
    });
  }

  ping(): Promise<void> {
    return this.b.run(async () => {
      await this.b.db.command({ ping: 1 });
    });
  }

  close(): Promise<void> {
    return this.b.close();
  }
}
