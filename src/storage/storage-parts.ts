import {
  AUDIT_STORAGE_METHODS,
  AUTHORIZATION_STORAGE_METHODS,
  type AuditStorage,
  type AuthorizationStorage,
  ENTITY_STORAGE_METHODS,
  type EntityStorage,
  STORE_LIFECYCLE_METHODS,
  type StorageAdapter,
  type StoreLifecycle,
  USAGE_LEDGER_METHODS,
  type UsageLedger,
} from './adapter.js';

/**
 * The engine's store of one backend, one object per contract, all on the backend's one connection. A
 * backend builds them in its factory; {@link composeStorage} makes the {@link StorageAdapter} the engine
 * takes. A write and its audit drafts are still one atomic operation: each backend's parts share a helper
 * that stores the drafts with the write (its outbox), never another part's tables or collections.
 */
export interface StorageParts {
  entities: EntityStorage;
  authorizations: AuthorizationStorage;
  usage: UsageLedger;
  audit: AuditStorage;
  lifecycle: StoreLifecycle;
}

/** Which part answers which methods. */
const PART_METHODS = [
  ['lifecycle', STORE_LIFECYCLE_METHODS],
  ['entities', ENTITY_STORAGE_METHODS],
  ['authorizations', AUTHORIZATION_STORAGE_METHODS],
  ['usage', USAGE_LEDGER_METHODS],
  ['audit', AUDIT_STORAGE_METHODS],
] as const;

/**
 * A {@link StorageAdapter} whose every method is its part's own method, bound to the part (no wrapper in
 * between), and which keeps its parts readable (`parts`). Backends extend it to add what is theirs (the
 * database name, the client).
 */
export class ComposedStorage {
  readonly parts: StorageParts;

  constructor(parts: StorageParts) {
    this.parts = parts;
    const self = this as unknown as Record<string, unknown>;
    for (const [part, methods] of PART_METHODS) {
      const target = parts[part] as unknown as Record<string, (...args: unknown[]) => unknown>;
      for (const method of methods) {
        const fn = target[method];
        if (typeof fn !== 'function') throw new TypeError(`storage part ${part} has no method ${method}`);
        self[method] = fn.bind(target);
      }
    }
  }
}

/** The type of {@link ComposedStorage} with the methods it binds: a {@link StorageAdapter}. */
export type ComposedStorageAdapter = ComposedStorage & StorageAdapter;

/** {@link ComposedStorage}, typed as the adapter it is: extend this one. */
export const ComposedStorageBase = ComposedStorage as unknown as new (parts: StorageParts) => ComposedStorageAdapter;

/** One {@link StorageAdapter} from the parts of a backend. */
export function composeStorage(parts: StorageParts): ComposedStorageAdapter {
  return new ComposedStorageBase(parts);
}
