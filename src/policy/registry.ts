import type { PolicyState, PolicyStorage } from '../storage/index.js';
import { PolicyError } from './errors.js';
import type { PolicyResolver, PolicySet } from './policy-set.js';
import { type LoadedPolicy, type LoadPolicyOptions, loadPolicy } from './runtime.js';

/** Log sink of the registry (the engine's logger fits). */
interface RegistryLogger {
  info(event: string, fields: Record<string, unknown>): void;
  error(event: string, fields: Record<string, unknown>): void;
}

/** Options of {@link PolicyRegistry}. */
export interface PolicyRegistryOptions {
  storage: PolicyStorage;
  /** The platform base policy of this server (the bundle file); a base promoted in the store replaces it. */
  base: LoadedPolicy;
  logger?: RegistryLogger;
  /**
   * Instantiates stored bundle bytes. Default: loadPolicy, keeping the source of a base only (rules revisions
   * are built over the base's module; an org revision's bytes need not stay in memory).
   */
  load?: (bytes: Uint8Array, options: LoadPolicyOptions) => Promise<LoadedPolicy>;
  /** Every this many ms the states are listed even when the change sequence did not move. Default 30 s. */
  fullReloadMs?: number;
  /** Time source for `fullReloadMs`. Default Date.now. */
  now?: () => number;
}

interface Snapshot {
  readonly base: LoadedPolicy;
  /** The revision promoted as base in the store, or null: the file's bundle. */
  readonly baseState: PolicyState | null;
  /** Per org with a state: its policy set. Orgs without one get `plain`. */
  readonly orgs: ReadonlyMap<string, PolicySet>;
  readonly plain: PolicySet;
}

const silent: RegistryLogger = { info() {}, error() {} };

function key(orgId: string | null, revision: string): string {
  return `${orgId ?? ''}\u0000${revision}`;
}

/** A stand-in for a stored org bundle that cannot be loaded: every evaluation fails, so it decides DENY policy_error. */
function unloadable(revision: string, reason: string): LoadedPolicy {
  const fail = (): never => {
    throw new PolicyError('policy_load_failed', `policy ${revision} is not loaded: ${reason}`);
  };
  return Object.freeze({ revision, manifest: { revision }, evaluateSpend: fail, evaluateIntent: fail });
}

/**
 * The policies in force on one server, read from a {@link PolicyStorage}: the base (the bundle file, or a
 * base promoted by the operator) and, per org, the active and shadow revisions. Only revisions in use are
 * loaded; the others are evicted. A refresh builds a new snapshot off to the side and swaps it in one
 * assignment, so a decision that took `forOrg()` finishes on the policies it started with.
 *
 * Hot swap: `start()` polls the store's change sequence (default every 250 ms) and refreshes when it moved;
 * `refresh()` does it now and resolves once a refresh that started after the call has finished.
 */
export class PolicyRegistry implements PolicyResolver {
  readonly #storage: PolicyStorage;
  readonly #fileBase: LoadedPolicy;
  readonly #logger: RegistryLogger;
  readonly #load: (bytes: Uint8Array, options: LoadPolicyOptions) => Promise<LoadedPolicy>;
  readonly #fullReloadMs: number;
  readonly #now: () => number;
  #snapshot: Snapshot;
  #loaded = new Map<string, LoadedPolicy>();
  #seq = -1;
  #lastFull = Number.NEGATIVE_INFINITY;
  #running: Promise<void> | null = null;
  #queued: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #swapWaiters: (() => void)[] = [];

  constructor(options: PolicyRegistryOptions) {
    this.#storage = options.storage;
    this.#fileBase = options.base;
    this.#logger = options.logger ?? silent;
    this.#load = options.load ?? ((bytes, loadOptions) => loadPolicy(bytes, loadOptions));
    this.#fullReloadMs = options.fullReloadMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    const plain = Object.freeze({ active: options.base, shadow: null, org: null, orgShadow: null });
    this.#snapshot = Object.freeze({ base: options.base, baseState: null, orgs: new Map(), plain });
  }

  /** The policy set of an org in the current snapshot (hot path: one map lookup). */
  forOrg(orgId: string): PolicySet {
    const snap = this.#snapshot;
    return snap.orgs.get(orgId) ?? snap.plain;
  }

  /** The base policy in force. */
  base(): LoadedPolicy {
    return this.#snapshot.base;
  }

  /** The base state promoted in the store, or null when the file's bundle is the base. */
  baseState(): PolicyState | null {
    return this.#snapshot.baseState;
  }

  /** Resolves after the next snapshot swap (a refresh, by the poll timer or a call, that finished). */
  nextSwap(): Promise<void> {
    return new Promise((resolve) => this.#swapWaiters.push(resolve));
  }

  /** Revisions held loaded now (scope NUL revision), for tests and diagnostics. */
  loadedRevisions(): string[] {
    return [...this.#loaded.keys()].map((k) => k.replace('\u0000', '/'));
  }

  /** Refreshes now; resolves when a refresh started after this call has finished (errors reject). */
  refresh(): Promise<void> {
    if (!this.#running) {
      this.#running = this.#refreshOnce(true).finally(() => {
        this.#running = null;
      });
      return this.#running;
    }
    this.#queued ??= this.#running.then(
      () => this.#afterQueue(),
      () => this.#afterQueue(),
    );
    return this.#queued;
  }

  #afterQueue(): Promise<void> {
    this.#queued = null;
    return this.refresh();
  }

  /** Polls the change sequence every `intervalMs` (unref'd timer); idempotent. */
  start(intervalMs = 250): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = this.#refreshOnce(false)
        .catch((err: unknown) => {
          this.#logger.error('policy_refresh_failed', { error: err instanceof Error ? err.message : String(err) });
        })
        .finally(() => {
          this.#running = null;
        });
    }, intervalMs);
    this.#timer.unref();
  }

  /** Stops polling and waits for a refresh in flight. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => {});
  }

  async #refreshOnce(force: boolean): Promise<void> {
    const seq = await this.#storage.changeSequence();
    const now = this.#now();
    if (!force && seq === this.#seq && now - this.#lastFull < this.#fullReloadMs) return;
    const states = await this.#storage.listStates();
    const loaded = new Map<string, LoadedPolicy>();
    const broken = new Set<LoadedPolicy>();
    const use = async (orgId: string | null, revision: string | null): Promise<LoadedPolicy | null> => {
      if (revision === null) return null;
      const k = key(orgId, revision);
      const have = loaded.get(k) ?? this.#loaded.get(k);
      if (have) {
        loaded.set(k, have);
        return have;
      }
      const bytes = await this.#storage.getBundleBytes(orgId, revision);
      let policy: LoadedPolicy;
      try {
        if (!bytes) throw new Error('the bundle is not in the store');
        policy = await this.#load(bytes, { keepSource: orgId === null });
        loaded.set(k, policy);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        this.#logger.error('policy_load_failed', { org_id: orgId, revision, error: reason });
        policy = unloadable(revision, reason);
        broken.add(policy);
      }
      return policy;
    };

    let base = this.#fileBase;
    let baseState: PolicyState | null = null;
    const baseStored = states.find((s) => s.org_id === null);
    if (baseStored?.active) {
      const b = await use(null, baseStored.active);
      // A base that cannot be loaded never replaces a working one: the previous base stays.
      if (b && !broken.has(b)) {
        base = b;
        baseState = baseStored;
      } else {
        base = this.#snapshot.base;
        baseState = this.#snapshot.baseState;
      }
    }
    const plain = Object.freeze({ active: base, shadow: null, org: null, orgShadow: null });
    const orgs = new Map<string, PolicySet>();
    for (const state of states) {
      if (state.org_id === null || (state.active === null && state.shadow === null)) continue;
      const org = await use(state.org_id, state.active);
      const orgShadow = await use(state.org_id, state.shadow);
      orgs.set(state.org_id, Object.freeze({ active: base, shadow: null, org, orgShadow }));
    }
    const before = this.#snapshot;
    this.#snapshot = Object.freeze({ base, baseState, orgs, plain });
    this.#loaded = loaded;
    this.#seq = seq;
    this.#lastFull = now;
    if (before.base !== base) this.#logger.info('base_policy_swapped', { revision: base.revision });
    const waiters = this.#swapWaiters;
    this.#swapWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
