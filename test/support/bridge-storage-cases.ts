/**
 * The cases every BridgeStorage must pass (memory, MongoDB and SQLite run them): one record per org and kind,
 * tenant-scoped reads, compare-and-set on `version`, deletes, and audit drafts stored with each write (listed
 * and acknowledged through the engine adapter built with the storage).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AuditDraft } from '../../src/audit/types.js';
import type { BridgeRecord, BridgeStorage } from '../../src/bridges/index.js';
import { isStorageError, type StorageAdapter } from '../../src/storage/index.js';

/** A storage to test, the engine adapter sharing its audit outbox, and how to dispose of them. */
export interface BridgeStorageTarget {
  storage: BridgeStorage;
  /** The adapter built with the storage (createMemoryStores / createMongoStores / createSqliteStores), initialized. */
  audit: Pick<StorageAdapter, 'listAuditOutbox' | 'ackAuditOutbox'>;
  cleanup(): Promise<void>;
}

let draftSerial = 0;

function draft(orgId: string, type: string): AuditDraft {
  draftSerial += 1;
  return {
    id: `evt_bridge${String(draftSerial).padStart(6, '0')}`,
    org_id: orgId,
    at: `2026-11-30T06:00:00.${String(draftSerial % 1000).padStart(3, '0')}Z`,
    type,
    actor: 'key_test',
    subject: { kind: 'bridge', id: `${orgId}/stripe_issuing` },
    agent_id: null,
    payload: { processor: 'stripe_issuing', secret_id: 'bsk_01a', 'dotted.key': 1 },
  };
}

/** The pending drafts of the given ids, as listed (ack needs them as returned). */
async function pending(audit: BridgeStorageTarget['audit'], ids: readonly string[]): Promise<AuditDraft[]> {
  return (await audit.listAuditOutbox(1000)).filter((d) => ids.includes(d.id));
}

function bare(drafts: readonly AuditDraft[]): AuditDraft[] {
  return drafts.map(({ outbox_ref: _ref, ...rest }) => rest);
}

function bridgeRecord(orgId: string, overrides: Partial<BridgeRecord> = {}): BridgeRecord {
  return {
    org_id: orgId,
    kind: 'stripe_issuing',
    processor_id: 'prc_01bridge',
    secrets: [
      {
        id: 'bsk_01a',
        ciphertext: 'v2.k.iv.ct.tag',
        last4: 'abcd',
        created_at: '2026-11-30T05:00:00.000Z',
        expires_at: null,
      },
    ],
    created_at: '2026-11-30T05:00:00.000Z',
    updated_at: '2026-11-30T05:00:00.000Z',
    version: 1,
    ...overrides,
  };
}

export function runBridgeStorageCases(name: string, factory: () => Promise<BridgeStorageTarget>): void {
  const s = suite(`bridge storage: ${name}`);
  const run = (title: string, fn: (storage: BridgeStorage, audit: BridgeStorageTarget['audit']) => Promise<void>) =>
    s(title, async () => {
      const t = await factory();
      try {
        await t.storage.init();
        await t.storage.init();
        await fn(t.storage, t.audit);
      } finally {
        await t.cleanup();
      }
    });

  run('create once per org and kind; reads are scoped to the org', async (st) => {
    const a = bridgeRecord('org_a');
    await st.create(a);
    assert.equal(await st.get('org_a', 'stripe_issuing'), a);
    assert.is(await st.get('org_b', 'stripe_issuing'), null);
    try {
      await st.create(bridgeRecord('org_a', { processor_id: 'prc_02other' }));
      assert.unreachable('a second create is a conflict');
    } catch (err) {
      assert.ok(isStorageError(err, 'conflict'), String(err));
    }
    assert.equal(await st.get('org_a', 'stripe_issuing'), a, 'the first record is kept whole');
    await st.create(bridgeRecord('org_b'));
    assert.is((await st.get('org_b', 'stripe_issuing'))?.org_id, 'org_b');
  });

  run('replace is a compare-and-set on version', async (st) => {
    const a = bridgeRecord('org_a');
    await st.create(a);
    const next: BridgeRecord = {
      ...a,
      secrets: [
        { ...(a.secrets[0] as BridgeRecord['secrets'][0]), id: 'bsk_02b', last4: 'wxyz' },
        { ...(a.secrets[0] as BridgeRecord['secrets'][0]), expires_at: '2026-12-01T05:00:00.000Z' },
      ],
      version: 2,
    };
    assert.is(await st.replace(next, 1), true);
    assert.equal(await st.get('org_a', 'stripe_issuing'), next);
    assert.is(await st.replace({ ...next, processor_id: 'prc_03lost', version: 3 }, 1), false, 'a stale version loses');
    assert.equal(await st.get('org_a', 'stripe_issuing'), next);
    assert.is(await st.replace(bridgeRecord('org_c', { version: 2 }), 1), false, 'nothing to replace');
    assert.is(await st.get('org_c', 'stripe_issuing'), null, 'replace never creates');
  });

  run('delete removes the org record only; a second delete finds nothing', async (st) => {
    await st.create(bridgeRecord('org_a'));
    await st.create(bridgeRecord('org_b'));
    assert.is(await st.delete('org_a', 'stripe_issuing'), true);
    assert.is(await st.delete('org_a', 'stripe_issuing'), false);
    assert.is(await st.get('org_a', 'stripe_issuing'), null);
    assert.ok(await st.get('org_b', 'stripe_issuing'));
  });

  run('an org keeps one record per kind: Stripe Issuing and Lithic ASA never overwrite each other', async (st) => {
    const stripe = bridgeRecord('org_a');
    const lithic = bridgeRecord('org_a', { kind: 'lithic_asa', processor_id: 'prc_02lithic' });
    await st.create(stripe);
    await st.create(lithic);
    assert.equal(await st.get('org_a', 'stripe_issuing'), stripe);
    assert.equal(await st.get('org_a', 'lithic_asa'), lithic);
    assert.ok(await st.replace({ ...lithic, processor_id: 'prc_03lithic', version: 2 }, 1));
    assert.equal(await st.get('org_a', 'stripe_issuing'), stripe, 'the other kind is untouched by a replace');
    assert.is(await st.delete('org_a', 'lithic_asa'), true);
    assert.equal(await st.get('org_a', 'stripe_issuing'), stripe, 'nor by a delete');
    assert.is(await st.get('org_a', 'lithic_asa'), null);
  });

  run('stored records are copies: changing what was passed in or read changes nothing stored', async (st) => {
    const a = bridgeRecord('org_a');
    await st.create(a);
    a.processor_id = 'prc_99changed';
    const read = (await st.get('org_a', 'stripe_issuing')) as BridgeRecord;
    assert.is(read.processor_id, 'prc_01bridge');
    try {
      (read.secrets[0] as { last4: string }).last4 = 'zzzz';
    } catch {
      // frozen
    }
    assert.is((await st.get('org_a', 'stripe_issuing'))?.secrets[0]?.last4, 'abcd');
  });

  run(
    'audit drafts: stored with create, replace and delete, none on a conflict or a miss; ack removes them',
    async (st, audit) => {
      const a = bridgeRecord('org_a');
      const registered = draft('org_a', 'bridge.registered');
      await st.create(a, [registered]);
      const lost = draft('org_a', 'bridge.registered');
      try {
        await st.create(bridgeRecord('org_a'), [lost]);
        assert.unreachable('a second create is a conflict');
      } catch (err) {
        assert.ok(isStorageError(err, 'conflict'), String(err));
      }
      const stale = draft('org_a', 'bridge.secret_rotated');
      assert.is(await st.replace({ ...a, version: 3 }, 2, [stale]), false);
      const missed = draft('org_a', 'bridge.secret_rotated');
      assert.is(await st.replace(bridgeRecord('org_z', { version: 2 }), 1, [missed]), false);
      const rotated = draft('org_a', 'bridge.secret_rotated');
      const next = { ...a, updated_at: '2026-11-30T06:00:00.000Z', version: 2 };
      assert.is(await st.replace(next, 1, [rotated]), true);
      assert.equal(await st.get('org_a', 'stripe_issuing'), next, 'drafts are not part of the record');
      const noBridge = draft('org_a', 'bridge.deleted');
      assert.is(await st.delete('org_a', 'lithic_asa', [noBridge]), false);
      const deleted = draft('org_a', 'bridge.deleted');
      assert.is(await st.delete('org_a', 'stripe_issuing', [deleted]), true);
      assert.is(await st.get('org_a', 'stripe_issuing'), null, 'gone at once, drafts pending or not');
      assert.is(await st.delete('org_a', 'stripe_issuing', [noBridge]), false, 'a second delete finds nothing');
      assert.is(await st.replace({ ...next, version: 3 }, 2, [missed]), false, 'nor does a replace');

      // Registering again before the deletion's draft is linked: the new record, every draft kept.
      const again = draft('org_a', 'bridge.registered');
      const b = bridgeRecord('org_a', { processor_id: 'prc_02again' });
      await st.create(b, [again]);
      assert.equal(await st.get('org_a', 'stripe_issuing'), b);

      const ids = [registered, lost, stale, missed, rotated, noBridge, deleted, again].map((d) => d.id);
      const listed = await pending(audit, ids);
      assert.equal(
        bare(listed).sort((x, y) => x.id.localeCompare(y.id)),
        [registered, rotated, deleted, again],
      );
      await audit.ackAuditOutbox(listed);
      assert.equal(await pending(audit, ids), []);
      assert.equal(await st.get('org_a', 'stripe_issuing'), b, 'the ack leaves the live record alone');

      // A deletion acknowledged: nothing of it is left, and the org can register once more.
      const lastDelete = draft('org_a', 'bridge.deleted');
      assert.is(await st.delete('org_a', 'stripe_issuing', [lastDelete]), true);
      await audit.ackAuditOutbox(await pending(audit, [lastDelete.id]));
      assert.equal(await pending(audit, [lastDelete.id]), []);
      assert.is(await st.get('org_a', 'stripe_issuing'), null);
      await st.create(a);
      assert.equal(await st.get('org_a', 'stripe_issuing'), a);
    },
  );

  s.run();
}
