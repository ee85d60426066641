import * as assert from 'node:assert/strict';
import type { Approval, AuthorizationRecord } from '../../../src/types.js';
import { inParallel, isKnownStorageError } from '../assertions.js';
import { makeAuthorization, makeProcessor, orderedId, timeAt } from '../fixtures.js';
import { seedTenant } from '../seed.js';
import type { ConformanceGroup, ConformanceTarget } from '../types.js';

async function setup({ adapter }: ConformanceTarget) {
  const { org } = await seedTenant(adapter);
  const processor = makeProcessor();
  await adapter.insertProcessor(processor);
  return { org, processor };
}

function makeApproval(overrides: Partial<Approval> = {}): Approval {
  return {
    id: orderedId('apr'),
    status: 'pending',
    amount: 20_000,
    currency: 'USD',
    merchant: { id: 'mer_1', mcc: '5734' },
    approved_amount: null,
    expires_at: timeAt(60_000),
    decided_by: null,
    decided_at: null,
    link_id: null,
    used_by: null,
    used_at: null,
    created_at: timeAt(0),
    ...overrides,
  };
}

/** A declined STEP_UP record carrying an approval. */
function stepUpRecord(
  processorId: string,
  orgId: string,
  approval: Approval,
  overrides: Partial<AuthorizationRecord> = {},
) {
  return makeAuthorization(processorId, orgId, { status: 'declined', approval, ...overrides });
}

/**
 * Approvals kept in their stepped-up authorization record, and an org's reads of an authorization by id:
 * `findApproval`, `listApprovals`, `listDueApprovals`, `findOrgAuthorizations`.
 */
export const approvalsGroup: ConformanceGroup = (g) => {
  g.it('findApproval finds the record by approval id, after the claim and after updates', async (t) => {
    const { adapter } = t;
    const { org, processor } = await setup(t);
    const approval = makeApproval();
    const rec = stepUpRecord(processor.id, org.id, approval);
    await adapter.claimAuthorization(rec);
    await adapter.claimAuthorization(makeAuthorization(processor.id, org.id));
    assert.deepStrictEqual(await adapter.findApproval(approval.id), rec);
    assert.strictEqual(await adapter.findApproval('apr_missing'), null);
    const approved = { ...approval, status: 'approved' as const, approved_amount: 15_000 };
    const next = await adapter.updateAuthorization(
      processor.id,
      rec.authorization_id,
      { version: 0 },
      { approval: approved },
    );
    assert.deepStrictEqual(await adapter.findApproval(approval.id), next);
    assert.strictEqual((await adapter.findApproval(approval.id))?.approval?.approved_amount, 15_000);
    // An approval set by an update (a taken-over claim decided STEP_UP) is found too.
    const later = makeApproval();
    const pending = makeAuthorization(processor.id, org.id);
    await adapter.claimAuthorization(pending);
    await adapter.updateAuthorization(processor.id, pending.authorization_id, { version: 0 }, { approval: later });
    assert.strictEqual((await adapter.findApproval(later.id))?.authorization_id, pending.authorization_id);
  });

  g.it('of N concurrent uses of one approval (compare-and-set on the version) exactly one wins', async (t) => {
    const { adapter } = t;
    const { org, processor } = await setup(t);
    const approval = makeApproval({ status: 'approved', approved_amount: 20_000 });
    const rec = stepUpRecord(processor.id, org.id, approval);
    await adapter.claimAuthorization(rec);
    const outcomes = await inParallel(g.concurrency, async (i) => {
      try {
        await adapter.updateAuthorization(
          processor.id,
          rec.authorization_id,
          { version: 0 },
          {
            approval: {
              ...approval,
              status: 'used',
              used_by: { processor_id: processor.id, authorization_id: `pa_${i}` },
            },
          },
        );
        return 'won';
      } catch (err) {
        assert.ok(isKnownStorageError(err) && err.code === 'conflict', String(err));
        return 'lost';
      }
    });
    assert.strictEqual(outcomes.filter((o) => o === 'won').length, 1);
    const stored = await adapter.findApproval(approval.id);
    assert.strictEqual(stored?.approval?.status, 'used');
    assert.strictEqual(stored?.approval?.used_by?.authorization_id, `pa_${outcomes.indexOf('won')}`);
  });

  g.it("listApprovals: the org's records with an approval, newest first, by approval status, paged", async (t) => {
    const { adapter } = t;
    const { org, processor } = await setup(t);
    const { org: other } = await seedTenant(adapter);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const status = i % 2 === 0 ? 'pending' : 'declined';
      const rec = stepUpRecord(processor.id, org.id, makeApproval({ status }), { created_at: timeAt(i * 1000) });
      await adapter.claimAuthorization(rec);
      ids.push(rec.authorization_id);
    }
    await adapter.claimAuthorization(makeAuthorization(processor.id, org.id, { created_at: timeAt(9_000) }));
    await adapter.claimAuthorization(stepUpRecord(processor.id, other.id, makeApproval()));
    const all = await adapter.listApprovals(org.id, { limit: 100 });
    assert.deepStrictEqual(
      all.items.map((r) => r.authorization_id),
      [...ids].reverse(),
    );
    assert.strictEqual(all.next_cursor, null);
    const pending = await adapter.listApprovals(org.id, { limit: 100, status: 'pending' });
    assert.deepStrictEqual(
      pending.items.map((r) => r.authorization_id),
      [ids[4], ids[2], ids[0]],
    );
    const first = await adapter.listApprovals(org.id, { limit: 2 });
    assert.strictEqual(first.items.length, 2);
    assert.ok(first.next_cursor);
    const second = await adapter.listApprovals(org.id, { limit: 10, cursor: first.next_cursor as string });
    assert.deepStrictEqual(
      [...first.items, ...second.items].map((r) => r.authorization_id),
      [...ids].reverse(),
    );
  });

  g.it('listDueApprovals: pending and approved approvals at or past expiry, oldest first, limited', async (t) => {
    const { adapter } = t;
    const { org, processor } = await setup(t);
    const { org: other } = await seedTenant(adapter);
    const at = (s: number) => timeAt(s * 1000);
    const rows: Record<string, Approval['status'] | null> = {
      pending_late: 'pending',
      approved_early: 'approved',
      pending_exact: 'pending',
      not_due: 'pending',
      declined: 'declined',
      used: 'used',
      expired: 'expired',
      none: null,
    };
    const expiry: Record<string, number> = {
      pending_late: 30,
      approved_early: 10,
      pending_exact: 50,
      not_due: 51,
      declined: 5,
      used: 5,
      expired: 5,
      none: 5,
    };
    for (const [id, status] of Object.entries(rows)) {
      const orgId = id === 'approved_early' ? other.id : org.id;
      const approval = status === null ? null : makeApproval({ status, expires_at: at(expiry[id] as number) });
      await adapter.claimAuthorization(
        makeAuthorization(processor.id, orgId, { authorization_id: id, status: 'declined', approval }),
      );
    }
    const due = await adapter.listDueApprovals(at(50), 100);
    assert.deepStrictEqual(
      due.map((r) => r.authorization_id),
      ['approved_early', 'pending_late', 'pending_exact'],
    );
    assert.deepStrictEqual(
      (await adapter.listDueApprovals(at(50), 1)).map((r) => r.authorization_id),
      ['approved_early'],
    );
  });

  g.it(
    "findOrgAuthorizations: one org's records of an authorization id, per processor, never another org's",
    async (t) => {
      const { adapter } = t;
      const { org, processor } = await setup(t);
      const { org: other } = await seedTenant(adapter);
      const second = makeProcessor();
      await adapter.insertProcessor(second);
      await adapter.claimAuthorization(makeAuthorization(processor.id, org.id, { authorization_id: 'pa_x' }));
      await adapter.claimAuthorization(makeAuthorization(second.id, org.id, { authorization_id: 'pa_x' }));
      await adapter.claimAuthorization(makeAuthorization(processor.id, other.id, { authorization_id: 'pa_y' }));
      const found = await adapter.findOrgAuthorizations(org.id, 'pa_x', 10);
      assert.deepStrictEqual(
        found.map((r) => r.processor_id),
        [processor.id, second.id].sort(),
      );
      assert.strictEqual((await adapter.findOrgAuthorizations(org.id, 'pa_x', 1)).length, 1);
      assert.deepStrictEqual(await adapter.findOrgAuthorizations(org.id, 'pa_y', 10), []);
      assert.deepStrictEqual(await adapter.findOrgAuthorizations(other.id, 'pa_x', 10), []);
      assert.strictEqual((await adapter.findOrgAuthorizations(other.id, 'pa_y', 10))[0]?.org_id, other.id);
    },
  );
};
