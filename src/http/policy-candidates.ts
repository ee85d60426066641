import type { Engine } from '../engine/index.js';
import { AppError } from '../errors/index.js';
import { type LoadedPolicy, loadPolicy } from '../policy/index.js';
import type { PolicyStorage } from '../storage/index.js';

/** Uploaded revisions kept instantiated for replay, least recently used evicted first. */
const CACHE_SIZE = 8;

/**
 * Finds an org's uploaded revisions for shadow reports and replays: `not_found` for a revision the org does
 * not have (another org's included), the instantiated bundle for a replay (a few kept, keyed by content).
 */
export class PolicyCandidates {
  private readonly cache = new Map<string, Promise<LoadedPolicy>>();

  constructor(
    private readonly engine: Engine,
    private readonly storage: PolicyStorage,
  ) {}

  /** The revision's metadata, or `not_found`. */
  async require(orgId: string, revision: string) {
    const meta = await this.storage.getBundle(orgId, revision);
    if (!meta) throw new AppError('not_found', 'policy revision not found');
    return meta;
  }

  /** The org's active revision (null: base only). */
  async activeRevision(orgId: string): Promise<string | null> {
    return (await this.storage.getState(orgId)).active;
  }

  /** The base policy in force for the org now. */
  base(orgId: string): LoadedPolicy {
    return this.engine.policiesFor(orgId).active;
  }

  /** The org's revision, instantiated. */
  async load(orgId: string, revision: string): Promise<LoadedPolicy> {
    const meta = await this.require(orgId, revision);
    const key = `${orgId}\u0000${revision}\u0000${meta.sha256}`;
    let loaded = this.cache.get(key);
    if (loaded) {
      this.cache.delete(key);
    } else {
      loaded = this.storage.getBundleBytes(orgId, revision).then((bytes) => {
        if (!bytes) throw new AppError('not_found', 'policy revision not found');
        return loadPolicy(bytes, { keepSource: false });
      });
      loaded.catch(() => this.cache.delete(key));
    }
    this.cache.set(key, loaded);
    while (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    return loaded;
  }
}
