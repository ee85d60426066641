import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Budget, Deadlines } from '../../src/engine/authorize-budget.js';
import { isAppError } from '../../src/errors/index.js';
import { rejectsWithCode } from '../support/assert-rejects.js';
import { makeFixture } from '../support/engine-fixture.js';
import { faultyStore } from '../support/faulty-store.js';

const budgets = suite('authorize budget: the deadlines of authorizations in flight');

/** The error a budget ended before its deadline settles with (one, shared by every such budget). */
async function overError(): Promise<unknown> {
  const budget = new Budget(60_000, new Deadlines());
  budget.end();
  return budget.expiry.catch((err: unknown) => err);
}

/** How this budget's expiry settled: 'deadline' (storage_unavailable at its deadline) or 'over' (ended before). */
async function settled(budget: Budget): Promise<'deadline' | 'over'> {
  const over = await overError();
  return budget.expiry.then(
    () => 'over',
    (err: unknown) => (err !== over && isAppError(err, 'storage_unavailable') ? 'deadline' : 'over'),
  );
}

budgets('each budget ends at its own deadline, not before; one ended early never gets the deadline error', async () => {
  const timers = new Deadlines();
  const make = (ms: number) => {
    const budget = new Budget(ms, timers);
    const outcome = settled(budget).then((how) => ({ how, at: performance.now() }));
    return { budget, outcome };
  };
  const slow = make(80);
  const early = make(40);
  const mid = make(60);
  // Added last with the earliest deadline (the timer, armed for 40 ms, is armed again for 20 ms).
  const first = make(20);
  assert.is(timers.size, 4);
  early.budget.end();
  assert.is(timers.size, 3);
  assert.is((await early.outcome).how, 'over');
  for (const b of [first, mid, slow]) {
    const { how, at } = await b.outcome;
    assert.is(how, 'deadline');
    assert.ok(at >= b.budget.deadline, 'not before its deadline');
    assert.is(b.budget.expired, true);
  }
  assert.is(timers.size, 0);
});

budgets('a budget of no finite length ends at once with the deadline error', async () => {
  const timers = new Deadlines();
  for (const ms of [Number.NaN, Number.POSITIVE_INFINITY]) {
    const budget = new Budget(ms, timers);
    assert.is(await settled(budget), 'deadline');
  }
  assert.is(timers.size, 0);
});

budgets('concurrent authorizations share one deadline timer, and every one still ends at its deadline', async () => {
  const faults = faultyStore();
  const f = await makeFixture({ store: faults.store, config: { authorizeDeadlineMs: 150 } });
  let release: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    release = resolve;
  });
  let held = 0;
  // A frozen store: every authorize waits at its first store call until its deadline.
  faults.wrap('getProcessor', (original, ...args) => {
    held++;
    return opened.then(() => original(...args));
  });
  const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timeouts();
  const n = 50;
  const runs = Array.from({ length: n }, (_, i) =>
    rejectsWithCode(f.engine.authorize(f.processor.id, f.request({ amount: 100 + i })), 'storage_unavailable'),
  );
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.is(held, n, 'every authorize is in flight');
  const during = timeouts();
  assert.ok(during - before <= 1, `${during - before} timers for ${n} authorizations in flight`);
  await Promise.all(runs);
  release();
});

budgets.run();
