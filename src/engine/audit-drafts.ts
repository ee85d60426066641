import type { AuditDraft, AuditEventType } from '../audit/index.js';
import { isoTime } from '../util/clock.js';
import { ID_PREFIX, newSequentialId } from '../util/ids.js';
import type { EngineContext } from './context.js';

/** Who causes a change: an API credential's key id, `agent:<id>`, or `system` (the default). */
export type Actor = string;

/** The actor of engine calls that name none (embedding code, background sweeps). */
export const SYSTEM_ACTOR = 'system';

/** What one audit draft says, before the engine stamps id and time. */
export interface DraftSpec {
  orgId: string;
  type: AuditEventType;
  subject: { kind: string; id: string };
  agentId: string | null;
  payload: Record<string, unknown>;
  actor?: Actor | undefined;
  /** Milliseconds since the epoch; default the engine clock. */
  atMs?: number;
  /** The event's id when it is already named elsewhere (a decision's `audit_event_id`); default a fresh one. */
  id?: string;
}

/**
 * The drafts to pass to a store write (one element), or undefined when audit is off. The id is fresh, so
 * a retried write after a `conflict` builds a new draft with the retry.
 */
export function auditDraft(ctx: EngineContext, spec: DraftSpec): AuditDraft[] | undefined {
  if (!ctx.auditEnabled) return undefined;
  const at = spec.atMs ?? ctx.clock.now();
  return [
    {
      id: spec.id ?? newSequentialId(ID_PREFIX.auditEvent, at),
      org_id: spec.orgId,
      at: isoTime(at),
      type: spec.type,
      actor: spec.actor ?? SYSTEM_ACTOR,
      subject: spec.subject,
      agent_id: spec.agentId,
      payload: spec.payload,
    },
  ];
}

/** A JSON-safe copy of an entity for a payload: drops undefined and the storage `version`. */
export function entityPayload(entity: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entity)) {
    if (v === undefined || k === 'version') continue;
    out[k] = v;
  }
  return out;
}
