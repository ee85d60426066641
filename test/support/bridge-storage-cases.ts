/**
 * The cases every BridgeStorage must pass (memory and MongoDB run them): one record per org and kind,
 * tenant-scoped reads, compare-and-set on `version`, deletes, and `unavailable` after close.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { BridgeRecord, BridgeStorage } from '../../src/bridges/index.js';
import { isStorageError } from '../../src/storage/index.js';

/** A storage to test and how to dispose of it. */
export interface BridgeStorageTarget {
  storage: BridgeStorage;
  cleanup(): Promise<void>;
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
  const run = (title: string, fn: (storage: BridgeStorage) => Promise<void>) =>
    s(title, async () => {
      const t = await factory();
      try {
        await t.storage.init();
        await t.storage.init();
        await fn(t.storage);
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

  s.run();
}
