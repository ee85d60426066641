import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import {
  AUDIT_CSV_COLUMNS,
  type AuditEvent,
  auditHash,
  auditHashInput,
  ChainVerifier,
  csvField,
  GENESIS_HASH,
  openAuditExport,
  parseCsvRecord,
  readAuditExport,
  verifyAuditEvents,
  verifyAuditExport,
  verifyStoredChain,
} from '../../src/audit/index.js';
import { createJwsSigner, generateSigningKey, toJwks } from '../../src/crypto/index.js';
import { linkDrafts, makeDrafts, makeLinkedEvents } from '../support/audit-chain.js';
import { assertMatches } from '../support/response-schemas.js';

const ORG = 'org_unit';

function clone(events: AuditEvent[]): AuditEvent[] {
  return structuredClone(events);
}

function rehash(e: AuditEvent): AuditEvent {
  e.hash = auditHash(e);
  return e;
}

const verify = (events: unknown[], options = {}) => {
  const v = new ChainVerifier(options);
  for (const e of events) {
    v.push(e);
    if (v.failed) break;
  }
  return v.result();
};

// ---

const hash = suite('audit hash');

hash('the hash is SHA-256 of the RFC 8785 canonical JSON of every field but hash and linked_at', () => {
  const e: AuditEvent = {
    seq: 1,
    id: 'evt_1',
    org_id: 'org_1',
    at: '2026-03-01T10:00:00.000Z',
    type: 'agent.created',
    actor: 'system',
    subject: { kind: 'agent', id: 'agt_1' },
    agent_id: 'agt_1',
    payload: { name: 'bot "é"', b: 2, a: [1, null] },
    prev_hash: GENESIS_HASH,
    hash: 'ignored',
    linked_at: '2026-03-01T10:00:01.000Z',
  };
  const expected =
    '{"actor":"system","agent_id":"agt_1","at":"2026-03-01T10:00:00.000Z","id":"evt_1","org_id":"org_1",' +
    '"payload":{"a":[1,null],"b":2,"name":"bot \\"é\\""},"prev_hash":"' +
    GENESIS_HASH +
    '","seq":1,"subject":{"id":"agt_1","kind":"agent"},"type":"agent.created"}';
  assert.is(auditHashInput(e), expected);
  assert.is(auditHash(e), createHash('sha256').update(expected, 'utf8').digest('hex'));
  assert.is(auditHash({ ...e, hash: 'x' } as AuditEvent), auditHash(e));
  assert.is.not(auditHash({ ...e, payload: { ...e.payload, b: 3 } }), auditHash(e));
});

hash.run();

// ---

const chain = suite('ChainVerifier');
const ten = makeLinkedEvents(ORG, 10);

chain('an intact chain verifies; head and count are reported', () => {
  const r = verify(ten, { orgId: ORG });
  assert.equal(r, {
    ok: true,
    checked: 10,
    head_seq: 10,
    head_hash: ten[9]?.hash,
    first_bad_seq: null,
    reason: null,
    detail: null,
  });
});

chain('an empty chain verifies with the genesis head', () => {
  const r = verify([]);
  assert.is(r.ok, true);
  assert.is(r.checked, 0);
  assert.is(r.head_seq, 0);
  assert.is(r.head_hash, GENESIS_HASH);
});

chain('a changed event fails at its seq with hash_mismatch; the head is the last good event', () => {
  const events = clone(ten);
  (events[3] as AuditEvent).payload.amount = 1;
  const r = verify(events);
  assert.is(r.ok, false);
  assert.is(r.first_bad_seq, 4);
  assert.is(r.reason, 'hash_mismatch');
  assert.is(r.checked, 3);
  assert.is(r.head_seq, 3);
  assert.is(r.head_hash, ten[2]?.hash);
});

chain('a changed event whose hash was recomputed breaks the link to the next one', () => {
  const events = clone(ten);
  rehash(Object.assign(events[3] as AuditEvent, { actor: 'someone_else' }));
  const r = verify(events);
  assert.is(r.first_bad_seq, 5);
  assert.is(r.reason, 'prev_hash_mismatch');
});

chain('a deleted event is a seq_gap at the missing seq (also the first and several)', () => {
  assert.is(verify(ten.filter((e) => e.seq !== 4)).first_bad_seq, 4);
  assert.is(verify(ten.filter((e) => e.seq !== 4)).reason, 'seq_gap');
  const first = verify(ten.slice(1));
  assert.equal([first.first_bad_seq, first.reason], [1, 'seq_gap']);
  const many = verify(ten.filter((e) => e.seq < 6 || e.seq > 8));
  assert.equal([many.first_bad_seq, many.reason], [6, 'seq_gap']);
  // The head deleted: the chain alone cannot tell (an export checkpoint can).
  const head = verify(ten.slice(0, 9));
  assert.equal([head.ok, head.head_seq], [true, 9]);
});

chain('swapped seq fields, read by seq, fail at the lower seq; swapped positions are out of order', () => {
  const events = clone(ten);
  const a = events[3] as AuditEvent;
  const b = events[4] as AuditEvent;
  [a.seq, b.seq] = [b.seq, a.seq];
  const bySeq = [...events].sort((x, y) => x.seq - y.seq);
  assert.equal([verify(bySeq).first_bad_seq, verify(bySeq).reason], [4, 'hash_mismatch']);
  const moved = [...ten];
  [moved[3], moved[4]] = [moved[4] as AuditEvent, moved[3] as AuditEvent];
  const r = verify(moved);
  assert.equal([r.first_bad_seq, r.reason], [4, 'seq_out_of_order']);
  // The last two swapped: judged at the end.
  const tail = [...ten];
  [tail[8], tail[9]] = [tail[9] as AuditEvent, tail[8] as AuditEvent];
  assert.equal([verify(tail).first_bad_seq, verify(tail).reason], [9, 'seq_out_of_order']);
});

chain('a duplicated event is out of order at the position after it', () => {
  const events = [...ten.slice(0, 4), ten[3] as AuditEvent, ...ten.slice(4)];
  const r = verify(events);
  assert.equal([r.first_bad_seq, r.reason], [5, 'seq_out_of_order']);
});

chain('org_mismatch: against the required org, and an event of another org inside the chain', () => {
  assert.equal(verify(ten, { orgId: 'org_other' }).first_bad_seq, 1);
  assert.equal(verify(ten, { orgId: 'org_other' }).reason, 'org_mismatch');
  const events = clone(ten);
  rehash(Object.assign(events[2] as AuditEvent, { org_id: 'org_other' }));
  assert.equal([verify(events).first_bad_seq, verify(events).reason], [3, 'org_mismatch']);
});

chain('malformed events: missing fields, bad hashes, numbers canonical JSON refuses, non-objects', () => {
  const events = clone(ten);
  delete (events[5] as Partial<AuditEvent>).hash;
  assert.equal([verify(events).first_bad_seq, verify(events).reason], [6, 'malformed_event']);
  const floats = clone(ten);
  (floats[1] as AuditEvent).payload.amount = 1.5;
  assert.equal([verify(floats).first_bad_seq, verify(floats).reason], [2, 'malformed_event']);
  assert.equal(verify([ten[0], null]).first_bad_seq, 2);
  assert.equal(verify([ten[0], 'text']).reason, 'malformed_event');
});

chain('seq 1 must link to the genesis hash', () => {
  const events = clone(ten);
  rehash(Object.assign(events[0] as AuditEvent, { prev_hash: 'a'.repeat(64) }));
  assert.equal([verify(events).first_bad_seq, verify(events).reason], [1, 'prev_hash_mismatch']);
});

chain('a part of a chain: from its first seq, or from a given seq and anchor', () => {
  const part = ten.slice(4);
  const any = verify(part, { fromSeq: null });
  assert.equal([any.ok, any.checked, any.head_seq], [true, 6, 10]);
  assert.ok(verify(part, { fromSeq: 5 }).ok);
  assert.ok(verify(part, { fromSeq: 5, anchor: ten[3]?.hash }).ok);
  const wrong = verify(part, { fromSeq: 5, anchor: ten[2]?.hash });
  assert.equal([wrong.first_bad_seq, wrong.reason], [5, 'prev_hash_mismatch']);
  assert.equal([verify(part).first_bad_seq, verify(part).reason], [1, 'seq_gap']);
  assert.equal(verify([], { fromSeq: 5 }).head_hash, null);
  assert.equal(verify([], { fromSeq: 5 }).head_seq, 4);
});

chain('verifyAuditEvents reads an async iterable and stops at the first failure', async () => {
  let pulled = 0;
  async function* source() {
    for (const e of ten) {
      pulled++;
      yield e.seq === 3 ? { ...e, type: 'changed' } : e;
    }
  }
  const r = await verifyAuditEvents(source());
  assert.equal([r.first_bad_seq, r.reason], [3, 'hash_mismatch']);
  assert.is(pulled, 3);
});

chain.run();

// ---

const stored = suite('verifyStoredChain (memory store, small pages)');

stored('pages are stitched together; tampering at a page boundary is found', async () => {
  const store = new MemoryAdapter();
  await linkDrafts(store, makeDrafts(ORG, 10));
  assert.ok((await verifyStoredChain(store, ORG, { pageSize: 3 })).ok);
  store.swapAuditEvents(ORG, 3, 4);
  const r = await verifyStoredChain(store, ORG, { pageSize: 3 });
  assert.equal([r.first_bad_seq, r.reason, r.checked], [3, 'hash_mismatch', 2]);
  store.swapAuditEvents(ORG, 3, 4);
  store.deleteAuditEvent(ORG, 7);
  const gap = await verifyStoredChain(store, ORG, { pageSize: 3 });
  assert.equal([gap.first_bad_seq, gap.reason, gap.head_seq], [7, 'seq_gap', 6]);
  assert.ok((await verifyStoredChain(store, 'org_empty')).ok);
});

stored.run();

// ---

const csv = suite('CSV fields');

csv('RFC 4180 quoting round-trips', () => {
  const values = ['plain', 'a,b', 'say "hi"', 'two\r\nlines', '', '{"k":"v, w"}'];
  const record = values.map((v) => csvField(v)).join(',');
  assert.equal(parseCsvRecord(record), values);
  assert.is(csvField('x', true), '"x"');
  assert.is(parseCsvRecord('"open'), null);
  assert.is(parseCsvRecord('"a"b'), null);
  assert.equal(parseCsvRecord('a,,'), ['a', '', '']);
});

csv.run();

// ---

const key = generateSigningKey();
const sign = createJwsSigner(key);
const jwks = toJwks([key]);

async function exportText(
  store: MemoryAdapter,
  format: 'json' | 'csv',
  range: { fromSeq?: number; toSeq?: number } = {},
  orgId = ORG,
): Promise<string> {
  const opened = await openAuditExport({ store, orgId, format, sign, now: () => Date.now(), pageSize: 4, ...range });
  const parts: Buffer[] = [];
  for await (const chunk of opened.stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

const fromText = (text: string) => Readable.from([Buffer.from(text)]);
const byLines = (text: string) => text.split('\n');

const exp = suite('export and offline verification (in process)');
let store: MemoryAdapter;
exp.before(async () => {
  store = new MemoryAdapter();
  await linkDrafts(store, makeDrafts(ORG, 11));
});

exp('JSON: one document, one event per line, verifies with the JWKS', async () => {
  const text = await exportText(store, 'json');
  const doc = JSON.parse(text);
  assertMatches('AuditExport', doc);
  assert.is(doc.events.length, 11);
  const lines = byLines(text);
  assert.match(lines[0] as string, /^\{"format":"allowance\.audit\.v1","org_id":"org_unit",.*"events":\[$/);
  assert.is(lines.length, 1 + 11 + 1 + 1);
  assert.ok(lines[11]?.startsWith('{"seq":11'));
  const r = await verifyAuditExport(fromText(text), { jwks });
  assert.is(r.ok, true, JSON.stringify(r));
  assert.equal([r.format, r.org_id, r.checked, r.head_seq], ['json', ORG, 11, 11]);
  assert.is(r.checkpoint.signature, 'valid');
  assert.is(r.checkpoint.kid, key.kid);
  assert.equal(
    { ...r.checkpoint.payload, exported_at: 'x' },
    {
      kind: 'allowance.audit.checkpoint',
      format: 'allowance.audit.v1',
      org_id: ORG,
      from_seq: 1,
      head_seq: 11,
      head_hash: doc.events[10].hash,
      count: 11,
      exported_at: 'x',
    },
  );
  // Read in tiny chunks (UTF-8 split across chunks).
  const bytes = Buffer.from(text);
  const chunks = [];
  for (let i = 0; i < bytes.length; i += 7) chunks.push(bytes.subarray(i, i + 7));
  assert.ok((await verifyAuditExport(Readable.from(chunks), { jwks })).ok);
});

exp('CSV: header, quoted canonical payloads, checkpoint row; verifies with the JWKS', async () => {
  const text = await exportText(store, 'csv');
  assert.ok(text.startsWith(`${AUDIT_CSV_COLUMNS.join(',')}\r\n`));
  assert.ok(text.includes('"{""n"":0,""nested"":{'), 'payload quoted, quotes doubled, keys sorted');
  const last = text.trimEnd().split('\r\n').at(-1) as string;
  assert.match(last, /^checkpoint,[\w-]+\.[\w-]+\.[\w-]+,{11}$/);
  const r = await verifyAuditExport(fromText(text), { jwks });
  assert.is(r.ok, true, JSON.stringify(r));
  assert.equal([r.format, r.org_id, r.checked, r.head_seq, r.checkpoint.signature], ['csv', ORG, 11, 11, 'valid']);
  const items = [];
  for await (const item of readAuditExport(fromText(text))) items.push(item);
  const events = items.filter((i) => i.kind === 'event').map((i) => (i as { event: AuditEvent }).event);
  assert.equal(
    events.map((e) => e.payload),
    makeDrafts(ORG, 11).map((d) => d.payload),
  );
  assert.is(events[1]?.agent_id, null);
});

exp('empty chains and ranges export and verify', async () => {
  for (const format of ['json', 'csv'] as const) {
    const empty = await verifyAuditExport(fromText(await exportText(store, format, {}, 'org_none')), { jwks });
    assert.equal([empty.ok, empty.checked, empty.head_seq, empty.head_hash], [true, 0, 0, GENESIS_HASH]);
    const part = await verifyAuditExport(fromText(await exportText(store, format, { fromSeq: 4, toSeq: 8 })), { jwks });
    assert.equal([part.ok, part.checked, part.head_seq], [true, 5, 8], JSON.stringify(part));
    const beyond = await verifyAuditExport(fromText(await exportText(store, format, { fromSeq: 40 })), { jwks });
    assert.equal([beyond.ok, beyond.checked, beyond.head_seq, beyond.head_hash], [true, 0, 39, null]);
  }
  const doc = JSON.parse(await exportText(store, 'json', {}, 'org_none'));
  assert.equal(doc.events, []);
});

exp('a JSON export reformatted by a tool is still read (whole)', async () => {
  const pretty = JSON.stringify(JSON.parse(await exportText(store, 'json')), null, 2);
  const r = await verifyAuditExport(fromText(pretty), { jwks });
  assert.equal([r.ok, r.checked], [true, 11]);
});

exp('file tampering is named: changed, deleted, swapped lines; cut files; a rewritten chain', async () => {
  const text = await exportText(store, 'json');
  const lines = byLines(text);
  const run = (l: string[], withJwks = true) => verifyAuditExport(fromText(l.join('\n')), withJwks ? { jwks } : {});
  // Line i + 1 holds seq i.
  const changed = [...lines];
  changed[5] = (changed[5] as string).replace('"actor":"key_test"', '"actor":"key_evil"');
  assert.is.not(changed[5], lines[5]);
  let r = await run(changed);
  assert.equal([r.ok, r.first_bad_seq, r.reason], [false, 5, 'hash_mismatch']);
  r = await run(lines.filter((_, i) => i !== 6));
  assert.equal([r.first_bad_seq, r.reason], [6, 'seq_gap']);
  const swapped = [...lines];
  [swapped[6], swapped[7]] = [swapped[7] as string, swapped[6] as string];
  r = await run(swapped);
  assert.equal([r.first_bad_seq, r.reason], [6, 'seq_out_of_order']);
  // Cut after seq 8: no closing line.
  r = await run(lines.slice(0, 9));
  assert.equal([r.first_bad_seq, r.reason, r.checked], [9, 'truncated', 8]);
  // Cut in the middle of seq 9's line.
  r = await run([...lines.slice(0, 9), (lines[9] as string).slice(0, 40)]);
  assert.equal([r.first_bad_seq, r.reason], [9, 'truncated']);
  // The last event removed, the closing line kept: the checkpoint names it.
  const noLast = [...lines.slice(0, 10), (lines[10] as string).replace(/,$/, ''), ...lines.slice(12)];
  r = await run(noLast);
  assert.equal([r.first_bad_seq, r.reason], [11, 'truncated']);
  // Seq 3 rewritten and every later hash recomputed: only the signed checkpoint catches it.
  const events = (JSON.parse(text).events as AuditEvent[]).map((e) => ({ ...e }));
  (events[2] as AuditEvent).payload = { forged: true };
  for (let i = 2; i < events.length; i++) {
    const e = events[i] as AuditEvent;
    if (i > 2) e.prev_hash = (events[i - 1] as AuditEvent).hash;
    rehash(e);
  }
  const forged = [lines[0], ...events.map((e, i) => JSON.stringify(e) + (i < 10 ? ',' : '')), ...lines.slice(12)];
  r = await run(forged as string[]);
  assert.equal([r.ok, r.reason, r.first_bad_seq], [false, 'checkpoint_mismatch', null]);
  // ... and a new checkpoint signed with another key does not pass the JWKS.
  const other = createJwsSigner(generateSigningKey());
  const claims = JSON.parse(
    Buffer.from((JSON.parse(text).checkpoint as string).split('.')[1] as string, 'base64url').toString(),
  );
  const reSigned = other({ ...claims, head_hash: (events[10] as AuditEvent).hash });
  const forged2 = [...(forged as string[]).slice(0, -2), `],"checkpoint":"${reSigned}"}`, ''];
  r = await run(forged2);
  assert.equal(
    [r.ok, r.reason, r.checkpoint.signature, r.checkpoint.problem],
    [false, 'checkpoint_invalid', 'invalid', 'signature: unknown_kid'],
  );
  // Without the JWKS nothing proves who signed: the forgery is consistent.
  assert.is((await run(forged2, false)).ok, true);
});

exp('CSV tampering is named the same way', async () => {
  const text = await exportText(store, 'csv');
  const rows = text.split('\r\n');
  const run = (r: string[]) => verifyAuditExport(fromText(r.join('\r\n')), { jwks });
  const changed = [...rows];
  changed[4] = (changed[4] as string).replace(',key_test,', ',key_evil,');
  assert.is.not(changed[4], rows[4]);
  let r = await run(changed);
  assert.equal([r.first_bad_seq, r.reason], [4, 'hash_mismatch']);
  r = await run(rows.filter((_, i) => i !== 1));
  assert.equal([r.first_bad_seq, r.reason], [1, 'seq_gap']);
  const swapped = [...rows];
  [swapped[2], swapped[3]] = [swapped[3] as string, swapped[2] as string];
  r = await run(swapped);
  assert.equal([r.first_bad_seq, r.reason], [2, 'seq_out_of_order']);
  r = await run(rows.slice(0, 8));
  assert.equal([r.first_bad_seq, r.reason], [8, 'truncated']);
  // The last event row removed, the checkpoint row kept.
  r = await run([...rows.slice(0, 11), ...rows.slice(12)]);
  assert.equal([r.first_bad_seq, r.reason], [11, 'truncated']);
});

exp('backpressure: an export reads the store only as fast as its reader takes bytes', async () => {
  const big = new MemoryAdapter();
  await big.appendAuditEvents('org_big', makeLinkedEvents('org_big', 20_000));
  let calls = 0;
  const reads = new Set<Promise<unknown>>();
  const list = big.listAuditEvents.bind(big);
  big.listAuditEvents = (orgId, query) => {
    calls++;
    const read = list(orgId, query);
    reads.add(read);
    void read.finally(() => reads.delete(read));
    return read;
  };
  /**
   * Awaits the export's store reads until it has none in flight and starts none on the next turn of the
   * event loop (it waits for its reader); an export that kept reading is caught by the bound.
   */
  const settled = async () => {
    for (let turn = 0; turn < 100; turn++) {
      await Promise.allSettled([...reads]);
      // A page pushed into the stream may make it read the next one on a later tick.
      await new Promise<void>((r) => setImmediate(r));
      if (reads.size === 0) return;
    }
    assert.unreachable(`the export kept reading (${calls} pages)`);
  };
  const opened = await openAuditExport({ store: big, orgId: 'org_big', format: 'json', sign, now: Date.now });
  assert.is(calls, 0, 'nothing read before the consumer reads');
  const it = opened.stream[Symbol.asyncIterator]();
  await it.next();
  await settled();
  assert.ok(calls <= 2, `${calls} pages read for one chunk`);
  const closed = new Promise<void>((r) => opened.stream.once('close', () => r()));
  opened.stream.destroy();
  await closed;
  await settled();
  const after = calls;
  await settled();
  assert.is(calls, after, 'a destroyed export stops reading');
  assert.ok(after < 20);
});

exp('not an export: a format error', async () => {
  for (const text of ['', 'hello\n', '{"format":"other","events":[\n],"checkpoint":"x"}\n', 'seq,id\r\n1,2\r\n']) {
    try {
      await verifyAuditExport(fromText(text));
      assert.unreachable(`accepted ${JSON.stringify(text)}`);
    } catch (err) {
      assert.is((err as Error).name, 'ExportFormatError', String(err));
    }
  }
});

exp.run();
