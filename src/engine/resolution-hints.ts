import type { NormalizedAuthorizeRequest } from './authorize-request.js';

/**
 * The ids a credential resolved to the last time (binding → org, agent, authority and the authority's
 * time zone). Only ids: authorize still reads the binding, agent, authority and usage on every call, but
 * with a hint it reads them all at once instead of one after the other, and checks the fresh binding and
 * authority against the hint (a mismatch reads again in order). A change made on any server is therefore
 * seen by the next authorize; a stale hint costs round trips, never a decision on stale data.
 */
export interface ResolutionHint {
  orgId: string;
  bindingId: string;
  agentId: string;
  authorityId: string;
  timeZone: string;
}

/** How a request names its credential. */
type Lookup = Pick<NormalizedAuthorizeRequest, 'binding_id' | 'credential_reference'>;

/** Entries kept; the least recently set are dropped beyond this. */
const SIZE = 10_000;

function keyOf(processorId: string, req: Lookup): string {
  return req.binding_id !== null
    ? `${processorId}\u0000id\u0000${req.binding_id}`
    : `${processorId}\u0000ref\u0000${req.credential_reference}`;
}

/** A bounded map of {@link ResolutionHint}s, one per engine. */
export class ResolutionHints {
  private readonly hints = new Map<string, ResolutionHint>();

  get(processorId: string, req: Lookup): ResolutionHint | undefined {
    return this.hints.get(keyOf(processorId, req));
  }

  set(processorId: string, req: Lookup, hint: ResolutionHint): void {
    const key = keyOf(processorId, req);
    const cur = this.hints.get(key);
    if (
      cur &&
      cur.orgId === hint.orgId &&
      cur.bindingId === hint.bindingId &&
      cur.agentId === hint.agentId &&
      cur.authorityId === hint.authorityId &&
      cur.timeZone === hint.timeZone
    ) {
      return;
    }
    this.hints.delete(key);
    this.hints.set(key, hint);
    if (this.hints.size > SIZE) {
      const oldest = this.hints.keys().next().value;
      if (oldest !== undefined) this.hints.delete(oldest);
    }
  }

  delete(processorId: string, req: Lookup): void {
    this.hints.delete(keyOf(processorId, req));
  }

  get size(): number {
    return this.hints.size;
  }
}
