import { StringDecoder } from 'node:string_decoder';
import { type Jwks, verifyJws } from '../crypto/index.js';
import {
  AUDIT_CHECKPOINT_KIND,
  AUDIT_CSV_COLUMNS,
  AUDIT_EXPORT_FORMAT,
  type AuditCheckpoint,
  CSV_CHECKPOINT_MARKER,
} from './export.js';
import { GENESIS_HASH } from './types.js';
import { ChainVerifier, type VerifyReason, type VerifyResult } from './verify.js';

/** The file is not an audit export (or not one this version reads): a usage error, not tampering. */
export class ExportFormatError extends Error {
  override readonly name = 'ExportFormatError';
}

/** What the reader finds in an export, in file order. */
export type ExportItem =
  | { kind: 'header'; format: 'json' | 'csv'; org_id: string | null; from_seq: number | null }
  /** An event as parsed; null when its line could not be parsed (the verifier reports it as malformed). */
  | { kind: 'event'; event: unknown }
  | { kind: 'checkpoint'; jws: string };

/** Largest JSON export read whole when it is not in the line layout (e.g. pretty-printed by a tool). */
const WHOLE_DOCUMENT_LIMIT = 256 * 1024 * 1024;

/** Lines of a byte stream, split at LF; a CR before the LF is kept (CSV needs it inside quoted fields). */
async function* lines(source: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let first = true;
  for await (const chunk of source) {
    let text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      yield text.slice(start, nl);
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest.length > 0) yield rest;
}

const stripCr = (line: string) => (line.endsWith('\r') ? line.slice(0, -1) : line);

function positiveIntOrNull(v: unknown): number | null {
  return Number.isSafeInteger(v) && (v as number) >= 1 ? (v as number) : null;
}

/**
 * Reads an export (JSON or CSV, told apart by its first line) as a stream of items, holding one line at a
 * time. A JSON export in the line layout written by the server is read line by line; one reformatted by a
 * tool is read whole when it is at most 256 MB. Throws {@link ExportFormatError} for a file that is not an
 * export; a damaged line inside one is yielded as an event `null`, for the verifier to name.
 */
export async function* readAuditExport(source: AsyncIterable<Buffer | string>): AsyncGenerator<ExportItem> {
  const it = lines(source)[Symbol.asyncIterator]();
  let head = await it.next();
  while (!head.done && head.value.trim() === '') head = await it.next();
  if (head.done) throw new ExportFormatError('the file is empty');
  const firstLine = stripCr(head.value);
  if (firstLine.trimStart().startsWith('{')) yield* readJson(firstLine, it);
  else if (firstLine.startsWith('seq,')) yield* readCsv(firstLine, it);
  else throw new ExportFormatError('neither a JSON nor a CSV audit export');
}

function headerItem(doc: Record<string, unknown>): ExportItem {
  if (doc.format !== AUDIT_EXPORT_FORMAT) {
    throw new ExportFormatError(
      `unknown export format ${JSON.stringify(doc.format)} (expected ${AUDIT_EXPORT_FORMAT})`,
    );
  }
  return {
    kind: 'header',
    format: 'json',
    org_id: typeof doc.org_id === 'string' ? doc.org_id : null,
    from_seq: positiveIntOrNull(doc.from_seq),
  };
}

async function* readJson(firstLine: string, it: AsyncIterator<string>): AsyncGenerator<ExportItem> {
  if (!firstLine.endsWith('"events":[')) {
    yield* readWholeJson(firstLine, it);
    return;
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(`${firstLine}]}`);
  } catch {
    throw new ExportFormatError('the first line is not the header of a JSON audit export');
  }
  yield headerItem(header);
  let carry: IteratorResult<string> | null = null;
  for (;;) {
    const r: IteratorResult<string> = carry ?? (await it.next());
    carry = null;
    if (r.done) return;
    const line = stripCr(r.value);
    if (line.startsWith(']')) {
      let trailer: { checkpoint?: unknown };
      try {
        trailer = JSON.parse(`{"events":[${line}`);
      } catch {
        throw new ExportFormatError('the closing line of the export is not JSON');
      }
      if (typeof trailer.checkpoint === 'string') yield { kind: 'checkpoint', jws: trailer.checkpoint };
      for (let more = await it.next(); !more.done; more = await it.next()) {
        if (more.value.trim() !== '') throw new ExportFormatError('content after the end of the export');
      }
      return;
    }
    if (line.trim() === '') continue;
    const text = line.endsWith(',') ? line.slice(0, -1) : line;
    let event: unknown = null;
    try {
      event = JSON.parse(text);
    } catch {
      // A damaged last line is a file cut short (no closing line follows): end here, the verifier says so.
      carry = await it.next();
      if (carry.done) return;
    }
    yield { kind: 'event', event };
  }
}

async function* readWholeJson(firstLine: string, it: AsyncIterator<string>): AsyncGenerator<ExportItem> {
  const parts = [firstLine];
  let size = firstLine.length;
  for (let r = await it.next(); !r.done; r = await it.next()) {
    size += r.value.length + 1;
    if (size > WHOLE_DOCUMENT_LIMIT) {
      throw new ExportFormatError('a JSON export not in the line layout and larger than 256 MB cannot be read');
    }
    parts.push(r.value);
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(parts.join('\n'));
  } catch {
    throw new ExportFormatError('not a JSON document');
  }
  if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.events)) {
    throw new ExportFormatError('not a JSON audit export (no events array)');
  }
  yield headerItem(doc);
  for (const event of doc.events as unknown[]) yield { kind: 'event', event };
  if (typeof doc.checkpoint === 'string') yield { kind: 'checkpoint', jws: doc.checkpoint };
}

/** The fields of one CSV record (RFC 4180), or null when its quotes do not close. */
export function parseCsvRecord(record: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  const n = record.length;
  for (;;) {
    if (record.charCodeAt(i) === 34 /* " */) {
      let value = '';
      let j = i + 1;
      for (;;) {
        const q = record.indexOf('"', j);
        if (q === -1) return null;
        value += record.slice(j, q);
        if (record.charCodeAt(q + 1) === 34) {
          value += '"';
          j = q + 2;
        } else {
          j = q + 1;
          break;
        }
      }
      fields.push(value);
      if (j === n) return fields;
      if (record.charCodeAt(j) !== 44 /* , */) return null;
      i = j + 1;
    } else {
      const comma = record.indexOf(',', i);
      if (comma === -1) {
        fields.push(record.slice(i));
        return fields;
      }
      fields.push(record.slice(i, comma));
      i = comma + 1;
    }
  }
}

const REQUIRED_CSV_COLUMNS = AUDIT_CSV_COLUMNS.filter((c) => c !== 'linked_at');

function countQuotes(s: string): number {
  let count = 0;
  for (let i = s.indexOf('"'); i !== -1; i = s.indexOf('"', i + 1)) count += 1;
  return count;
}

async function* readCsv(firstLine: string, it: AsyncIterator<string>): AsyncGenerator<ExportItem> {
  const names = parseCsvRecord(firstLine);
  if (!names) throw new ExportFormatError('the CSV header does not parse');
  const index = new Map(names.map((name, i) => [name, i]));
  const missing = REQUIRED_CSV_COLUMNS.filter((c) => !index.has(c));
  if (missing.length > 0) throw new ExportFormatError(`the CSV header lacks ${missing.join(', ')}`);
  yield { kind: 'header', format: 'csv', org_id: null, from_seq: null };
  const col = (fields: string[], name: string) => fields[index.get(name) as number];
  let pending = '';
  let quotes = 0;
  let ended = false;
  let carry: IteratorResult<string> | null = null;
  for (;;) {
    const r: IteratorResult<string> = carry ?? (await it.next());
    carry = null;
    // A record whose quotes never close is a file cut short: nothing is yielded for it.
    if (r.done) return;
    // A record ends at a line break outside quotes: join lines while the quote count is odd.
    pending = pending === '' && quotes === 0 ? r.value : `${pending}\n${r.value}`;
    quotes += countQuotes(r.value);
    if (quotes % 2 === 1) continue;
    const record = stripCr(pending);
    pending = '';
    quotes = 0;
    if (record === '') continue;
    if (ended) throw new ExportFormatError('content after the checkpoint row');
    const fields = parseCsvRecord(record);
    if (fields && fields[0] === CSV_CHECKPOINT_MARKER) {
      yield { kind: 'checkpoint', jws: fields[1] ?? '' };
      ended = true;
      continue;
    }
    const event = fields && fields.length === names.length ? csvEvent(fields, col) : null;
    if (event === null) {
      // A damaged record with nothing after it is a file cut short: end here, the verifier says so.
      carry = await it.next();
      if (carry.done) return;
    }
    yield { kind: 'event', event };
  }
}

function csvEvent(fields: string[], col: (fields: string[], name: string) => string | undefined): unknown {
  const seqText = col(fields, 'seq') ?? '';
  const payloadText = col(fields, 'payload') ?? '';
  let payload: unknown = payloadText;
  try {
    payload = JSON.parse(payloadText);
  } catch {
    // Left as text: the verifier reports the event as malformed.
  }
  const agent = col(fields, 'agent_id') ?? '';
  return {
    seq: /^[0-9]{1,15}$/.test(seqText) ? Number(seqText) : seqText,
    id: col(fields, 'id'),
    org_id: col(fields, 'org_id'),
    at: col(fields, 'at'),
    type: col(fields, 'type'),
    actor: col(fields, 'actor'),
    subject: { kind: col(fields, 'subject_kind'), id: col(fields, 'subject_id') },
    agent_id: agent === '' ? null : agent,
    payload,
    prev_hash: col(fields, 'prev_hash'),
    hash: col(fields, 'hash'),
    linked_at: col(fields, 'linked_at') ?? null,
  };
}

/** The checkpoint's part of an export verification. */
export interface CheckpointReport {
  /** Null when verification stopped at a bad event before reaching it. */
  present: boolean | null;
  /** `valid`: signed by a key of the JWKS; `not_checked`: no JWKS given; `invalid`: unreadable or forged. */
  signature: 'valid' | 'invalid' | 'not_checked';
  kid: string | null;
  /** The signed claims (decoded even when the signature is not checked). */
  payload: AuditCheckpoint | null;
  /** Why it is invalid or does not match the events; null when it matches. */
  problem: string | null;
}

/** The verdict over an export file: the chain, then the checkpoint. */
export interface ExportVerifyResult extends Omit<VerifyResult, 'reason'> {
  /** A VerifyReason, or `checkpoint_invalid` / `checkpoint_mismatch` (the chain is intact, its checkpoint is not). */
  reason: VerifyReason | 'checkpoint_invalid' | 'checkpoint_mismatch' | null;
  format: 'json' | 'csv';
  org_id: string | null;
  checkpoint: CheckpointReport;
}

function decodeCheckpoint(jws: string): Record<string, unknown> | null {
  const parts = jws.split('.');
  if (parts.length !== 3) return null;
  try {
    const payload = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8'));
    return typeof payload === 'object' && payload !== null ? payload : null;
  } catch {
    return null;
  }
}

/**
 * Verifies an export read from `source` (a file stream): the hash chain of its events, and its checkpoint
 * against the events (org, first seq, count, head seq and hash). With `jwks`, the checkpoint must also be
 * signed by one of its keys: then a valid result proves the file is what the server exported, complete.
 * Without it the checkpoint is only compared, which catches accidents, not forgery.
 *
 * Throws {@link ExportFormatError} when the source is not an export at all.
 */
export async function verifyAuditExport(
  source: AsyncIterable<Buffer | string>,
  options: { jwks?: Jwks | null } = {},
): Promise<ExportVerifyResult> {
  let verifier: ChainVerifier | null = null;
  let format: 'json' | 'csv' = 'json';
  let headerOrg: string | null = null;
  let firstSeq: number | null = null;
  let jws: string | null = null;
  for await (const item of readAuditExport(source)) {
    if (item.kind === 'header') {
      format = item.format;
      headerOrg = item.org_id;
      verifier = new ChainVerifier({
        ...(item.org_id ? { orgId: item.org_id } : {}),
        fromSeq: item.format === 'json' ? (item.from_seq ?? 1) : null,
      });
    } else if (item.kind === 'event') {
      const v = verifier as ChainVerifier;
      if (firstSeq === null) {
        const seq = (item.event as { seq?: unknown } | null)?.seq;
        firstSeq = Number.isSafeInteger(seq) ? (seq as number) : null;
      }
      v.push(item.event);
      // The verdict is known: stop reading (the checkpoint is not reached).
      if (v.failed) break;
    } else {
      jws = item.jws;
    }
  }
  const v = verifier as ChainVerifier;
  const checkpoint: CheckpointReport = {
    present: jws !== null ? true : v.failed ? null : false,
    signature: 'not_checked',
    kid: null,
    payload: null,
    problem: null,
  };
  if (!v.failed && jws === null) v.truncated('the export ends without its checkpoint');
  const chain = v.result();
  const result: ExportVerifyResult = { ...chain, format, org_id: v.orgId ?? headerOrg, checkpoint };
  if (jws === null) return result;

  // The checkpoint: signature, then its claims against the events.
  let claims: Record<string, unknown> | null;
  if (options.jwks) {
    const checked = verifyJws(jws, options.jwks);
    if (checked.ok) {
      checkpoint.signature = 'valid';
      checkpoint.kid = checked.kid;
      claims = checked.payload;
    } else {
      checkpoint.signature = 'invalid';
      checkpoint.problem = `signature: ${checked.reason}`;
      claims = decodeCheckpoint(jws);
    }
  } else {
    claims = decodeCheckpoint(jws);
  }
  if (claims && claims.kind === AUDIT_CHECKPOINT_KIND) checkpoint.payload = claims as unknown as AuditCheckpoint;
  else checkpoint.problem ??= 'not an audit checkpoint';
  if (!chain.ok) return result;
  if (checkpoint.problem !== null) return fail(result, 'checkpoint_invalid', null, checkpoint.problem);

  const c = checkpoint.payload as AuditCheckpoint;
  if (result.org_id !== null && c.org_id !== result.org_id) {
    return fail(result, 'checkpoint_mismatch', null, `checkpoint of org ${c.org_id}, events of ${result.org_id}`);
  }
  result.org_id ??= c.org_id;
  const mismatches: string[] = [];
  if (chain.checked === 0) {
    // No event: the checkpoint must say so, and gives the position (CSV carries it nowhere else).
    const from = format === 'json' ? chain.head_seq + 1 : c.from_seq;
    if (Number.isSafeInteger(c.head_seq) && c.head_seq >= from && c.count > 0) {
      return fail(
        result,
        'truncated',
        from,
        `the checkpoint names ${c.count} events up to seq ${c.head_seq}; the file has none`,
      );
    }
    if (c.from_seq !== from) mismatches.push(`from_seq ${c.from_seq} != ${from}`);
    if (c.count !== 0) mismatches.push(`count ${c.count} != 0`);
    if (c.head_seq !== from - 1) mismatches.push(`head_seq ${c.head_seq} != ${from - 1}`);
    const anchor = from === 1 ? GENESIS_HASH : null;
    if (c.head_hash !== anchor) mismatches.push('head_hash differs');
    if (mismatches.length === 0) {
      result.head_seq = from - 1;
      result.head_hash = anchor;
    }
  } else {
    const start = firstSeq as number;
    if (Number.isSafeInteger(c.from_seq) && c.from_seq < start) {
      return fail(result, 'seq_gap', c.from_seq, `the export starts at seq ${start}, its checkpoint at ${c.from_seq}`);
    }
    if (Number.isSafeInteger(c.head_seq) && c.head_seq > result.head_seq) {
      return fail(
        result,
        'truncated',
        result.head_seq + 1,
        `the checkpoint names ${c.count} events up to seq ${c.head_seq}; the file ends at seq ${result.head_seq}`,
      );
    }
    if (c.from_seq !== start) mismatches.push(`from_seq ${c.from_seq} != ${start}`);
    if (c.head_seq !== result.head_seq) mismatches.push(`head_seq ${c.head_seq} != ${result.head_seq}`);
    if (c.head_hash !== result.head_hash) mismatches.push('head_hash differs');
    if (c.count !== result.checked) mismatches.push(`count ${c.count} != ${result.checked}`);
  }
  if (mismatches.length > 0) {
    checkpoint.problem = mismatches.join('; ');
    return fail(result, 'checkpoint_mismatch', null, `the events do not match their checkpoint: ${checkpoint.problem}`);
  }
  return result;
}

function fail(
  result: ExportVerifyResult,
  reason: NonNullable<ExportVerifyResult['reason']>,
  seq: number | null,
  detail: string,
): ExportVerifyResult {
  result.ok = false;
  result.reason = reason;
  result.first_bad_seq = seq;
  result.detail = detail;
  if (reason !== 'checkpoint_invalid' && reason !== 'checkpoint_mismatch') result.checkpoint.problem ??= detail;
  return result;
}
