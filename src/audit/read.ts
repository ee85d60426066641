import type { AuditStorage } from '../storage/index.js';
import type { AuditEvent, AuditQuery } from './types.js';
import { ChainVerifier, type VerifyResult } from './verify.js';

/** What reading an org's linked chain needs of the audit storage: its head and its events by seq. */
export type AuditChainReader = Pick<AuditStorage, 'getAuditHead' | 'listAuditEvents'>;

/** Events read per storage call by exports and verification (the most `listAuditEvents` returns). */
export const AUDIT_PAGE_SIZE = 1000;

/** Range and filters of {@link readStoredEvents}. */
export interface StoredEventRange {
  /** First seq (inclusive). Default 1. */
  fromSeq?: number;
  /** Last seq (inclusive). Default: no bound. */
  toSeq?: number;
  /** Events per storage call, 1..1000. Default {@link AUDIT_PAGE_SIZE}. */
  pageSize?: number;
}

/** The fields of an audit event, in their documented order, without anything an adapter may add. */
export function cleanAuditEvent(e: AuditEvent): AuditEvent {
  return {
    seq: e.seq,
    id: e.id,
    org_id: e.org_id,
    at: e.at,
    type: e.type,
    actor: e.actor,
    subject: { kind: e.subject?.kind, id: e.subject?.id },
    agent_id: e.agent_id ?? null,
    payload: e.payload,
    prev_hash: e.prev_hash,
    hash: e.hash,
    linked_at: e.linked_at,
  };
}

/**
 * An org's linked events in ascending seq, read page by page from the store: at most one page is held at a
 * time, and the next page is read only when the consumer asks for more (backpressure of a stream built on it).
 */
export async function* readStoredEvents(
  store: AuditChainReader,
  orgId: string,
  range: StoredEventRange = {},
): AsyncGenerator<AuditEvent> {
  const limit = range.pageSize ?? AUDIT_PAGE_SIZE;
  let after = (range.fromSeq ?? 1) - 1;
  for (;;) {
    const query: AuditQuery = { limit, after_seq: after };
    if (range.toSeq !== undefined) query.to_seq = range.toSeq;
    const page = await store.listAuditEvents(orgId, query);
    let highest = after;
    for (const e of page) {
      if (e.seq > highest) highest = e.seq;
      yield e;
    }
    // A short page is the end; a page that does not move forward would loop forever (a broken adapter).
    if (page.length < limit || highest <= after) return;
    after = highest;
    // An in-process store answers without I/O: let other requests in between pages.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * Verifies an org's whole stored chain (see ChainVerifier), up to the head it has when verification starts:
 * events linked meanwhile are left for the next run. Reads one page at a time.
 */
export async function verifyStoredChain(
  store: AuditChainReader,
  orgId: string,
  options: { pageSize?: number } = {},
): Promise<VerifyResult> {
  const verifier = new ChainVerifier({ orgId, fromSeq: 1 });
  const head = await store.getAuditHead(orgId);
  if (head) {
    for await (const e of readStoredEvents(store, orgId, { toSeq: head.seq, pageSize: options.pageSize })) {
      verifier.push(e);
      if (verifier.failed) break;
    }
  }
  return verifier.result();
}
