import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CONCERNS,
  type ConformanceSuite,
  GROUPS,
  type GroupName,
  runAdapterConformance,
} from '../../adapters/conformance/index.js';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { STORAGE_ADAPTER_METHODS } from '../../src/storage/index.js';

const test = suite('conformance concerns');

/** A suite factory that records what the runner registers and runs nothing. */
function recordingRunner() {
  const registered: { title: string; cases: string[] }[] = [];
  const factory = (title: string): ConformanceSuite => {
    const entry = { title, cases: [] as string[] };
    registered.push(entry);
    const s = ((name: string, _body: () => Promise<void>) => {
      entry.cases.push(name);
    }) as unknown as ConformanceSuite;
    s.after = () => {};
    s.run = () => {};
    return s;
  };
  return { registered, factory };
}

test('every group belongs to exactly one storage concern', () => {
  const listed = Object.values(CONCERNS).flat();
  assert.equal([...listed].sort(), Object.keys(GROUPS).sort());
  assert.is(new Set(listed).size, listed.length);
});

test('concerns selects the groups of those contracts only, on the runner given', () => {
  const { registered, factory } = recordingRunner();
  runAdapterConformance('rec', async () => ({ adapter: new MemoryAdapter() }), {
    concerns: ['ledger', 'authorizations'],
    suite: factory,
  });
  assert.equal(
    registered.map((r) => r.title),
    ['conformance[rec] idempotency', 'conformance[rec] approvals', 'conformance[rec] reservations'],
  );
  for (const r of registered) assert.ok(r.cases.length > 0, r.title);
});

test('skip still applies inside the selected concerns', () => {
  const { registered, factory } = recordingRunner();
  runAdapterConformance('rec', async () => ({ adapter: new MemoryAdapter() }), {
    concerns: ['entities'],
    skip: ['errors'] as GroupName[],
    suite: factory,
  });
  assert.equal(
    registered.map((r) => r.title),
    CONCERNS.entities.filter((g) => g !== 'errors').map((g) => `conformance[rec] ${g}`),
  );
});

test('the adapter contract is the union of the concern contracts, each method once', () => {
  assert.is(new Set(STORAGE_ADAPTER_METHODS).size, STORAGE_ADAPTER_METHODS.length);
  const adapter = new MemoryAdapter() as unknown as Record<string, unknown>;
  for (const m of STORAGE_ADAPTER_METHODS) assert.type(adapter[m], 'function', m);
});

test.run();
