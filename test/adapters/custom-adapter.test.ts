// The example of adapters/README.md: a platform team's adapter runs the same suite in a few lines.
import { suite } from 'uvu';
import { runAdapterConformance } from '../../adapters/conformance/index.js';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { type StorageAdapter, StorageError } from '../../src/storage/index.js';

/**
 * A custom adapter that wraps another one and records how long each call takes, the shape a team
 * uses to add tracing or metrics to any store. Errors that are not StorageError are mapped, as the
 * contract requires.
 */
function timedAdapter(inner: StorageAdapter, record: (method: string, ms: number) => void): StorageAdapter {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return async (...args: unknown[]) => {
        const started = performance.now();
        try {
          return await value.apply(target, args);
        } catch (err) {
          throw err instanceof StorageError ? err : new StorageError('internal', String(err), { cause: err });
        } finally {
          record(prop, performance.now() - started);
        }
      };
    },
  });
}

const calls = new Map<string, number>();
const conformance = suite('custom adapter: conformance');
runAdapterConformance(
  conformance,
  'timed-memory',
  async () => {
    const inner = new MemoryAdapter();
    return {
      adapter: timedAdapter(inner, (method) => calls.set(method, (calls.get(method) ?? 0) + 1)),
      inspect: {
        usage: async (orgId, authorityId) => inner.inspectUsage(orgId, authorityId),
        authorization: async (processorId, id) => inner.inspectAuthorization(processorId, id),
        raw: async (kind, id) => inner.inspectEntity(kind, id),
      },
    };
  },
  { skip: ['credentials', 'policies', 'policy_analysis', 'quotas', 'domains'] },
);
conformance.run();
