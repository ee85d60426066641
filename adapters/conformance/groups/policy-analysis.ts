import * as assert from 'node:assert/strict';
import type {
  DivergenceSample,
  PolicyAnalysisStorage,
  ReplayJob,
  ShadowBatch,
  StorageAdapter,
} from '../../../src/storage/index.js';
import { SHADOW_SAMPLE_LIMIT } from '../../../src/storage/index.js';
import type { AuthorizationRecord } from '../../../src/types.js';
import { inParallel, rejectsWith, tryMutate } from '../assertions.js';
import { makeAuditDraft, makeAuthorization, makeOrg, makeProcessor, orderedId, timeAt } from '../fixtures.js';
import type { ConformanceGroup, ConformanceTarget } from '../types.js';

function storageOf(target: ConformanceTarget): PolicyAnalysisStorage {
  if (!target.policyAnalysis) throw new Error('the policy_analysis group needs target.policyAnalysis');
  return target.policyAnalysis;
}

function sample(i: number): DivergenceSample {
  if (i % 5 === 4) {
    return {
      kind: 'intent',
      processor_id: null,
      authorization_id: null,
      intent_id: `int_${String(i).padStart(4, '0')}`,
      at: timeAt(i * 1000),
      agent_id: 'agt_1',
      merchant_id: null,
      active: { action: 'STEP_UP', reasons: ['step_up_required'], approved_amount: 0 },
      candidate: { action: 'ALLOW', reasons: [], approved_amount: 5000 },
    };
  }
  return {
    kind: 'authorization',
    intent_id: null,
    processor_id: 'prc_1',
    authorization_id: `pa_${String(i).padStart(4, '0')}`,
    at: timeAt(i * 1000),
    agent_id: 'agt_1',
    merchant_id: 'mer.1$x',
    active: { action: 'ALLOW', reasons: [], approved_amount: 100 },
    candidate: { action: 'DENY', reasons: ['policy:vendor.blocked'], approved_amount: 0 },
  };
}

function batch(orgId: string, revision: string, overrides: Partial<ShadowBatch> = {}): ShadowBatch {
  return {
    org_id: orgId,
    revision,
    active_revision: 'rev-a',
    first_at: timeAt(0),
    last_at: timeAt(1000),
    counts: {
      evaluated: 3,
      diverged: 1,
      transitions: { 'ALLOW->DENY': 1 },
      reasons: { 'policy:vendor.blocked': 1 },
      approved_amount_delta: { sum: -100, min: -100, max: -100 },
    },
    samples: [sample(0)],
    ...overrides,
  };
}

function job(orgId: string, overrides: Partial<ReplayJob> = {}): ReplayJob {
  return {
    id: orderedId('rpl'),
    org_id: orgId,
    revision: 'rev-b',
    from: timeAt(0),
    to: timeAt(60_000),
    limit: null,
    status: 'running',
    progress: { done: 0, total: 10 },
    report: null,
    error: null,
    created_by: 'key_1',
    created_at: timeAt(0),
    updated_at: timeAt(0),
    version: 0,
    ...overrides,
  };
}

async function scanAll(
  storage: PolicyAnalysisStorage,
  orgId: string,
  from: string,
  to: string,
  limit: number,
): Promise<AuthorizationRecord[]> {
  const out: AuthorizationRecord[] = [];
  let after: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await storage.scanAuthorizations(orgId, { from, to, limit, ...(after ? { after } : {}) });
    assert.ok(page.items.length <= limit, 'page longer than limit');
    out.push(...page.items);
    if (page.next === null) return out;
    after = page.next;
  }
  throw new Error('scan did not end');
}

async function seedAuthorizations(adapter: StorageAdapter, orgId: string, times: number[]) {
  const processors = [makeProcessor(), makeProcessor()];
  for (const p of processors) await adapter.insertProcessor(p);
  const records: AuthorizationRecord[] = [];
  for (const [i, t] of times.entries()) {
    const r = makeAuthorization((processors[i % 2] as { id: string }).id, orgId, { created_at: timeAt(t) });
    await adapter.claimAuthorization(r);
    records.push(r);
  }
  return records;
}

/** Shadow counters and samples, replay jobs and the time-ordered authorization scan (PolicyAnalysisStorage). */
export const policyAnalysisGroup: ConformanceGroup = (g) => {
  g.it('policy_analysis: shadow batches add up; bounds, since and samples', async (t) => {
    const storage = storageOf(t);
    const org = makeOrg();
    assert.strictEqual(await storage.getShadowStats(org.id, 'rev-b'), null);
    await storage.recordShadow(batch(org.id, 'rev-b'));
    await storage.recordShadow(
      batch(org.id, 'rev-b', {
        active_revision: null,
        first_at: timeAt(-5000),
        last_at: timeAt(500),
        counts: {
          evaluated: 2,
          diverged: 2,
          transitions: { 'ALLOW->DENY': 1, 'DENY->ALLOW': 1 },
          reasons: { 'policy:vendor.blocked': 1 },
          approved_amount_delta: { sum: 150, min: -100, max: 250 },
        },
        samples: [sample(1), sample(2)],
      }),
    );
    await storage.recordShadow(
      batch(org.id, 'rev-b', {
        active_revision: null,
        counts: {
          evaluated: 4,
          diverged: 0,
          transitions: {},
          reasons: {},
          approved_amount_delta: { sum: 0, min: null, max: null },
        },
        samples: [],
      }),
    );
    const stats = await storage.getShadowStats(org.id, 'rev-b');
    assert.ok(stats);
    assert.deepStrictEqual(stats, {
      org_id: org.id,
      revision: 'rev-b',
      active_revision: null,
      since: timeAt(-5000),
      updated_at: timeAt(1000),
      evaluated: 9,
      diverged: 3,
      transitions: { 'ALLOW->DENY': 2, 'DENY->ALLOW': 1 },
      reasons: { 'policy:vendor.blocked': 2 },
      approved_amount_delta: { sum: 50, min: -100, max: 250 },
      samples: [sample(0), sample(1), sample(2)],
    });
    tryMutate(stats);
    assert.deepStrictEqual((await storage.getShadowStats(org.id, 'rev-b'))?.evaluated, 9, 'results are copies');
    // Another revision and another org are apart.
    assert.strictEqual(await storage.getShadowStats(org.id, 'rev-c'), null);
    assert.strictEqual(await storage.getShadowStats(makeOrg().id, 'rev-b'), null);
  });

  g.it('policy_analysis: only the latest samples are kept', async (t) => {
    const storage = storageOf(t);
    const org = makeOrg();
    const all = Array.from({ length: SHADOW_SAMPLE_LIMIT + 7 }, (_, i) => sample(i));
    await storage.recordShadow(batch(org.id, 'rev-b', { samples: all.slice(0, 30) }));
    await storage.recordShadow(batch(org.id, 'rev-b', { samples: all.slice(30) }));
    const stats = await storage.getShadowStats(org.id, 'rev-b');
    assert.deepStrictEqual(stats?.samples, all.slice(-SHADOW_SAMPLE_LIMIT));
  });

  g.it('policy_analysis: concurrent batches are all counted', async (t) => {
    const storage = storageOf(t);
    const org = makeOrg();
    const n = Math.min(g.concurrency, 50);
    await inParallel(n, () => storage.recordShadow(batch(org.id, 'rev-b')));
    const stats = await storage.getShadowStats(org.id, 'rev-b');
    assert.strictEqual(stats?.evaluated, 3 * n);
    assert.strictEqual(stats?.diverged, n);
    assert.deepStrictEqual(stats?.transitions, { 'ALLOW->DENY': n });
    assert.strictEqual(stats?.approved_amount_delta.sum, -100 * n);
  });

  g.it('policy_analysis: replay jobs insert, read in their org only, compare-and-set', async (t) => {
    const storage = storageOf(t);
    const org = makeOrg();
    const j = job(org.id);
    await storage.insertReplayJob(j);
    await rejectsWith(storage.insertReplayJob(j), 'conflict', 'duplicate job id');
    assert.deepStrictEqual(await storage.getReplayJob(org.id, j.id), j);
    assert.strictEqual(await storage.getReplayJob(makeOrg().id, j.id), null, 'another org’s job is a miss');
    assert.strictEqual(await storage.getReplayJob(org.id, 'rpl_missing'), null);
    const done = await storage.updateReplayJob(org.id, j.id, 0, {
      status: 'completed',
      progress: { done: 10, total: 10 },
      id: 'rpl_other',
      org_id: 'org_other',
    });
    assert.strictEqual(done?.status, 'completed');
    assert.strictEqual(done?.version, 1);
    assert.strictEqual(done?.id, j.id, 'the key is never patched');
    assert.strictEqual(done?.org_id, org.id);
    await rejectsWith(storage.updateReplayJob(org.id, j.id, 0, { status: 'failed' }), 'conflict', 'stale version');
    assert.strictEqual(await storage.updateReplayJob(makeOrg().id, j.id, 1, { status: 'failed' }), null);
    assert.strictEqual(await storage.updateReplayJob(org.id, 'rpl_missing', 0, { status: 'failed' }), null);
    assert.deepStrictEqual((await storage.getReplayJob(org.id, j.id))?.progress, { done: 10, total: 10 });
  });

  g.it('policy_analysis: a job write stores its audit drafts with it', async (t) => {
    const storage = storageOf(t);
    if (!t.inspect?.auditOutbox) return;
    const org = makeOrg();
    const j = job(org.id);
    const first = makeAuditDraft(org.id);
    await storage.insertReplayJob(j, [first]);
    const second = makeAuditDraft(org.id, { at: timeAt(2000) });
    await storage.updateReplayJob(org.id, j.id, 0, { status: 'completed' }, [second]);
    await rejectsWith(
      storage.updateReplayJob(org.id, j.id, 0, { status: 'failed' }, [makeAuditDraft(org.id)]),
      'conflict',
      'stale version',
    );
    const ids = (await t.inspect.auditOutbox()).map((d) => d.id).sort();
    assert.deepStrictEqual(ids, [first.id, second.id].sort(), 'a failed write stores no draft');
    const listed = await t.adapter.listAuditOutbox(10);
    assert.deepStrictEqual(listed.map((d) => d.id).sort(), [first.id, second.id].sort(), 'the adapter lists them');
    await t.adapter.ackAuditOutbox(listed);
    assert.deepStrictEqual(await t.adapter.listAuditOutbox(10), []);
  });

  g.it('policy_analysis: the scan returns [from, to) oldest first, ties never skipped, org only', async (t) => {
    const storage = storageOf(t);
    const org = makeOrg();
    const times = [5000, 1000, 3000, 3000, 3000, 0, 9000, 10_000, 3000, 7000];
    const records = await seedAuthorizations(t.adapter, org.id, times);
    await seedAuthorizations(t.adapter, makeOrg().id, [3000, 4000]);
    const inWindow = records
      .filter((r) => r.created_at >= timeAt(1000) && r.created_at < timeAt(9000))
      .map((r) => `${r.processor_id}/${r.authorization_id}`)
      .sort();
    for (const limit of [1, 2, 3, 100]) {
      const got = await scanAll(storage, org.id, timeAt(1000), timeAt(9000), limit);
      const keys = got.map((r) => `${r.processor_id}/${r.authorization_id}`);
      assert.deepStrictEqual([...keys].sort(), inWindow, `limit ${limit}`);
      assert.strictEqual(new Set(keys).size, keys.length, 'no record twice');
      const at = got.map((r) => r.created_at);
      assert.deepStrictEqual(at, [...at].sort(), 'oldest first');
    }
    assert.strictEqual(await storage.countAuthorizations(org.id, timeAt(1000), timeAt(9000), 100), inWindow.length);
    assert.strictEqual(await storage.countAuthorizations(org.id, timeAt(1000), timeAt(9000), 3), 3, 'counts up to cap');
    assert.strictEqual(await storage.countAuthorizations(org.id, timeAt(20_000), timeAt(30_000), 100), 0);
    assert.deepStrictEqual(
      (await storage.scanAuthorizations(org.id, { from: timeAt(9500), to: timeAt(9600), limit: 5 })).items,
      [],
    );
  });
};
