import type { StorageAdapter } from '../../src/storage/index.js';

type Method = (...args: unknown[]) => Promise<unknown>;

/** A call held by {@link pausingStore}: it reached the store and waits for the test to let it through. */
export interface PausedCall {
  /** Resolves with the call's arguments once the call arrives. */
  reached: Promise<unknown[]>;
  /** Lets the call through to the wrapped store. */
  resume(): void;
}

/**
 * A store whose next call of a method can be held until the test lets it through: a slow holder (a GC
 * pause, store retries) at exactly the point the test chooses, with no timers involved.
 */
export function pausingStore(inner: StorageAdapter): {
  store: StorageAdapter;
  /** Holds the next call of `name` (before it reaches the wrapped store). */
  pauseNext(name: keyof StorageAdapter): PausedCall;
} {
  const pending = new Map<string, { arrived(args: unknown[]): void; gate: Promise<void> }>();
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      const original = (value as Method).bind(target);
      return async (...args: unknown[]) => {
        const pause = pending.get(prop);
        if (pause) {
          pending.delete(prop);
          pause.arrived(args);
          await pause.gate;
        }
        return original(...args);
      };
    },
  }) as StorageAdapter;
  return {
    store,
    pauseNext(name) {
      let arrived!: (args: unknown[]) => void;
      let resume!: () => void;
      const reached = new Promise<unknown[]>((resolve) => {
        arrived = resolve;
      });
      const gate = new Promise<void>((resolve) => {
        resume = resolve;
      });
      pending.set(name, { arrived, gate });
      return { reached, resume };
    },
  };
}
