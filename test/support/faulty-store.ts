import { MemoryAdapter } from '../../adapters/memory/index.js';
import type { StorageAdapter } from '../../src/storage/index.js';

type Method = (...args: unknown[]) => Promise<unknown>;

/** A memory adapter whose methods a test can wrap at any time, to inject crashes and delays. */
export function faultyStore(): {
  store: StorageAdapter;
  inner: MemoryAdapter;
  wrap(name: keyof StorageAdapter, fn: ((original: Method, ...args: unknown[]) => Promise<unknown>) | null): void;
} {
  const inner = new MemoryAdapter();
  const wrappers = new Map<string, (original: Method, ...args: unknown[]) => Promise<unknown>>();
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      const original = (value as Method).bind(target);
      return (...args: unknown[]) => {
        const w = wrappers.get(prop);
        return w ? w(original, ...args) : original(...args);
      };
    },
  }) as unknown as StorageAdapter;
  return {
    store,
    inner,
    wrap(name, fn) {
      if (fn) wrappers.set(name, fn);
      else wrappers.delete(name);
    },
  };
}
