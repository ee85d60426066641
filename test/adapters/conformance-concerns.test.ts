import { AssertionError } from 'node:assert';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CONCERNS, GROUPS, type GroupName, runAdapterConformance } from '../../adapters/conformance/index.js';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { STORAGE_ADAPTER_METHODS } from '../../src/storage/index.js';

const test = suite('conformance concerns');

/** A test function that records the names the runner registers and runs nothing. */
function recordingRunner() {
  const names: string[] = [];
  const test = (name: string, _body: () => Promise<void>) => {
    names.push(name);
  };
  /** The groups registered, in order, from the case names `conformance[rec] group: case`. */
  const groups = () => [
    ...new Set(names.filter((n) => n.includes(': ') && !n.endsWith(': every case ran')).map((n) => n.split(':')[0])),
  ];
  return { names, test, groups };
}

test('every group belongs to exactly one storage concern', () => {
  const listed = Object.values(CONCERNS).flat();
  assert.equal([...listed].sort(), Object.keys(GROUPS).sort());
  assert.is(new Set(listed).size, listed.length);
});

test('concerns selects the groups of those contracts only, on the runner given', () => {
  const { names, test: record, groups } = recordingRunner();
  runAdapterConformance(record, 'rec', async () => ({ adapter: new MemoryAdapter() }), {
    concerns: ['ledger', 'authorizations'],
  });
  assert.equal(groups(), [
    'conformance[rec] idempotency',
    'conformance[rec] approvals',
    'conformance[rec] reservations',
  ]);
  for (const g of groups()) assert.ok(names.filter((n) => n.startsWith(`${g}: `)).length > 0, g);
  assert.is(names.at(-1), 'conformance[rec]: every case ran');
});

test('skip still applies inside the selected concerns', () => {
  const { test: record, groups } = recordingRunner();
  runAdapterConformance(record, 'rec', async () => ({ adapter: new MemoryAdapter() }), {
    concerns: ['entities'],
    skip: ['errors'] as GroupName[],
  });
  assert.equal(
    groups(),
    CONCERNS.entities.filter((g) => g !== 'errors').map((g) => `conformance[rec] ${g}`),
  );
});

test('the last case fails unless every case registered before it passed', async () => {
  const cases: { name: string; body: () => Promise<void> }[] = [];
  const record = (name: string, body: () => Promise<void>) => {
    cases.push({ name, body });
  };
  runAdapterConformance(record, 'rec', async () => ({ adapter: new MemoryAdapter() }), { concerns: ['ledger'] });
  const last = cases.pop();
  assert.is(last?.name, 'conformance[rec]: every case ran');
  // The first case alone ran: the count check must throw.
  await cases[0]?.body();
  try {
    await last?.body();
    assert.unreachable('the count check passed with cases not run');
  } catch (err) {
    assert.instance(err, AssertionError);
    assert.is((err as AssertionError).code, 'ERR_ASSERTION');
  }
});

test('the suite refuses a missing test function', () => {
  try {
    runAdapterConformance(undefined as never, 'rec', async () => ({ adapter: new MemoryAdapter() }));
    assert.unreachable('accepted without a test function');
  } catch (err) {
    assert.instance(err, TypeError);
  }
});

test('the adapter contract is the union of the concern contracts, each method once', () => {
  assert.is(new Set(STORAGE_ADAPTER_METHODS).size, STORAGE_ADAPTER_METHODS.length);
  const adapter = new MemoryAdapter() as unknown as Record<string, unknown>;
  for (const m of STORAGE_ADAPTER_METHODS) assert.type(adapter[m], 'function', m);
});

test.run();
