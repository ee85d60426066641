import * as assert from 'node:assert/strict';
import type { AuthorizationRecord } from '../../../src/types.js';
import { countOf, inParallel, isKnownStorageError, rejectsWith } from '../assertions.js';
import { makeAuthorization, makeProcessor, timeAt } from '../fixtures.js';
import { seedTenant } from '../seed.js';
import type { ConformanceGroup, ConformanceTarget } from '../types.js';

async function setup({ adapter }: ConformanceTarget) {
  const { org } = await seedTenant(adapter);
  const processor = makeProcessor();
  await adapter.insertProcessor(processor);
  return { org, processor };
}

/** The authorization idempotency record: insert-if-absent, CAS updates, open holds. */
export const idempotencyGroup: ConformanceGroup = (g) => {
  g.it('claim inserts once; a second claim returns the stored record untouched', async (t) => {
    const { adapter, inspect } = t;
    const { org, processor } = await setup(t);
    const first = makeAuthorization(processor.id, org.id);
    assert.deepStrictEqual(await adapter.claimAuthorization(first), { created: true });
    const second = { ...first, amount: 99, request_sha256: 'b'.repeat(64) };
    assert.deepStrictEqual(await adapter.claimAuthorization(second), { created: false, existing: first });
    assert.deepStrictEqual(await adapter.getAuthorization(processor.id, first.authorization_id), first);
    if (inspect) assert.deepStrictEqual(await inspect.authorization(processor.id, first.authorization_id), first);
  });

  g.it('the same authorization id under two processors is two records', async (t) => {
    const { adapter } = t;
    const { org, processor } = await setup(t);
    const other = makeProcessor();
    await adapter.insertProcessor(other);
    const a = makeAuthorization(processor.id, org.id, { authorization_id: 'pa_same' });
    const b = makeAuthorization(other.id, org.id, { authorization_id: 'pa_same', amount: 5 });
    assert.deepStrictEqual(await adapter.claimAuthorization(a), { created: true });
    assert.deepStrictEqual(await adapter.claimAuthorization(b), { created: true });
    assert.strictEqual((await adapter.getAuthorization(other.id, 'pa_same'))?.amount, 5);
    assert.strictEqual((await adapter.getAuthorization(processor.id, 'pa_same'))?.amount, a.amount);
  });

  g.it('of N concurrent claims of one key exactly one creates; all see the winner', async (t) => {
    const { adapter } = t;
    const { org, processor } = await setup(t);
    const results = await inParallel(g.concurrency, (i) =>
      adapter.claimAuthorization(
        makeAuthorization(processor.id, org.id, { authorization_id: 'pa_race', amount: i + 1 }),
      ),
    );
    const created = results.filter((r) => r.created).length;
    assert.strictEqual(created, 1, `created ${created} times`);
    const stored = (await adapter.getAuthorization(processor.id, 'pa_race')) as AuthorizationRecord;
    for (const r of results) if (!r.created) assert.deepStrictEqual(r.existing, stored);
    const winner = results.findIndex((r) => r.created);
    assert.strictEqual(stored.amount, winner + 1);
  });

  g.it('updateAuthorization is a compare-and-set on version', async (t) => {
    const { adapter, inspect } = t;
    const { org, processor } = await setup(t);
    const rec = makeAuthorization(processor.id, org.id);
    await adapter.claimAuthorization(rec);
    const next = await adapter.updateAuthorization(
      processor.id,
      rec.authorization_id,
      { version: 0 },
      { status: 'approved', approved_amount: 1850, processor_id: 'prc_other', authorization_id: 'pa_other' },
    );
    assert.deepStrictEqual(next, { ...rec, status: 'approved', approved_amount: 1850, version: 1 });
    await rejectsWith(
      adapter.updateAuthorization(processor.id, rec.authorization_id, { version: 0 }, { status: 'declined' }),
      'conflict',
      'stale version',
    );
    assert.deepStrictEqual(await adapter.getAuthorization(processor.id, rec.authorization_id), next);
    assert.strictEqual(await adapter.getAuthorization('prc_other', 'pa_other'), null);
    if (inspect) assert.deepStrictEqual(await inspect.authorization(processor.id, rec.authorization_id), next);
  });

  g.it('of N concurrent updates on one version exactly one wins', async (t) => {
    const { adapter } = t;
    const { org, processor } = await setup(t);
    const rec = makeAuthorization(processor.id, org.id);
    await adapter.claimAuthorization(rec);
    const outcomes = await inParallel(g.concurrency, (i) =>
      adapter.updateAuthorization(processor.id, rec.authorization_id, { version: 0 }, { attempt: i + 2 }).then(
        () => 'won',
        (err) => {
          assert.ok(isKnownStorageError(err) && err.code === 'conflict', String(err));
          return 'lost';
        },
      ),
    );
    assert.strictEqual(countOf(outcomes, 'won'), 1);
    const stored = await adapter.getAuthorization(processor.id, rec.authorization_id);
    assert.strictEqual(stored?.version, 1);
    assert.strictEqual(stored?.attempt, outcomes.indexOf('won') + 2);
  });

  g.it('listOpenHolds: expired approvals and half-done finals, oldest first, limited', async (t) => {
    const { adapter } = t;
    const { org, processor } = await setup(t);
    const { org: other } = await seedTenant(adapter);
    const at = (s: number) => timeAt(s * 1000);
    const rows: Record<string, Partial<AuthorizationRecord>> = {
      due_late: { org_id: org.id, status: 'approved', hold_open: true, hold_expires_at: at(30) },
      due_early: { org_id: other.id, status: 'approved', hold_open: true, hold_expires_at: at(10) },
      due_exact: { org_id: org.id, status: 'approved', hold_open: true, hold_expires_at: at(50) },
      not_due: { org_id: org.id, status: 'approved', hold_open: true, hold_expires_at: at(51) },
      closed: { org_id: org.id, status: 'approved', hold_open: false, hold_expires_at: at(5) },
      pending: { org_id: org.id, status: 'pending', hold_open: true, hold_expires_at: at(5) },
      captured: { org_id: org.id, status: 'captured', hold_open: true, hold_expires_at: at(40) },
      reversed: { org_id: org.id, status: 'reversed', hold_open: true, hold_expires_at: at(99) },
      expired: { org_id: org.id, status: 'expired', hold_open: true, hold_expires_at: at(20) },
      declined: { org_id: org.id, status: 'declined', hold_open: true, hold_expires_at: at(45) },
      settled: { org_id: org.id, status: 'captured', hold_open: false, hold_expires_at: at(1) },
    };
    for (const [id, patch] of Object.entries(rows)) {
      await adapter.claimAuthorization(makeAuthorization(processor.id, org.id, { authorization_id: id, ...patch }));
    }
    const due = await adapter.listOpenHolds(at(50), 100);
    const ids = due.map((r) => r.authorization_id);
    assert.deepStrictEqual([...ids].sort(), [
      'captured',
      'declined',
      'due_early',
      'due_exact',
      'due_late',
      'expired',
      'reversed',
    ]);
    const expiries = due.map((r) => r.hold_expires_at ?? '');
    assert.deepStrictEqual(expiries, [...expiries].sort(), 'oldest first');
    const limited = await adapter.listOpenHolds(at(50), 2);
    assert.deepStrictEqual(
      limited.map((r) => r.authorization_id),
      ['due_early', 'expired'],
    );
  });
};
