import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  linkAuditEvents,
  makeAgent,
  makeAuditDraft,
  makeCredential,
  makeOrg,
  runAdapterConformance,
  timeAt,
} from '../../adapters/conformance/index.js';
import { createMemoryStores, MemoryAdapter, MemoryCredentialStorage } from '../../adapters/memory/index.js';
import { auditHash } from '../../src/audit/index.js';
import type { AuditEvent } from '../../src/audit/types.js';

const conformance = suite('memory adapter: conformance');

runAdapterConformance(conformance, 'memory', async () => {
  const { store: adapter, credentials, policies, policyAnalysis, quotas, domains } = createMemoryStores();
  return {
    adapter,
    credentials,
    policies,
    policyAnalysis,
    quotas,
    domains,
    inspect: {
      usage: async (orgId, authorityId) => adapter.inspectUsage(orgId, authorityId),
      authorization: async (processorId, id) => adapter.inspectAuthorization(processorId, id),
      raw: async (kind, id) => adapter.inspectEntity(kind, id),
      auditOutbox: async () => adapter.inspectAuditOutbox(),
      auditEvents: async (orgId) => adapter.inspectAuditChain(orgId),
    },
  };
});
conformance.run();

// ---

const memory = suite('memory adapter: audit');

/** An adapter with a chain of `count` linked events in a fresh org. */
async function chained(count: number) {
  const adapter = new MemoryAdapter();
  const org = makeOrg();
  const events = linkAuditEvents(
    Array.from({ length: count }, (_, i) => makeAuditDraft(org.id, { at: timeAt(i * 1000) })),
    null,
  );
  await adapter.appendAuditEvents(org.id, events);
  return { adapter, org, events };
}

memory('the credential storage writes drafts into the outbox it is given; old call forms still work', async () => {
  const { store, credentials } = createMemoryStores({ now: () => Date.parse('2026-01-01T00:00:00.000Z') });
  assert.is(credentials.auditOutbox, store.auditOutbox);
  const org = makeOrg();
  const draft = makeAuditDraft(org.id);
  await credentials.insertCredential(makeCredential(org.id), [draft]);
  assert.equal(await store.listAuditOutbox(10), [draft]);
  assert.ok(Object.isFrozen(draft) && Object.isFrozen(draft.payload), 'stored drafts are frozen');

  const shared = new MemoryCredentialStorage({ outbox: store.auditOutbox });
  const second = makeAuditDraft(org.id, { at: timeAt(1000) });
  await shared.insertCredential(makeCredential(org.id), [second]);
  assert.equal(await store.listAuditOutbox(10), [draft, second]);

  // Without an outbox it keeps its own: nothing reaches an adapter.
  const clock = () => Date.parse('2026-01-01T00:00:00.000Z');
  for (const alone of [new MemoryCredentialStorage(), new MemoryCredentialStorage(clock)]) {
    await alone.insertCredential(makeCredential(org.id), [makeAuditDraft(org.id)]);
    assert.is(alone.auditOutbox.size, 1);
  }
  assert.is((await store.listAuditOutbox(10)).length, 2);
  // The clock form still decides expiry.
  const timed = new MemoryCredentialStorage(clock);
  await timed.insertRevokedToken({
    jti: 'jti_1',
    agent_id: 'agt_1',
    org_id: org.id,
    exp: '2026-01-01T00:00:01.000Z',
    revoked_at: '2025-12-31T23:59:00.000Z',
  });
  assert.is((await timed.listRevokedTokens(0)).length, 1);
});

memory('a long outbox drains in order, out-of-order writes included, and stays compact', async () => {
  const adapter = new MemoryAdapter();
  const org = makeOrg();
  const drafts = Array.from({ length: 5000 }, (_, i) =>
    makeAuditDraft(org.id, { at: timeAt((i % 7 === 3 ? i - 50 : i) * 10) }),
  );
  for (let i = 0; i < drafts.length; i += 10) {
    await adapter.insertAgent(makeAgent(org.id), drafts.slice(i, i + 10));
  }
  const expected = [...drafts].sort((a, b) => (a.at !== b.at ? (a.at < b.at ? -1 : 1) : a.id < b.id ? -1 : 1));
  // Acknowledge out of order too: every other draft of the first page first.
  const first = await adapter.listAuditOutbox(1000);
  await adapter.ackAuditOutbox(first.filter((_, i) => i % 2 === 1));
  const rest = first.filter((_, i) => i % 2 === 0);
  assert.equal(await adapter.listAuditOutbox(500), rest);
  await adapter.ackAuditOutbox(rest);
  const seen = [...first];
  for (;;) {
    const page = await adapter.listAuditOutbox(700);
    if (page.length === 0) break;
    seen.push(...page);
    await adapter.ackAuditOutbox(page);
  }
  assert.equal(
    seen.map((d) => d.id),
    expected.map((d) => d.id),
  );
  assert.is(adapter.auditOutbox.size, 0);
});

memory('tamperAuditEvent changes a stored event in place of its seq, without rehashing', async () => {
  const { adapter, org, events } = await chained(5);
  const e3 = events[2] as AuditEvent;
  const changed = adapter.tamperAuditEvent(org.id, 3, (e) => {
    e.payload = { amount: 1 };
  });
  assert.equal(changed, { ...e3, payload: { amount: 1 } });
  assert.is(changed.hash, e3.hash);
  assert.is.not(auditHash(changed), changed.hash, 'the stored hash no longer matches');
  assert.equal((await adapter.listAuditEvents(org.id, { limit: 10, after_seq: 2, to_seq: 3 }))[0], changed);
  assert.equal(adapter.inspectAuditChain(org.id)[2], changed);
  // A replacement returned by the callback, with another id: found by it, the old id no longer linked.
  adapter.tamperAuditEvent(org.id, 3, (e) => ({ ...e, id: 'evt_forged' }));
  assert.equal(await adapter.findLinkedAuditIds(org.id, [e3.id, 'evt_forged']), ['evt_forged']);
  assert.throws(() => adapter.tamperAuditEvent(org.id, 9, () => undefined), /no audit event at seq 9/);
});

memory('deleteAuditEvent leaves a gap; deleting the head moves it down', async () => {
  const { adapter, org, events } = await chained(5);
  adapter.deleteAuditEvent(org.id, 2);
  assert.equal(
    (await adapter.listAuditEvents(org.id, { limit: 10 })).map((e) => e.seq),
    [1, 3, 4, 5],
  );
  assert.equal(await adapter.findLinkedAuditIds(org.id, [(events[1] as AuditEvent).id]), []);
  assert.equal(await adapter.getAuditHead(org.id), events[4]);
  adapter.deleteAuditEvent(org.id, 5);
  assert.equal(await adapter.getAuditHead(org.id), events[3]);
  // The freed head seq can be linked again; the gap at 2 stays a gap.
  const again = linkAuditEvents([makeAuditDraft(org.id)], events[3] as AuditEvent);
  await adapter.appendAuditEvents(org.id, again);
  assert.equal(await adapter.getAuditHead(org.id), again[0]);
  assert.is(adapter.inspectAuditChain(org.id).length, 4);
  assert.throws(() => adapter.deleteAuditEvent(org.id, 2), /no audit event at seq 2/);
});

memory('swapAuditEvents exchanges the seq of two events and reorders the chain', async () => {
  const { adapter, org, events } = await chained(4);
  const [e1, e2, e3] = events as [AuditEvent, AuditEvent, AuditEvent];
  adapter.swapAuditEvents(org.id, 2, 3);
  const chain = await adapter.listAuditEvents(org.id, { limit: 10 });
  assert.equal(
    chain.map((e) => e.id),
    [e1.id, e3.id, e2.id, (events[3] as AuditEvent).id],
  );
  assert.equal(chain[1], { ...e3, seq: 2 });
  assert.equal(chain[2], { ...e2, seq: 3 });
  assert.equal(await adapter.findLinkedAuditIds(org.id, [e2.id, e3.id]), [e2.id, e3.id]);
  assert.throws(() => adapter.swapAuditEvents(org.id, 1, 7), /no audit event at seq 7/);
});

memory('listAuditEvents reads a seq range of a long chain without walking it', async () => {
  const adapter = new MemoryAdapter();
  const org = makeOrg();
  let head: AuditEvent | null = null;
  for (let i = 0; i < 100; i++) {
    const batch = linkAuditEvents(
      Array.from({ length: 1000 }, () => makeAuditDraft(org.id)),
      head,
    );
    await adapter.appendAuditEvents(org.id, batch);
    head = batch[batch.length - 1] as AuditEvent;
  }
  const started = performance.now();
  let count = 0;
  for (let after = 0; ; ) {
    const page = await adapter.listAuditEvents(org.id, { limit: 1000, after_seq: after });
    if (page.length === 0) break;
    count += page.length;
    after = (page[page.length - 1] as AuditEvent).seq;
  }
  assert.is(count, 100_000);
  const last = await adapter.listAuditEvents(org.id, { limit: 1000, after_seq: 99_990 });
  assert.equal(
    last.map((e) => e.seq),
    Array.from({ length: 10 }, (_, i) => 99_991 + i),
  );
  assert.ok(performance.now() - started < 2000, 'paging 100 pages of 1000 stays fast');
});

memory.run();
