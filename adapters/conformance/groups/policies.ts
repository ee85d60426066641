import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { PolicyBundleRecord, PolicyStorage } from '../../../src/storage/index.js';
import { makeAuditDraft, makeOrg, timeAt } from '../fixtures.js';
import type { ConformanceGroup, ConformanceTarget } from '../types.js';

function storageOf(target: ConformanceTarget): PolicyStorage {
  if (!target.policies) throw new Error('the policies group needs target.policies');
  return target.policies;
}

function bundle(orgId: string | null, revision: string, content = revision, at = timeAt(0)): PolicyBundleRecord {
  const bytes = new TextEncoder().encode(`bundle ${content}`);
  return {
    org_id: orgId,
    revision,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size_bytes: bytes.length,
    entrypoints: ['allowance/spend/decision', 'allowance/intent/decision'],
    uploaded_at: at,
    uploaded_by: 'key_1',
    retired_at: null,
    bytes,
  };
}

/** Policy bundles, per-org states changed by compare-and-set, the change sequence (PolicyStorage). */
export const policiesGroup: ConformanceGroup = (g) => {
  g.it(
    'policies: a bundle is stored once per (org, revision): same content exists, other content conflicts',
    async (t) => {
      const s = storageOf(t);
      const org = makeOrg();
      const first = await s.insertBundle(bundle(org.id, 'r1'));
      assert.strictEqual(first.status, 'inserted');
      assert.strictEqual((await s.insertBundle(bundle(org.id, 'r1'))).status, 'exists');
      const other = await s.insertBundle(bundle(org.id, 'r1', 'changed'));
      assert.strictEqual(other.status, 'conflict');
      assert.strictEqual(other.bundle.sha256, first.bundle.sha256, 'the stored bundle is kept');
      assert.deepStrictEqual(await s.getBundleBytes(org.id, 'r1'), new TextEncoder().encode('bundle r1'));
      // The same revision in another org or as a base bundle is another bundle.
      assert.strictEqual((await s.insertBundle(bundle(makeOrg().id, 'r1', 'x'))).status, 'inserted');
      assert.strictEqual((await s.insertBundle(bundle(null, 'r1', 'y'))).status, 'inserted');
      assert.strictEqual((await s.getBundle(org.id, 'r1'))?.sha256, first.bundle.sha256);
      assert.strictEqual(await s.getBundle(org.id, 'r2'), null);
      assert.strictEqual(await s.getBundleBytes(org.id, 'r2'), null);
      assert.strictEqual(await s.getBundle(makeOrg().id, 'r1'), null, "another org's revision is a miss");
    },
  );

  g.it('policies: metadata reads carry no bytes and equal what was written', async (t) => {
    const s = storageOf(t);
    const org = makeOrg();
    const b = bundle(org.id, 'rev-a');
    await s.insertBundle(b);
    const { bytes: _bytes, ...meta } = b;
    assert.deepStrictEqual(await s.getBundle(org.id, 'rev-a'), meta);
  });

  g.it('policies: bundles list newest first, paged, one org only', async (t) => {
    const s = storageOf(t);
    const org = makeOrg();
    for (let i = 0; i < 5; i++) await s.insertBundle(bundle(org.id, `r${i}`, `r${i}`, timeAt(i * 1000)));
    await s.insertBundle(bundle(makeOrg().id, 'z', 'z', timeAt(9000)));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await s.listBundles(org.id, { limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((b) => b.revision));
      if (page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    assert.deepStrictEqual(seen, ['r4', 'r3', 'r2', 'r1', 'r0']);
  });

  g.it('policies: retire sets retired_at once; a miss is null', async (t) => {
    const s = storageOf(t);
    const org = makeOrg();
    await s.insertBundle(bundle(org.id, 'r1'));
    assert.strictEqual((await s.retireBundle(org.id, 'r1', timeAt(1000)))?.retired_at, timeAt(1000));
    assert.strictEqual((await s.retireBundle(org.id, 'r1', timeAt(2000)))?.retired_at, timeAt(1000));
    assert.strictEqual(await s.retireBundle(org.id, 'nope', timeAt(1000)), null);
  });

  g.it('policies: states change by compare-and-set and move the change sequence', async (t) => {
    const s = storageOf(t);
    const org = makeOrg();
    const empty = await s.getState(org.id);
    assert.strictEqual(empty.version, 0);
    assert.strictEqual(empty.active, null);
    const seq0 = await s.changeSequence();
    const change = { active: 'r1', shadow: null, previous: [null], activated_at: timeAt(0), signing_key: null };
    const v1 = await s.updateState(org.id, 0, change);
    assert.strictEqual(v1?.version, 1);
    assert.strictEqual(v1?.active, 'r1');
    assert.ok((await s.changeSequence()) > seq0, 'the sequence moved');
    assert.strictEqual(
      await s.updateState(org.id, 0, { ...change, active: 'r2' }),
      null,
      'a stale version writes nothing',
    );
    const read = await s.getState(org.id);
    assert.deepStrictEqual(read, { org_id: org.id, ...change, version: 1 });
    const v2 = await s.updateState(org.id, 1, { ...change, active: 'r2', previous: [null, 'r1'] });
    assert.deepStrictEqual(v2?.previous, [null, 'r1']);
    const seq2 = await s.changeSequence();
    assert.strictEqual(await s.updateState(org.id, 1, change), null);
    assert.strictEqual(await s.changeSequence(), seq2, 'a lost compare-and-set does not move the sequence');
    const base = await s.updateState(null, 0, { ...change, active: 'base-1', previous: [] });
    assert.strictEqual(base?.org_id, null);
    const states = await s.listStates();
    assert.ok(states.some((x) => x.org_id === org.id && x.active === 'r2'));
    assert.ok(states.some((x) => x.org_id === null && x.active === 'base-1'));
  });

  g.it('policies: two servers racing to promote different revisions: one wins, both converge', async (t) => {
    const a = storageOf(t);
    const b = t.policiesPeer ?? a;
    const org = makeOrg();
    await a.insertBundle(bundle(org.id, 'ra'));
    await a.insertBundle(bundle(org.id, 'rb'));
    for (let round = 0; round < 5; round++) {
      const [sa, sb] = await Promise.all([a.getState(org.id), b.getState(org.id)]);
      assert.strictEqual(sa.version, sb.version);
      const promote = (s: PolicyStorage, rev: string, from: typeof sa) =>
        s.updateState(org.id, from.version, {
          active: rev,
          shadow: null,
          previous: [...from.previous, from.active],
          activated_at: timeAt(round),
          signing_key: null,
        });
      const [wa, wb] = await Promise.all([promote(a, 'ra', sa), promote(b, 'rb', sb)]);
      assert.ok((wa === null) !== (wb === null), 'exactly one compare-and-set wins');
      const winner = (wa ?? wb)?.active;
      const [ra, rb] = await Promise.all([a.getState(org.id), b.getState(org.id)]);
      assert.strictEqual(ra.active, winner);
      assert.strictEqual(rb.active, winner);
      assert.strictEqual(ra.version, sa.version + 1);
      assert.deepStrictEqual(ra, rb, 'both servers read the same state');
    }
  });

  g.it(
    'policies: drafts of bundle and state writes land in the outbox with the write, not with a lost one',
    async (t) => {
      const s = storageOf(t);
      if (!t.inspect?.auditOutbox) return;
      const org = makeOrg();
      const d1 = makeAuditDraft(org.id, { at: timeAt(1) });
      const d2 = makeAuditDraft(org.id, { at: timeAt(2) });
      const d3 = makeAuditDraft(org.id, { at: timeAt(3) });
      await s.insertBundle(bundle(org.id, 'r1'), [d1]);
      await s.insertBundle(bundle(org.id, 'r1', 'other'), [d3]);
      const change = { active: 'r1', shadow: null, previous: [null], activated_at: timeAt(0), signing_key: null };
      await s.updateState(org.id, 0, change, [d2]);
      await s.updateState(org.id, 0, change, [d3]);
      const ids = (await t.inspect.auditOutbox()).map((d) => d.id).sort();
      assert.deepStrictEqual(ids, [d1.id, d2.id].sort());
    },
  );
};
