import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Budget, Deadlines } from '../../src/engine/authorize-budget.js';
import { isAppError } from '../../src/errors/index.js';
import { rejectsWithCode } from '../support/assert-rejects.js';
import { makeFixture } from '../support/engine-fixture.js';
import { faultyStore } from '../support/faulty-store.js';

const budgets = suite('authorize budget: the deadlines of authorizations in flight');

/** How this budget's expiry settled: 'deadline' (storage_unavailable) or 'over' (ended before its deadline). */
function settled(budget: Budget, over: () => boolean): Promise<'deadline' | 'over'> {
  return budget.expiry.then(
    () => 'over',
    (err: unknown) => (over() ? 'over' : isAppError(err, 'storage_unavailable') ? 'deadline' : 'over'),
  );
}

budgets(
  'each budget ends at its own deadline; one ended early never fires; a later, earlier deadline re-arms',
  async () => {
    const timers = new Deadlines();
    const order: string[] = [];
    const ended = new Set<string>();
    const make = (name: string, ms: number) => {
      const budget = new Budget(ms, timers);
      const outcome = settled(budget, () => ended.has(name)).then((how) => {
        order.push(`${name}:${how}`);
        return how;
      });
      return { budget, outcome };
    };
    const slow = make('slow', 80);
    const early = make('early', 40);
    const mid = make('mid', 60);
    // Added last with the earliest deadline: the timer, armed for 40 ms, is armed again for 20 ms.
    const first = make('first', 20);
    assert.is(timers.size, 4);
    ended.add('early');
    early.budget.end();
    assert.is(timers.size, 3);
    await Promise.all([slow.outcome, early.outcome, mid.outcome, first.outcome]);
    assert.equal(order, ['early:over', 'first:deadline', 'mid:deadline', 'slow:deadline']);
    assert.is(timers.size, 0);
    for (const b of [slow, mid, first]) assert.ok(performance.now() >= b.budget.deadline);
  },
);

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
