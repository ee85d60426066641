import * as assert from 'node:assert/strict';
import type { AuditDraft, AuditEvent, AuditQuery } from '../../../src/audit/types.js';
import { type StorageAdapter, StorageError } from '../../../src/storage/index.js';
import { countOf, inParallel, rejectsWith, tryMutate } from '../assertions.js';
import {
  linkAuditEvents,
  makeAgent,
  makeAuditDraft,
  makeAuthority,
  makeAuthorization,
  makeBinding,
  makeCredential,
  makeIntent,
  makeOrg,
  makeProcessor,
  makeRevocation,
  orderedId,
  timeAt,
} from '../fixtures.js';
import { seedTenant } from '../seed.js';
import type { ConformanceGroup, ConformanceTarget } from '../types.js';

/** The outbox order: `at`, then `id`. */
function byAge(drafts: readonly AuditDraft[]): AuditDraft[] {
  return [...drafts].sort((a, b) => (a.at !== b.at ? (a.at < b.at ? -1 : 1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A draft as written: without the adapter's `outbox_ref`. */
function bare(d: AuditDraft): AuditDraft {
  const { outbox_ref: _ref, ...rest } = d;
  return rest;
}

/** A draft of `orgId` at `seconds` after the base time. */
function draftAt(orgId: string, seconds: number, overrides: Partial<AuditDraft> = {}): AuditDraft {
  return makeAuditDraft(orgId, { at: timeAt(seconds * 1000), ...overrides });
}

/** Every pending draft, oldest first, read directly when the target can, else through the adapter. */
async function pending({ adapter, inspect }: ConformanceTarget): Promise<AuditDraft[]> {
  const drafts = inspect?.auditOutbox ? await inspect.auditOutbox() : await adapter.listAuditOutbox(1000);
  return byAge(drafts.map(bare));
}

/** Lists `limit` at a time and acknowledges each page until the outbox is empty; the drafts in listed order. */
async function drain(adapter: StorageAdapter, limit: number): Promise<AuditDraft[]> {
  const out: AuditDraft[] = [];
  for (let pages = 0; pages < 1000; pages++) {
    const page = await adapter.listAuditOutbox(limit);
    assert.ok(page.length <= limit, 'outbox page longer than limit');
    if (page.length === 0) return out;
    out.push(...page);
    await adapter.ackAuditOutbox(page);
  }
  throw new Error('the outbox did not drain');
}

/** Appends, mapping a `conflict` to 'lost' and success to 'won'; any other failure fails the case. */
function attempt(adapter: StorageAdapter, orgId: string, events: AuditEvent[]): Promise<'won' | 'lost'> {
  return adapter.appendAuditEvents(orgId, events).then(
    () => 'won' as const,
    (err) => {
      assert.ok(err instanceof StorageError && err.code === 'conflict', `expected conflict, got ${String(err)}`);
      return 'lost' as const;
    },
  );
}

/** The org's whole chain through the adapter, paging by seq. */
async function chainOf(adapter: StorageAdapter, orgId: string, limit = 1000): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for (let pages = 0; pages < 10_000; pages++) {
    const last = out[out.length - 1];
    const page = await adapter.listAuditEvents(orgId, { limit, ...(last ? { after_seq: last.seq } : {}) });
    out.push(...page);
    if (page.length < limit) return out;
  }
  throw new Error('chain paging did not end');
}

/** The audit outbox (drafts stored with writes) and the per-org audit chain. */
export const auditGroup: ConformanceGroup = (g) => {
  let notedNoCredentials = false;

  g.it('outbox: drafts of every write are listed once each, oldest first; reads stay clean', async (t) => {
    const { adapter, inspect } = t;
    const org = makeOrg();
    const processor = makeProcessor();
    await adapter.insertProcessor(processor);
    // `at` out of write order, with a tie (ordered by id) and a payload whose keys need escaping.
    const seconds = [50, 10, 30, 10, 70, 20, 60, 40, 80, 0, 90, 5, 35];
    const made: AuditDraft[] = [];
    const next = (extra: Partial<AuditDraft> = {}) => {
      const d = draftAt(org.id, seconds[made.length] ?? 100 + made.length, extra);
      made.push(d);
      return d;
    };
    await adapter.insertOrg(org, [next({ type: 'org.created', payload: { 'a.b': 1, $c: { '%': true }, '': [] } })]);
    const agent = makeAgent(org.id, { metadata: { 'team.name': 'ops' } });
    await adapter.insertAgent(agent, [next(), next()]);
    const renamed = await adapter.updateAgent(org.id, agent.id, 0, { name: 'renamed' }, [next()]);
    const authority = makeAuthority(org.id, agent.id);
    await adapter.insertAuthority(authority, [next()]);
    const suspended = await adapter.updateAuthority(org.id, authority.id, 0, { status: 'paused' }, [next()]);
    const binding = makeBinding(org.id, agent.id, authority.id, processor.id);
    await adapter.insertBinding(binding, [next()]);
    const revoked = await adapter.updateBinding(org.id, binding.id, 0, { status: 'revoked' }, [next()]);
    const intent = makeIntent(org.id, agent.id);
    await adapter.insertIntent(intent, [next()]);
    const cancelled = await adapter.updateIntent(org.id, intent.id, 0, { status: 'cancelled' }, [next()]);
    const record = makeAuthorization(processor.id, org.id, { agent_id: agent.id });
    assert.deepStrictEqual(await adapter.claimAuthorization(record, [next()]), { created: true });
    const approved = await adapter.updateAuthorization(
      processor.id,
      record.authorization_id,
      { version: 0 },
      { status: 'approved' },
      [next()],
    );
    await adapter.appendAuditDrafts([next({ type: 'simulation.authorization' })]);

    const expected = byAge(made);
    const listed = await adapter.listAuditOutbox(100);
    assert.deepStrictEqual(listed.map(bare), expected);
    assert.deepStrictEqual(
      (await adapter.listAuditOutbox(5)).map((d) => d.id),
      expected.slice(0, 5).map((d) => d.id),
    );
    assert.deepStrictEqual(await pending(t), expected);

    // Pending drafts never show in what the adapter returns.
    assert.deepStrictEqual(renamed, { ...agent, name: 'renamed', version: 1 });
    assert.deepStrictEqual(await adapter.getOrg(org.id), org);
    assert.deepStrictEqual(await adapter.getAgent(org.id, agent.id), renamed);
    assert.deepStrictEqual((await adapter.listAgents(org.id, { limit: 10 })).items, [renamed]);
    assert.deepStrictEqual(await adapter.getAuthority(org.id, authority.id), suspended);
    assert.deepStrictEqual(await adapter.getBinding(org.id, binding.id), revoked);
    assert.deepStrictEqual(await adapter.findBinding(processor.id, { id: binding.id }), revoked);
    assert.strictEqual(await adapter.findBinding(processor.id, { reference: binding.credential.reference }), null);
    assert.deepStrictEqual(await adapter.getIntent(org.id, intent.id), cancelled);
    assert.deepStrictEqual(cancelled?.status, 'cancelled');
    assert.deepStrictEqual(await adapter.getAuthorization(processor.id, record.authorization_id), approved);
    assert.deepStrictEqual((await adapter.listAuthorizations(org.id, { limit: 10 })).items, [approved]);
    if (inspect) {
      assert.deepStrictEqual(await inspect.raw('agent', agent.id), renamed);
      assert.deepStrictEqual(await inspect.raw('org', org.id), org);
      assert.deepStrictEqual(await inspect.authorization(processor.id, record.authorization_id), approved);
    }
    // A binding revoked with drafts pending frees its reference.
    const again = makeBinding(org.id, agent.id, authority.id, processor.id, { credential: binding.credential });
    await adapter.insertBinding(again);
    assert.deepStrictEqual(await adapter.findBinding(processor.id, { reference: binding.credential.reference }), again);
  });

  g.it('outbox: a failed write stores no draft', async (t) => {
    const { adapter } = t;
    const { org, agent, authority } = await seedTenant(adapter);
    const other = await seedTenant(adapter);
    const processor = makeProcessor();
    await adapter.insertProcessor(processor);
    const binding = makeBinding(org.id, agent.id, authority.id, processor.id);
    const intent = makeIntent(org.id, agent.id);
    const record = makeAuthorization(processor.id, org.id);
    await adapter.insertBinding(binding);
    await adapter.insertIntent(intent);
    await adapter.claimAuthorization(record);
    const d = () => [makeAuditDraft(org.id)];

    await rejectsWith(adapter.insertOrg(org, d()), 'conflict', 'insertOrg twice');
    await rejectsWith(adapter.insertAgent(agent, d()), 'conflict', 'insertAgent twice');
    await rejectsWith(adapter.insertAuthority(authority, d()), 'conflict', 'insertAuthority twice');
    await rejectsWith(adapter.insertIntent(intent, d()), 'conflict', 'insertIntent twice');
    await rejectsWith(adapter.insertBinding(binding, d()), 'conflict', 'insertBinding twice');
    await rejectsWith(
      adapter.insertBinding({ ...binding, id: orderedId('bnd') }, d()),
      'conflict',
      'insertBinding of a bound reference',
    );
    await rejectsWith(adapter.updateAgent(org.id, agent.id, 7, { name: 'x' }, d()), 'conflict', 'stale agent');
    await rejectsWith(
      adapter.updateAuthority(org.id, authority.id, 7, { status: 'paused' }, d()),
      'conflict',
      'stale authority',
    );
    await rejectsWith(
      adapter.updateBinding(org.id, binding.id, 7, { status: 'suspended' }, d()),
      'conflict',
      'stale binding',
    );
    await rejectsWith(
      adapter.updateIntent(org.id, intent.id, 7, { status: 'cancelled' }, d()),
      'conflict',
      'stale intent',
    );
    await rejectsWith(
      adapter.updateAuthorization(processor.id, record.authorization_id, { version: 7 }, { status: 'approved' }, d()),
      'conflict',
      'stale authorization',
    );
    assert.strictEqual(await adapter.updateAgent(org.id, 'agt_missing', 0, { name: 'x' }, d()), null);
    assert.strictEqual(await adapter.updateAgent(other.org.id, agent.id, 0, { name: 'x' }, d()), null);
    assert.strictEqual(await adapter.updateAuthority(org.id, 'sa_missing', 0, { status: 'paused' }, d()), null);
    assert.strictEqual(await adapter.updateBinding(other.org.id, binding.id, 0, { status: 'revoked' }, d()), null);
    assert.strictEqual(await adapter.updateIntent(org.id, 'int_missing', 0, { status: 'cancelled' }, d()), null);
    assert.strictEqual(await adapter.updateAuthorization(processor.id, 'pa_missing', { version: 0 }, {}, d()), null);
    const claim = await adapter.claimAuthorization({ ...record, amount: 1 }, d());
    assert.deepStrictEqual(claim, { created: false, existing: record });

    assert.deepStrictEqual(await adapter.listAuditOutbox(100), []);
    assert.deepStrictEqual(await pending(t), []);
    // The same writes succeed with their drafts.
    const ok = makeAuditDraft(org.id);
    await adapter.updateAgent(org.id, agent.id, 0, { name: 'x' }, [ok]);
    assert.deepStrictEqual((await adapter.listAuditOutbox(100)).map(bare), [ok]);
  });

  g.it('outbox: ack removes listed drafts; acking again, unknown drafts or none is harmless', async (t) => {
    const { adapter } = t;
    const { org } = await seedTenant(adapter);
    const agent = makeAgent(org.id);
    const a = draftAt(org.id, 1);
    const b = draftAt(org.id, 2);
    const c = draftAt(org.id, 3);
    const s = draftAt(org.id, 4);
    await adapter.insertAgent(agent, [a]);
    const updated = await adapter.updateAgent(org.id, agent.id, 0, { name: 'n' }, [b, c]);
    await adapter.appendAuditDrafts([s]);
    const listed = await adapter.listAuditOutbox(100);
    assert.deepStrictEqual(listed.map(bare), [a, b, c, s]);
    await adapter.ackAuditOutbox(listed.slice(0, 2));
    assert.deepStrictEqual((await adapter.listAuditOutbox(100)).map(bare), [c, s]);
    await adapter.ackAuditOutbox(listed);
    assert.deepStrictEqual(await adapter.listAuditOutbox(100), []);
    assert.deepStrictEqual(await pending(t), []);
    await adapter.ackAuditOutbox(listed);
    await adapter.ackAuditOutbox([]);
    await adapter.ackAuditOutbox([
      makeAuditDraft(org.id),
      { ...makeAuditDraft(org.id), outbox_ref: 'not a reference' },
      { ...a, outbox_ref: '["nowhere",1]' },
    ]);
    assert.deepStrictEqual(await adapter.listAuditOutbox(100), []);
    assert.deepStrictEqual(await adapter.getAgent(org.id, agent.id), updated);
    // The document still takes drafts after its own were acknowledged.
    const d = draftAt(org.id, 5);
    await adapter.updateAgent(org.id, agent.id, 1, { name: 'm' }, [d]);
    assert.deepStrictEqual((await drain(adapter, 10)).map(bare), [d]);
  });

  g.it('outbox: a draft written to a document between list and ack is not lost', async (t) => {
    const { adapter } = t;
    const { org } = await seedTenant(adapter);
    const processor = makeProcessor();
    await adapter.insertProcessor(processor);
    const agent = makeAgent(org.id);
    const record = makeAuthorization(processor.id, org.id);
    const d1 = draftAt(org.id, 1);
    const e1 = draftAt(org.id, 2);
    await adapter.insertAgent(agent, [d1]);
    await adapter.claimAuthorization(record, [e1]);
    const listed = await adapter.listAuditOutbox(100);
    assert.deepStrictEqual(listed.map(bare), [d1, e1]);
    const d2 = draftAt(org.id, 3);
    const e2 = draftAt(org.id, 0);
    await adapter.updateAgent(org.id, agent.id, 0, { name: 'n' }, [d2]);
    await adapter.updateAuthorization(processor.id, record.authorization_id, { version: 0 }, { attempt: 2 }, [e2]);
    await adapter.ackAuditOutbox(listed);
    assert.deepStrictEqual((await adapter.listAuditOutbox(100)).map(bare), [e2, d2]);

    // Writers pushing drafts into one document while a chainer lists and acks: each draft once, none lost.
    const written: string[] = [];
    let writing = true;
    const writer = (async () => {
      try {
        for (let v = 1; v <= 40; v++) {
          const d = draftAt(org.id, 10 + v);
          await adapter.updateAgent(org.id, agent.id, v, { name: `n${v}` }, [d]);
          written.push(d.id);
        }
      } finally {
        writing = false;
      }
    })();
    const acked: string[] = [];
    for (let rounds = 0; rounds < 10_000; rounds++) {
      const stillWriting = writing;
      const page = await adapter.listAuditOutbox(3);
      acked.push(...page.map((d) => d.id));
      await adapter.ackAuditOutbox(page);
      if (!stillWriting && page.length === 0) break;
      await new Promise((r) => setImmediate(r));
    }
    await writer;
    assert.deepStrictEqual([...acked].sort(), [e2.id, d2.id, ...written].sort());
    assert.deepStrictEqual(await pending(t), []);
  });

  g.it('outbox: oldest first across documents and pages, also after partial acks', async (t) => {
    const { adapter } = t;
    const { org } = await seedTenant(adapter);
    const a = makeAgent(org.id);
    const a1 = draftAt(org.id, 1);
    const a2 = draftAt(org.id, 100);
    await adapter.insertAgent(a, [a1]);
    await adapter.updateAgent(org.id, a.id, 0, { name: 'n' }, [a2]);
    const others: AuditDraft[] = [];
    for (let i = 0; i < 10; i++) {
      const d = draftAt(org.id, 2 + i);
      others.push(d);
      await adapter.insertAgent(makeAgent(org.id), [d]);
    }
    // Same `at` in two documents: ordered by id.
    const tieA = draftAt(org.id, 7, { id: `${orderedId('evt')}_a` });
    const tieB = draftAt(org.id, 7, { id: tieA.id.replace(/_a$/, '_b') });
    await adapter.insertAgent(makeAgent(org.id), [tieB]);
    await adapter.insertAgent(makeAgent(org.id), [tieA]);
    const s1 = draftAt(org.id, 1.5);
    const s2 = draftAt(org.id, 50);
    await adapter.appendAuditDrafts([s2, s1]);
    const expected = byAge([a1, a2, ...others, tieA, tieB, s1, s2]);

    const first = await adapter.listAuditOutbox(1);
    assert.deepStrictEqual(first.map(bare), [a1]);
    await adapter.ackAuditOutbox(first);
    // The document of a1 still holds a2, the newest: it must not come early.
    const second = await adapter.listAuditOutbox(5);
    assert.deepStrictEqual(second.map(bare), expected.slice(1, 6));
    await adapter.ackAuditOutbox(second);
    const rest = await drain(adapter, 3);
    assert.deepStrictEqual([...first, ...second, ...rest].map(bare), expected);
  });

  g.it('appendAuditDrafts: listed; an id already pending or linked is ignored', async (t) => {
    const { adapter } = t;
    const org = makeOrg();
    const [a, b, c, d] = [1, 2, 3, 4].map((s) => draftAt(org.id, s)) as [
      AuditDraft,
      AuditDraft,
      AuditDraft,
      AuditDraft,
    ];
    await adapter.appendAuditDrafts([a, b]);
    await adapter.appendAuditDrafts([{ ...a, payload: { changed: ['other'] } }, c, c]);
    await adapter.appendAuditDrafts([]);
    assert.deepStrictEqual((await adapter.listAuditOutbox(100)).map(bare), [a, b, c]);
    await adapter.appendAuditEvents(org.id, linkAuditEvents([d], null));
    await adapter.appendAuditDrafts([d]);
    assert.deepStrictEqual((await adapter.listAuditOutbox(100)).map(bare), [a, b, c]);
    assert.deepStrictEqual(await pending(t), [a, b, c]);
  });

  g.it('chain: events link on top of the head and read back equal; linked ids; copies', async (t) => {
    const { adapter, inspect } = t;
    const org = makeOrg();
    assert.strictEqual(await adapter.getAuditHead(org.id), null);
    assert.deepStrictEqual(await adapter.listAuditEvents(org.id, { limit: 10 }), []);
    const drafts = [1, 2, 3, 4, 5].map((s) => draftAt(org.id, s));
    drafts[2] = { ...(drafts[2] as AuditDraft), payload: { 'a.b': 1, $x: { '%': [1, 'two', null, true] }, '': 'e' } };
    drafts[3] = { ...(drafts[3] as AuditDraft), agent_id: null, subject: { kind: 'org', id: org.id } };
    const events = linkAuditEvents(drafts, null);
    await adapter.appendAuditEvents(org.id, events.slice(0, 2));
    assert.deepStrictEqual(await adapter.getAuditHead(org.id), events[1]);
    await adapter.appendAuditEvents(org.id, events.slice(2));
    await adapter.appendAuditEvents(org.id, []);
    const head = (await adapter.getAuditHead(org.id)) as AuditEvent;
    assert.deepStrictEqual(head, events[4]);
    assert.deepStrictEqual(await adapter.listAuditEvents(org.id, { limit: 100 }), events);
    const ids = events.map((e) => e.id);
    const found = await adapter.findLinkedAuditIds(org.id, [ids[0] as string, ids[3] as string, 'evt_missing']);
    assert.deepStrictEqual([...found].sort(), [ids[0], ids[3]].sort());
    assert.deepStrictEqual(await adapter.findLinkedAuditIds(org.id, []), []);
    tryMutate(head);
    assert.deepStrictEqual(await adapter.getAuditHead(org.id), events[4]);
    const listed = await adapter.listAuditEvents(org.id, { limit: 100 });
    tryMutate(listed[2] as AuditEvent);
    assert.deepStrictEqual(await adapter.listAuditEvents(org.id, { limit: 100 }), events);
    if (inspect?.auditEvents) assert.deepStrictEqual(await inspect.auditEvents(org.id), events);
  });

  g.it('chain: a taken seq or a linked id is a conflict and changes no stored event', async (t) => {
    const { adapter } = t;
    const org = makeOrg();
    const drafts = [1, 2, 3].map((s) => draftAt(org.id, s));
    const events = linkAuditEvents(drafts, null);
    await adapter.appendAuditEvents(org.id, events);
    const [e1, e2, e3] = events as [AuditEvent, AuditEvent, AuditEvent];
    const takenSeq = linkAuditEvents([draftAt(org.id, 9)], e2)[0] as AuditEvent;
    assert.strictEqual(takenSeq.seq, 3);
    await rejectsWith(adapter.appendAuditEvents(org.id, [takenSeq]), 'conflict', 'taken seq');
    const takenId = linkAuditEvents([drafts[0] as AuditDraft], e3)[0] as AuditEvent;
    assert.strictEqual(takenId.seq, 4);
    await rejectsWith(adapter.appendAuditEvents(org.id, [takenId]), 'conflict', 'linked id');
    assert.deepStrictEqual(await adapter.listAuditEvents(org.id, { limit: 100 }), events);
    assert.deepStrictEqual(await adapter.getAuditHead(org.id), e3);
    assert.deepStrictEqual(await adapter.findLinkedAuditIds(org.id, [takenSeq.id]), []);

    // A batch with a taken seq in the middle: the ones after it are not linked, stored ones stay.
    const [e4, e5] = linkAuditEvents([draftAt(org.id, 4), draftAt(org.id, 5)], e3) as [AuditEvent, AuditEvent];
    const clash = { ...(linkAuditEvents([draftAt(org.id, 6)], e1)[0] as AuditEvent) };
    await rejectsWith(adapter.appendAuditEvents(org.id, [e4, clash, e5]), 'conflict', 'batch with a taken seq');
    assert.deepStrictEqual(await adapter.findLinkedAuditIds(org.id, [clash.id, e5.id]), []);
    assert.deepStrictEqual(await adapter.listAuditEvents(org.id, { limit: 3 }), events);
    const head = (await adapter.getAuditHead(org.id)) as AuditEvent;
    assert.ok(head.id === e3.id || head.id === e4.id, 'the head is the last stored event');
  });

  g.it('chain: tenancy — another org’s events are never returned', async (t) => {
    const { adapter } = t;
    const a = makeOrg();
    const b = makeOrg();
    const empty = makeOrg();
    const eventsA = linkAuditEvents(
      [1, 2, 3].map((s) => draftAt(a.id, s)),
      null,
    );
    const eventsB = linkAuditEvents(
      [1, 2, 3].map((s) => draftAt(b.id, s)),
      null,
    );
    // The same seq numbers in two orgs are two chains.
    await adapter.appendAuditEvents(a.id, eventsA);
    await adapter.appendAuditEvents(b.id, eventsB);
    assert.deepStrictEqual(await adapter.getAuditHead(a.id), eventsA[2]);
    assert.deepStrictEqual(await adapter.getAuditHead(b.id), eventsB[2]);
    assert.deepStrictEqual(await adapter.listAuditEvents(b.id, { limit: 100 }), eventsB);
    assert.deepStrictEqual(
      await adapter.findLinkedAuditIds(
        b.id,
        eventsA.map((e) => e.id),
      ),
      [],
    );
    const subject = (eventsA[0] as AuditEvent).subject.id;
    assert.deepStrictEqual(await adapter.listAuditEvents(b.id, { limit: 100, subject_id: subject }), []);
    const agent = (eventsA[1] as AuditEvent).agent_id as string;
    assert.deepStrictEqual(await adapter.listAuditEvents(b.id, { limit: 100, agent_id: agent }), []);
    assert.strictEqual(await adapter.getAuditHead(empty.id), null);
    assert.deepStrictEqual(await adapter.listAuditEvents(empty.id, { limit: 100, after_seq: 0 }), []);
  });

  g.it('chain: filters and seq paging', async (t) => {
    const { adapter } = t;
    const org = makeOrg();
    const other = makeOrg();
    const types = ['agent.updated', 'authorization.approved', 'authorization.declined'];
    const agents = ['agt_one', 'agt_two', null];
    const subjects = ['pa_1', 'pa_2', 'pa_3', 'pa_4'];
    const drafts = Array.from({ length: 40 }, (_, i) =>
      draftAt(org.id, i, {
        type: types[i % 3] as string,
        agent_id: agents[i % 3 === 0 ? 2 : i % 2] ?? null,
        subject: { kind: 'authorization', id: subjects[i % 4] as string },
      }),
    );
    const events = linkAuditEvents(drafts, null);
    await adapter.appendAuditEvents(org.id, events.slice(0, 25));
    await adapter.appendAuditEvents(org.id, events.slice(25));
    await adapter.appendAuditEvents(other.id, linkAuditEvents([draftAt(other.id, 3, { type: 'agent.updated' })], null));

    for (const limit of [1, 7, 40, 1000]) assert.deepStrictEqual(await chainOf(adapter, org.id, limit), events);
    const select = (q: AuditQuery) =>
      events
        .filter(
          (e) =>
            (q.after_seq === undefined || e.seq > q.after_seq) &&
            (q.to_seq === undefined || e.seq <= q.to_seq) &&
            (q.type === undefined || e.type === q.type) &&
            (q.agent_id === undefined || e.agent_id === q.agent_id) &&
            (q.subject_id === undefined || e.subject.id === q.subject_id) &&
            (q.from === undefined || e.at >= q.from) &&
            (q.to === undefined || e.at < q.to),
        )
        .slice(0, q.limit);
    const queries: AuditQuery[] = [
      { limit: 100, after_seq: 10, to_seq: 15 },
      { limit: 3, after_seq: 10, to_seq: 15 },
      { limit: 100, after_seq: 40 },
      { limit: 100, to_seq: 0 },
      { limit: 100, after_seq: 20, to_seq: 20 },
      { limit: 100, type: 'authorization.approved' },
      { limit: 4, type: 'authorization.declined', after_seq: 9 },
      { limit: 100, agent_id: 'agt_one' },
      { limit: 100, agent_id: 'agt_two', to_seq: 30 },
      { limit: 100, subject_id: 'pa_3' },
      { limit: 100, from: timeAt(5000), to: timeAt(9000) },
      { limit: 100, from: timeAt(38_000) },
      { limit: 100, to: timeAt(2000) },
      { limit: 2, subject_id: 'pa_2', type: 'agent.updated', from: timeAt(1000), after_seq: 2 },
      { limit: 100, type: 'token.issued' },
    ];
    for (const q of queries)
      assert.deepStrictEqual(await adapter.listAuditEvents(org.id, q), select(q), JSON.stringify(q));
    // Paging a filter by seq: every match once, in order.
    const matches: AuditEvent[] = [];
    for (let after = 0, pages = 0; pages < 100; pages++) {
      const page = await adapter.listAuditEvents(org.id, { limit: 2, type: 'agent.updated', after_seq: after });
      matches.push(...page);
      if (page.length < 2) break;
      after = (page[page.length - 1] as AuditEvent).seq;
    }
    assert.deepStrictEqual(matches, select({ limit: 100, type: 'agent.updated' }));
  });

  g.it('chain: of N concurrent appenders of seq head + 1 exactly one wins per seq', async (t) => {
    const { adapter } = t;
    const org = makeOrg();
    const n = Math.max(2, Math.min(g.concurrency, 50));
    const winners: string[] = [];
    for (let round = 0; round < 3; round++) {
      const head = await adapter.getAuditHead(org.id);
      const candidates = Array.from(
        { length: n },
        (_, i) => linkAuditEvents([draftAt(org.id, round * 100 + i)], head)[0] as AuditEvent,
      );
      const outcomes = await inParallel(n, (i) => attempt(adapter, org.id, [candidates[i] as AuditEvent]));
      assert.strictEqual(countOf(outcomes, 'won'), 1, `round ${round}: ${countOf(outcomes, 'won')} winners`);
      const winner = candidates[outcomes.indexOf('won')] as AuditEvent;
      assert.strictEqual(winner.seq, round + 1);
      assert.deepStrictEqual(await adapter.getAuditHead(org.id), winner);
      winners.push(winner.id);
    }
    const chain = await adapter.listAuditEvents(org.id, { limit: 100 });
    assert.deepStrictEqual(
      chain.map((e) => e.id),
      winners,
    );
  });

  g.it('chain: appenders that retry on conflict build one gapless chain', async (t) => {
    const { adapter } = t;
    const org = makeOrg();
    const m = Math.max(2, Math.min(g.concurrency, 20));
    const drafts = Array.from({ length: m }, (_, i) => draftAt(org.id, i));
    await inParallel(m, async (i) => {
      for (let tries = 0; tries < 10 * m; tries++) {
        const head = await adapter.getAuditHead(org.id);
        const event = linkAuditEvents([drafts[i] as AuditDraft], head)[0] as AuditEvent;
        if ((await attempt(adapter, org.id, [event])) === 'won') return;
      }
      throw new Error(`appender ${i} never linked its event`);
    });
    const chain = await chainOf(adapter, org.id);
    assert.deepStrictEqual(
      chain.map((e) => e.seq),
      Array.from({ length: m }, (_, i) => i + 1),
    );
    for (let i = 1; i < chain.length; i++) {
      assert.strictEqual((chain[i] as AuditEvent).prev_hash, (chain[i - 1] as AuditEvent).hash, `link at seq ${i + 1}`);
    }
    assert.deepStrictEqual(chain.map((e) => e.id).sort(), drafts.map((d) => d.id).sort());
  });

  g.it('outbox: drafts of credential writes land in the adapter’s outbox', async (t) => {
    const { adapter, credentials } = t;
    if (!credentials) {
      if (!notedNoCredentials) {
        console.log('  (audit: the target has no credential storage; credential drafts not checked)');
        notedNoCredentials = true;
      }
      return;
    }
    const org = makeOrg();
    const cred = makeCredential(org.id);
    const c1 = draftAt(org.id, 3, { type: 'credential.created' });
    const c2 = draftAt(org.id, 1, { type: 'credential.revoked' });
    const c3 = draftAt(org.id, 2, { type: 'token.revoked' });
    const rev = makeRevocation(timeAt(0), new Date(Date.now() + 3_600_000).toISOString(), { org_id: org.id });
    await credentials.insertCredential(cred, [c1]);
    const revokedAt = timeAt(1000);
    const revoked = await credentials.updateCredential(cred.key_id, 0, { status: 'revoked', revoked_at: revokedAt }, [
      c2,
    ]);
    await credentials.insertRevokedToken(rev, [c3]);
    // Failed or no-op writes store none.
    const x = () => [makeAuditDraft(org.id)];
    await rejectsWith(credentials.insertCredential(cred, x()), 'conflict', 'insertCredential twice');
    await rejectsWith(credentials.updateCredential(cred.key_id, 0, { name: 'x' }, x()), 'conflict', 'stale');
    assert.strictEqual(await credentials.updateCredential('key_missing', 0, { name: 'x' }, x()), null);
    await credentials.insertRevokedToken(rev, x());

    const listed = await adapter.listAuditOutbox(100);
    assert.deepStrictEqual(listed.map(bare), [c2, c3, c1]);
    assert.deepStrictEqual(await pending(t), [c2, c3, c1]);
    assert.deepStrictEqual(revoked, { ...cred, status: 'revoked', revoked_at: revokedAt, version: 1 });
    assert.deepStrictEqual(await credentials.getCredential(cred.key_id), revoked);
    assert.deepStrictEqual((await credentials.listCredentials(org.id, { limit: 10 })).items, [revoked]);
    assert.deepStrictEqual(
      (await credentials.listRevokedTokens(0)).filter((r) => r.agent_id === rev.agent_id).map(({ seq: _s, ...r }) => r),
      [rev],
    );

    // A draft written to the credential between list and ack survives the ack.
    const c4 = draftAt(org.id, 4);
    const used = await credentials.updateCredential(cred.key_id, 1, { last_used_at: timeAt(2000) }, [c4]);
    await adapter.ackAuditOutbox(listed);
    assert.deepStrictEqual((await adapter.listAuditOutbox(100)).map(bare), [c4]);
    await adapter.ackAuditOutbox(await adapter.listAuditOutbox(100));
    assert.deepStrictEqual(await adapter.listAuditOutbox(100), []);
    assert.deepStrictEqual(await credentials.getCredential(cred.key_id), used);
    assert.deepStrictEqual(
      (await credentials.listRevokedTokens(0)).filter((r) => r.agent_id === rev.agent_id).map(({ seq: _s, ...r }) => r),
      [rev],
    );
  });
};
