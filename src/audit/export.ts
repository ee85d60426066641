import { Readable } from 'node:stream';
import { isoTime } from '../util/clock.js';
import { AUDIT_PAGE_SIZE, type AuditChainReader, cleanAuditEvent, readStoredEvents } from './read.js';
import { type AuditEvent, GENESIS_HASH } from './types.js';

/** The `format` of an export document (JSON) and of the checkpoint. */
export const AUDIT_EXPORT_FORMAT = 'allowance.audit.v1';

/** The `kind` claim of a checkpoint: no other signed object of the engine carries it. */
export const AUDIT_CHECKPOINT_KIND = 'allowance.audit.checkpoint';

/**
 * Columns of the CSV export, in order. `org_id` and `linked_at` come last so the first eleven are the same in
 * every version; `org_id` is needed to recompute a hash from a row alone.
 */
export const AUDIT_CSV_COLUMNS = [
  'seq',
  'id',
  'at',
  'type',
  'actor',
  'subject_kind',
  'subject_id',
  'agent_id',
  'payload',
  'prev_hash',
  'hash',
  'org_id',
  'linked_at',
] as const;

/** The first field of the CSV row that carries the checkpoint (its JWS is in the `id` column). */
export const CSV_CHECKPOINT_MARKER = 'checkpoint';

/**
 * What the checkpoint of an export signs (compact JWS, EdDSA, `kid` of the JWKS): exactly what the file holds.
 * `head_seq`/`head_hash` are the last exported event's; with no event, `head_seq` is `from_seq - 1` and
 * `head_hash` the genesis hash from seq 1, otherwise null.
 */
export interface AuditCheckpoint {
  kind: typeof AUDIT_CHECKPOINT_KIND;
  format: typeof AUDIT_EXPORT_FORMAT;
  org_id: string;
  from_seq: number;
  head_seq: number;
  head_hash: string | null;
  count: number;
  exported_at: string;
}

/** Export formats. */
export type AuditExportFormat = 'json' | 'csv';

/** Options of {@link openAuditExport}. */
export interface AuditExportOptions {
  store: AuditChainReader;
  orgId: string;
  format: AuditExportFormat;
  /** Signs the checkpoint: the engine's signer (`engine.sign`). */
  sign: (payload: object) => string;
  /** Milliseconds since the epoch: stamps `exported_at`. */
  now: () => number;
  /** First seq exported (inclusive). Default 1. */
  fromSeq?: number;
  /** Last seq exported (inclusive). Default: the head when the export starts. */
  toSeq?: number;
  /** Events per storage call. Default 1000. */
  pageSize?: number;
}

/** An export ready to stream. */
export interface OpenedAuditExport {
  /** Byte stream of the file; nothing is read from the store before the consumer reads. */
  stream: Readable;
  contentType: string;
  /** A file name for Content-Disposition. */
  filename: string;
  /** The last seq the export will include (events linked after it started are left out). */
  toSeq: number;
  exportedAt: string;
}

const NEEDS_QUOTES = /[",\r\n]/;

/** Events per chunk of the stream: ~50 KB, small enough to stay out of V8's large-object space. */
const CHUNK_EVENTS = 100;

/** One CSV field as RFC 4180 writes it: quoted (quotes doubled) when it holds a comma, a quote or a line break. */
export function csvField(value: string, alwaysQuote = false): string {
  return alwaysQuote || NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * One CSV record (without its CRLF) of an event. `payload` is its RFC 8785 canonical JSON in a quoted field;
 * an `agent_id` of null is an empty field.
 */
export function eventToCsvRecord(e: AuditEvent): string {
  return [
    String(e.seq),
    csvField(e.id),
    csvField(e.at),
    csvField(e.type),
    csvField(e.actor),
    csvField(e.subject?.kind ?? ''),
    csvField(e.subject?.id ?? ''),
    e.agent_id === null || e.agent_id === undefined ? '' : csvField(e.agent_id),
    csvField(sortedJson(e.payload), true),
    csvField(e.prev_hash),
    csvField(e.hash),
    csvField(e.org_id),
    csvField(e.linked_at ?? ''),
  ].join(',');
}

/**
 * RFC 8785 canonical JSON: JSON.stringify already writes strings and numbers the way RFC 8785 wants
 * (ECMAScript serialization), so sorting object keys by UTF-16 code units is all that is left. Unlike
 * canonicalJson it does not refuse floats (only tampering puts one in a payload; the export still writes it).
 */
function sortedJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) out[k] = (v as Record<string, unknown>)[k];
      return out;
    }
    return v;
  });
}

/**
 * Opens an export of an org's chain. Reads the head first (so a store failure is an ordinary error, before
 * any byte is sent), then returns a stream that reads the store one page at a time as the consumer reads
 * (backpressure: a slow client holds one page, never the chain).
 *
 * JSON layout, one JSON document that is also line-oriented (what the offline verifier relies on):
 * ```
 * {"format":"allowance.audit.v1","org_id":"org_…","exported_at":"…","from_seq":1,"to_seq":null,"events":[
 * {…event seq 1…},
 * {…event seq 2…}
 * ],"checkpoint":"<compact JWS>"}
 * ```
 * CSV: a header row of {@link AUDIT_CSV_COLUMNS}, one row per event, then one row `checkpoint,<JWS>,,…`.
 */
export async function openAuditExport(options: AuditExportOptions): Promise<OpenedAuditExport> {
  const fromSeq = options.fromSeq ?? 1;
  const head = await options.store.getAuditHead(options.orgId);
  const headSeq = head?.seq ?? 0;
  const toSeq = options.toSeq === undefined ? headSeq : Math.min(options.toSeq, headSeq);
  const exportedAt = isoTime(options.now());
  const stamp = exportedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const base = {
    store: options.store,
    orgId: options.orgId,
    fromSeq,
    toSeq,
    requestedToSeq: options.toSeq ?? null,
    exportedAt,
    sign: options.sign,
    pageSize: options.pageSize ?? AUDIT_PAGE_SIZE,
  };
  const chunks = options.format === 'csv' ? csvChunks(base) : jsonChunks(base);
  return {
    stream: Readable.from(chunks, { objectMode: false, highWaterMark: 64 * 1024 }),
    contentType: options.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
    filename: `audit-${options.orgId}-${stamp}.${options.format}`,
    toSeq,
    exportedAt,
  };
}

interface ExportRun {
  store: AuditChainReader;
  orgId: string;
  fromSeq: number;
  toSeq: number;
  requestedToSeq: number | null;
  exportedAt: string;
  sign: (payload: object) => string;
  pageSize: number;
}

/**
 * The events of the range serialized by `serialize`, joined by `separator` in chunks of one page, with a
 * running tally for the checkpoint. Only the text of the page in progress is held: an event object dies as
 * soon as it is serialized (fewer survivors for the garbage collector to promote). An empty range (from
 * after to) reads nothing.
 */
async function* serializedPages(
  run: ExportRun,
  tally: { count: number; headSeq: number; headHash: string | null },
  serialize: (e: AuditEvent) => string,
  separator: string,
): AsyncGenerator<string> {
  if (run.fromSeq > run.toSeq) return;
  let batch: string[] = [];
  for await (const e of readStoredEvents(run.store, run.orgId, {
    fromSeq: run.fromSeq,
    toSeq: run.toSeq,
    pageSize: run.pageSize,
  })) {
    tally.count += 1;
    tally.headSeq = e.seq;
    tally.headHash = e.hash;
    batch.push(serialize(e));
    if (batch.length >= CHUNK_EVENTS) {
      yield batch.join(separator);
      batch = [];
    }
  }
  if (batch.length > 0) yield batch.join(separator);
}

function newTally(run: ExportRun) {
  return { count: 0, headSeq: run.fromSeq - 1, headHash: run.fromSeq === 1 ? GENESIS_HASH : null };
}

function checkpoint(run: ExportRun, tally: ReturnType<typeof newTally>): string {
  const payload: AuditCheckpoint = {
    kind: AUDIT_CHECKPOINT_KIND,
    format: AUDIT_EXPORT_FORMAT,
    org_id: run.orgId,
    from_seq: run.fromSeq,
    head_seq: tally.headSeq,
    head_hash: tally.headHash,
    count: tally.count,
    exported_at: run.exportedAt,
  };
  return run.sign(payload);
}

async function* jsonChunks(run: ExportRun): AsyncGenerator<string> {
  const header = JSON.stringify({
    format: AUDIT_EXPORT_FORMAT,
    org_id: run.orgId,
    exported_at: run.exportedAt,
    from_seq: run.fromSeq,
    to_seq: run.requestedToSeq,
  });
  // `{"format":…,"to_seq":…` + `,"events":[` and a line break: the header line.
  yield `${header.slice(0, -1)},"events":[\n`;
  const tally = newTally(run);
  let first = true;
  for await (const text of serializedPages(run, tally, (e) => JSON.stringify(cleanAuditEvent(e)), ',\n')) {
    yield first ? text : `,\n${text}`;
    first = false;
  }
  yield `${first ? '' : '\n'}],"checkpoint":${JSON.stringify(checkpoint(run, tally))}}\n`;
}

async function* csvChunks(run: ExportRun): AsyncGenerator<string> {
  yield `${AUDIT_CSV_COLUMNS.join(',')}\r\n`;
  const tally = newTally(run);
  for await (const text of serializedPages(run, tally, eventToCsvRecord, '\r\n')) yield `${text}\r\n`;
  const empty = ','.repeat(AUDIT_CSV_COLUMNS.length - 2);
  yield `${CSV_CHECKPOINT_MARKER},${checkpoint(run, tally)}${empty}\r\n`;
}
