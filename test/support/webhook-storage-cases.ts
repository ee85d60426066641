/**
 * The cases every WebhookStorage must pass (memory and MongoDB run them): tenancy, compare-and-set,
 * insert-if-absent of deliveries, the due query with leases, cascading deletes, and audit drafts stored
 * with endpoint writes (listed and acknowledged through the engine adapter built with the storage).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AuditDraft } from '../../src/audit/types.js';
import {
  isStorageError,
  type StorageAdapter,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookStorage,
} from '../../src/storage/index.js';
import { isoTime } from '../../src/util/clock.js';
import { newId } from '../../src/util/ids.js';
import { deliveryId } from '../../src/webhooks/index.js';

/** A storage to test, the engine adapter sharing its audit outbox, and how to dispose of them. */
export interface WebhookStorageTarget {
  storage: WebhookStorage;
  /** The adapter built with the storage (createMemoryStores / createMongoStores), initialized. */
  audit: Pick<StorageAdapter, 'listAuditOutbox' | 'ackAuditOutbox'>;
  cleanup(): Promise<void>;
}

let clock = Date.parse('2026-11-23T10:00:00.000Z');

/** A valid endpoint of `orgId` with a fresh id; override any field. */
export function endpoint(orgId: string, overrides: Partial<WebhookEndpoint> = {}): WebhookEndpoint {
  clock += 1;
  const at = isoTime(clock);
  return {
    id: newId('whk', clock),
    org_id: orgId,
    url: 'https://hooks.example.com/in',
    events: ['*'],
    description: null,
    status: 'active',
    secret_ciphertext: 'v1.a.b.c',
    secret_last4: 'abcd',
    cursor_seq: 0,
    consecutive_failures: 0,
    disabled_at: null,
    created_at: at,
    updated_at: at,
    version: 0,
    ...overrides,
  };
}

function delivery(e: WebhookEndpoint, seq: number, overrides: Partial<WebhookDelivery> = {}): WebhookDelivery {
  const eventId = `evt_${e.id.slice(4)}${seq}`;
  return {
    id: deliveryId(e.id, eventId),
    org_id: e.org_id,
    endpoint_id: e.id,
    event_id: eventId,
    event_type: 'agent.created',
    event_seq: seq,
    payload: { id: eventId, data: { 'dotted.key': 1, $dollar: 'x', nested: [{ a: null }] } },
    status: 'pending',
    attempts: 0,
    attempt_log: [],
    next_attempt_at: '2026-11-23T10:00:00.000Z',
    delivered_at: null,
    created_at: '2026-11-23T10:00:00.000Z',
    updated_at: '2026-11-23T10:00:00.000Z',
    version: 0,
    ...overrides,
  };
}

let draftSerial = 0;

function draft(e: WebhookEndpoint, type: string): AuditDraft {
  clock += 1;
  draftSerial += 1;
  return {
    id: `evt_${String(draftSerial).padStart(6, '0')}${e.id.slice(4)}`,
    org_id: e.org_id,
    at: isoTime(clock),
    type,
    actor: 'key_test',
    subject: { kind: 'webhook', id: e.id },
    agent_id: null,
    payload: { url: e.url, 'dotted.key': 1 },
  };
}

/** The pending drafts of the given ids, as listed (ack needs them as returned). */
async function pending(audit: WebhookStorageTarget['audit'], ids: readonly string[]): Promise<AuditDraft[]> {
  return (await audit.listAuditOutbox(1000)).filter((d) => ids.includes(d.id));
}

/** The drafts without the adapter's `outbox_ref`, for comparing with what was written. */
function bare(drafts: readonly AuditDraft[]): AuditDraft[] {
  return drafts.map(({ outbox_ref: _ref, ...rest }) => rest);
}

async function conflict(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isStorageError(err, 'conflict'), String(err));
    return;
  }
  assert.unreachable('expected a conflict');
}

/** Registers and runs the webhook storage cases against `factory`. */
export function runWebhookStorageCases(name: string, factory: () => Promise<WebhookStorageTarget>): void {
  const s = suite(`webhook storage: ${name}`);
  const run = (title: string, fn: (storage: WebhookStorage, audit: WebhookStorageTarget['audit']) => Promise<void>) =>
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

  run('endpoints: insert once, tenant-scoped reads, newest-first pages, status filter', async (st) => {
    const a1 = endpoint('org_a');
    const a2 = endpoint('org_a', { status: 'disabled' });
    const a3 = endpoint('org_a');
    const b1 = endpoint('org_b');
    for (const e of [a1, a2, a3, b1]) await st.insertEndpoint(e);
    await conflict(st.insertEndpoint(a1));
    assert.equal(await st.getEndpoint('org_a', a1.id), a1);
    assert.is(await st.getEndpoint('org_b', a1.id), null);
    const page1 = await st.listEndpoints('org_a', { limit: 2 });
    assert.equal(
      page1.items.map((e) => e.id),
      [a3.id, a2.id],
    );
    assert.is(page1.next_cursor, a2.id);
    const page2 = await st.listEndpoints('org_a', { limit: 2, cursor: page1.next_cursor ?? '' });
    assert.equal(
      page2.items.map((e) => e.id),
      [a1.id],
    );
    assert.is(page2.next_cursor, null);
    const disabled = await st.listEndpoints('org_a', { limit: 10, status: 'disabled' });
    assert.equal(
      disabled.items.map((e) => e.id),
      [a2.id],
    );
    const active = await st.listActiveEndpoints(null, 2);
    assert.equal(
      active.map((e) => e.id),
      [a1.id, a3.id],
    );
    const rest = await st.listActiveEndpoints(a3.id, 2);
    assert.equal(
      rest.map((e) => e.id),
      [b1.id],
    );
  });

  run('endpoints: compare-and-set on version, cursor CAS, outcomes, delete', async (st) => {
    const e = endpoint('org_a');
    await st.insertEndpoint(e);
    const v1 = await st.updateEndpoint('org_a', e.id, 0, { description: 'x', id: 'whk_other', org_id: 'org_b' });
    assert.equal([v1?.id, v1?.org_id, v1?.description, v1?.version], [e.id, 'org_a', 'x', 1]);
    await conflict(st.updateEndpoint('org_a', e.id, 0, { description: 'y' }));
    assert.is(await st.updateEndpoint('org_b', e.id, 1, { description: 'y' }), null);
    assert.is(await st.updateEndpoint('org_a', 'whk_missing', 0, {}), null);

    assert.is(await st.advanceEndpointCursor('org_a', e.id, 0, 7), true);
    assert.is(await st.advanceEndpointCursor('org_a', e.id, 0, 9), false);
    assert.is(await st.advanceEndpointCursor('org_b', e.id, 7, 9), false);
    const moved = await st.getEndpoint('org_a', e.id);
    assert.equal([moved?.cursor_seq, moved?.version], [7, 2]);

    const f1 = await st.recordEndpointOutcome('org_a', e.id, 'failed', '2026-11-23T11:00:00.000Z');
    const f2 = await st.recordEndpointOutcome('org_a', e.id, 'failed', '2026-11-23T11:00:01.000Z');
    assert.equal([f1?.consecutive_failures, f2?.consecutive_failures, f2?.version], [1, 2, 4]);
    assert.is(f2?.updated_at, '2026-11-23T11:00:01.000Z');
    const okay = await st.recordEndpointOutcome('org_a', e.id, 'delivered', '2026-11-23T11:00:02.000Z');
    assert.is(okay?.consecutive_failures, 0);
    assert.is(await st.recordEndpointOutcome('org_b', e.id, 'failed', '2026-11-23T11:00:03.000Z'), null);

    const d = delivery(e, 1);
    await st.insertDeliveries([d]);
    assert.is(await st.deleteEndpoint('org_b', e.id), null);
    const deleted = await st.deleteEndpoint('org_a', e.id);
    assert.is(deleted?.id, e.id);
    assert.is(await st.getEndpoint('org_a', e.id), null);
    assert.is(await st.getDelivery('org_a', d.id), null);
    assert.is(await st.deleteEndpoint('org_a', e.id), null);
  });

  run('deliveries: insert-if-absent, tenant-scoped, payload round-trips', async (st) => {
    const e = endpoint('org_a');
    await st.insertEndpoint(e);
    const d1 = delivery(e, 1);
    const d2 = delivery(e, 2);
    assert.is(await st.insertDeliveries([d1]), 1);
    assert.is(await st.insertDeliveries([d1, d2, d2]), 1);
    assert.is(await st.insertDeliveries([d1, d2]), 0);
    assert.is(await st.insertDeliveries([]), 0);
    assert.equal(await st.getDelivery('org_a', d1.id), d1);
    assert.is(await st.getDelivery('org_b', d1.id), null);
  });

  run('deliveries: the due query, leases by compare-and-set, final ones leave the queue', async (st) => {
    const e = endpoint('org_a');
    await st.insertEndpoint(e);
    const now = '2026-11-23T12:00:00.000Z';
    const due1 = delivery(e, 1, { next_attempt_at: '2026-11-23T11:00:00.000Z' });
    const due2 = delivery(e, 2, { next_attempt_at: '2026-11-23T10:00:00.000Z' });
    const expired = delivery(e, 3, { status: 'delivering', next_attempt_at: '2026-11-23T11:30:00.000Z' });
    const leased = delivery(e, 4, { status: 'delivering', next_attempt_at: '2026-11-23T12:00:30.000Z' });
    const later = delivery(e, 5, { next_attempt_at: '2026-11-23T12:00:01.000Z' });
    const done = delivery(e, 6, { status: 'delivered', next_attempt_at: null, delivered_at: now });
    await st.insertDeliveries([due1, due2, expired, leased, later, done]);
    const due = await st.listDueDeliveries(now, 10);
    assert.equal(
      due.map((d) => d.event_seq),
      [2, 1, 3],
    );
    assert.equal(
      (await st.listDueDeliveries(now, 2)).map((d) => d.event_seq),
      [2, 1],
    );
    assert.is(await st.nextDeliveryDueAt(), '2026-11-23T10:00:00.000Z');

    // Two dispatchers race for one lease: exactly one wins.
    const lease = { status: 'delivering' as const, attempts: 1, next_attempt_at: '2026-11-23T12:01:00.000Z' };
    const results = await Promise.allSettled([
      st.updateDelivery(due2.id, 0, lease),
      st.updateDelivery(due2.id, 0, lease),
    ]);
    assert.is(results.filter((r) => r.status === 'fulfilled').length, 1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(isStorageError(rejected.reason, 'conflict'));
    assert.is(await st.updateDelivery('whd_missing', 0, lease), null);

    const delivered = await st.updateDelivery(due2.id, 1, {
      status: 'delivered',
      next_attempt_at: null,
      delivered_at: now,
      attempt_log: [{ at: now, status_code: 200, error: null, duration_ms: 5 }],
      endpoint_id: 'whk_other',
      event_id: 'evt_other',
    });
    assert.equal(
      [delivered?.status, delivered?.version, delivered?.endpoint_id, delivered?.event_id],
      ['delivered', 2, e.id, due2.event_id],
    );
    assert.equal(delivered?.attempt_log, [{ at: now, status_code: 200, error: null, duration_ms: 5 }]);
    assert.equal(
      (await st.listDueDeliveries(now, 10)).map((d) => d.event_seq),
      [1, 3],
    );
    assert.is(await st.nextDeliveryDueAt(), '2026-11-23T11:00:00.000Z');
    // A patch of the status alone keeps the queue consistent too.
    await st.updateDelivery(due1.id, 0, { status: 'failed' });
    await st.updateDelivery(expired.id, 0, { status: 'failed' });
    assert.equal(
      (await st.listDueDeliveries('2026-11-23T13:00:00.000Z', 10)).map((d) => d.event_seq),
      [5, 4],
    );
    const back = await st.updateDelivery(leased.id, 0, { next_attempt_at: '2026-11-23T09:00:00.000Z' });
    assert.is(back?.status, 'delivering');
    assert.is(await st.nextDeliveryDueAt(), '2026-11-23T09:00:00.000Z');
  });

  run('deliveries: the log pages newest event first, filters by status', async (st) => {
    const e = endpoint('org_a');
    const other = endpoint('org_a');
    await st.insertEndpoint(e);
    await st.insertEndpoint(other);
    await st.insertDeliveries([
      ...[1, 2, 3, 4, 5].map((seq) => delivery(e, seq, seq === 2 ? { status: 'failed', next_attempt_at: null } : {})),
      delivery(other, 9),
    ]);
    const p1 = await st.listDeliveries('org_a', e.id, { limit: 2 });
    assert.equal(
      p1.items.map((d) => d.event_seq),
      [5, 4],
    );
    const p2 = await st.listDeliveries('org_a', e.id, { limit: 2, cursor: p1.next_cursor ?? '' });
    assert.equal(
      p2.items.map((d) => d.event_seq),
      [3, 2],
    );
    const p3 = await st.listDeliveries('org_a', e.id, { limit: 2, cursor: p2.next_cursor ?? '' });
    assert.equal([p3.items.map((d) => d.event_seq), p3.next_cursor], [[1], null]);
    const failed = await st.listDeliveries('org_a', e.id, { limit: 10, status: 'failed' });
    assert.equal(
      failed.items.map((d) => d.event_seq),
      [2],
    );
    assert.equal((await st.listDeliveries('org_b', e.id, { limit: 10 })).items, []);
    assert.equal((await st.listDeliveries('org_a', e.id, { limit: 10, cursor: 'junk' })).items, []);
  });

  run(
    'audit drafts: stored with insert and disable, once, none on a failed write, ack removes them',
    async (st, audit) => {
      const e = endpoint('org_a');
      const created = draft(e, 'webhook.created');
      await st.insertEndpoint(e, [created]);
      assert.equal(await st.getEndpoint('org_a', e.id), e);
      const lost = draft(e, 'webhook.created');
      await conflict(st.insertEndpoint(e, [lost]));

      const stale = draft(e, 'webhook.disabled');
      await conflict(st.updateEndpoint('org_a', e.id, 5, { status: 'disabled' }, [stale]));
      const missed = draft(e, 'webhook.disabled');
      assert.is(await st.updateEndpoint('org_b', e.id, 0, { status: 'disabled' }, [missed]), null);
      assert.is(await st.updateEndpoint('org_a', 'whk_missing', 0, { status: 'disabled' }, [missed]), null);

      const at = '2026-11-23T11:00:00.000Z';
      const disabledDraft = draft(e, 'webhook.disabled');
      const disabled = await st.updateEndpoint(
        'org_a',
        e.id,
        0,
        { status: 'disabled', disabled_at: at, updated_at: at },
        [disabledDraft],
      );
      assert.equal(disabled, { ...e, status: 'disabled', disabled_at: at, updated_at: at, version: 1 });
      assert.equal(await st.getEndpoint('org_a', e.id), disabled);
      assert.equal((await st.listEndpoints('org_a', { limit: 10 })).items, [disabled]);
      assert.equal(await st.listActiveEndpoints(null, 10), []);
      // Later writes without drafts keep the pending ones.
      await st.recordEndpointOutcome('org_a', e.id, 'failed', at);
      await st.advanceEndpointCursor('org_a', e.id, 0, 3);

      const ids = [created, lost, stale, missed, disabledDraft].map((d) => d.id);
      const listed = await pending(audit, ids);
      assert.equal(bare(listed), [created, disabledDraft]);

      await audit.ackAuditOutbox(listed.slice(0, 1));
      assert.equal(bare(await pending(audit, ids)), [disabledDraft]);
      await audit.ackAuditOutbox(await pending(audit, ids));
      assert.equal(await pending(audit, ids), []);
      const after = await st.getEndpoint('org_a', e.id);
      assert.equal([after?.status, after?.cursor_seq, after?.consecutive_failures], ['disabled', 3, 1]);
    },
  );

  run(
    'audit drafts: stored with delete; the endpoint is gone everywhere, before and after the ack',
    async (st, audit) => {
      const e = endpoint('org_a');
      const kept = endpoint('org_a');
      await st.insertEndpoint(e);
      await st.insertEndpoint(kept);
      const d1 = delivery(e, 1);
      const d2 = delivery(e, 2, { status: 'delivered', next_attempt_at: null, delivered_at: e.created_at });
      const other = delivery(kept, 1);
      await st.insertDeliveries([d1, d2, other]);

      const missed = draft(e, 'webhook.deleted');
      assert.is(await st.deleteEndpoint('org_b', e.id, [missed]), null);
      const deletedDraft = draft(e, 'webhook.deleted');
      assert.equal(await st.deleteEndpoint('org_a', e.id, [deletedDraft]), e);
      const again = draft(e, 'webhook.deleted');
      assert.is(await st.deleteEndpoint('org_a', e.id, [again]), null);

      const gone = async () => {
        assert.is(await st.getEndpoint('org_a', e.id), null);
        assert.equal(
          (await st.listEndpoints('org_a', { limit: 10 })).items.map((x) => x.id),
          [kept.id],
        );
        assert.equal(
          (await st.listActiveEndpoints(null, 10)).map((x) => x.id),
          [kept.id],
        );
        assert.is(await st.updateEndpoint('org_a', e.id, 0, { description: 'x' }), null);
        assert.is(await st.advanceEndpointCursor('org_a', e.id, 0, 5), false);
        assert.is(await st.recordEndpointOutcome('org_a', e.id, 'failed', e.created_at), null);
        assert.is(await st.getDelivery('org_a', d1.id), null);
        assert.is(await st.getDelivery('org_a', d2.id), null);
        assert.equal((await st.listDeliveries('org_a', e.id, { limit: 10 })).items, []);
        assert.equal(
          (await st.listDueDeliveries('2026-11-24T00:00:00.000Z', 10)).map((d) => d.id),
          [other.id],
        );
        assert.equal(await st.getDelivery('org_a', other.id), other);
      };
      await gone();

      const ids = [missed.id, deletedDraft.id, again.id];
      const listed = await pending(audit, ids);
      assert.equal(bare(listed), [deletedDraft]);
      await audit.ackAuditOutbox(listed);
      assert.equal(await pending(audit, ids), []);
      await gone();
      // A deletion without drafts still deletes.
      assert.equal(await st.deleteEndpoint('org_a', kept.id), kept);
      assert.equal((await st.listEndpoints('org_a', { limit: 10 })).items, []);
    },
  );

  s.run();
}
