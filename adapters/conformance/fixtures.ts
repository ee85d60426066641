import { auditHash } from '../../src/audit/hash.js';
import { type AuditDraft, type AuditEvent, GENESIS_HASH } from '../../src/audit/types.js';
import type { ApiCredential, Reservation, ReservationWindow, TokenRevocation } from '../../src/storage/index.js';
import type {
  Agent,
  AuthorizationRecord,
  CredentialBinding,
  Intent,
  Org,
  Processor,
  SpendingAuthority,
} from '../../src/types.js';

let seq = 0;
const BASE_MS = Date.parse('2026-01-01T00:00:00.000Z');

/**
 * A prefixed id that sorts after every id made before it in this process (like the engine's ids),
 * with a random tail so parallel suites never collide.
 */
export function orderedId(prefix: string): string {
  seq += 1;
  return `${prefix}_${seq.toString(36).padStart(10, '0')}${Math.random().toString(36).slice(2, 12)}`;
}

/** An RFC 3339 time `offsetMs` after a fixed base. */
export function timeAt(offsetMs: number): string {
  return new Date(BASE_MS + offsetMs).toISOString();
}

export const NOW = timeAt(0);

/** An active org. */
export function makeOrg(overrides: Partial<Org> = {}): Org {
  return { id: orderedId('org'), name: 'Org', status: 'active', created_at: NOW, ...overrides };
}

/** An active processor. */
export function makeProcessor(overrides: Partial<Processor> = {}): Processor {
  return { id: orderedId('prc'), name: 'Processor', status: 'active', created_at: NOW, ...overrides };
}

/** An active agent of `orgId`. */
export function makeAgent(orgId: string, overrides: Partial<Agent> = {}): Agent {
  return {
    id: orderedId('agt'),
    org_id: orgId,
    name: 'buyer',
    owner: null,
    description: null,
    model_provider: 'acme-ai',
    model_name: null,
    framework: null,
    status: 'active',
    metadata: {},
    version: 0,
    created_at: NOW,
    updated_at: NOW,
    ...overrides,
  };
}

/** An active authority of `agentId` under `orgId`. */
export function makeAuthority(
  orgId: string,
  agentId: string,
  overrides: Partial<SpendingAuthority> = {},
): SpendingAuthority {
  return {
    id: orderedId('sa'),
    org_id: orgId,
    agent_id: agentId,
    currency: 'USD',
    time_zone: 'UTC',
    limits: { per_transaction: null, daily: 100_000, weekly: null, monthly: null, total: null },
    velocity: { daily: null, weekly: null, monthly: null, total: null },
    merchant_rules: {
      allow_mcc: [],
      block_mcc: [],
      allow_merchant_ids: [],
      block_merchant_ids: [],
      allow_countries: [],
    },
    valid_from: null,
    valid_until: null,
    step_up_above: null,
    require_intent: false,
    partial_approval: false,
    status: 'active',
    version: 0,
    created_at: NOW,
    updated_at: NOW,
    stand_in: { action: 'DENY', max_amount: null },
    ...overrides,
  };
}

/** An active binding of a fresh credential reference. */
export function makeBinding(
  orgId: string,
  agentId: string,
  authorityId: string,
  processorId: string,
  overrides: Partial<CredentialBinding> = {},
): CredentialBinding {
  return {
    id: orderedId('bnd'),
    org_id: orgId,
    agent_id: agentId,
    authority_id: authorityId,
    processor_id: processorId,
    credential: { type: 'network_token', reference: orderedId('tok'), last4: '4242' },
    status: 'active',
    version: 0,
    created_at: NOW,
    updated_at: NOW,
    ...overrides,
  };
}

/** An approved intent of `agentId`. */
export function makeIntent(orgId: string, agentId: string, overrides: Partial<Intent> = {}): Intent {
  return {
    id: orderedId('int'),
    org_id: orgId,
    agent_id: agentId,
    authority_id: null,
    description: 'laptop stand',
    max_amount: 10_000,
    currency: 'USD',
    merchant: { name: 'Example Store', mcc: '5734', country: 'US' },
    expires_at: timeAt(86_400_000),
    single_use: true,
    status: 'approved',
    consumed_amount: 0,
    consumptions: {},
    reason_codes: [],
    policy_revision: 'rev-1',
    version: 0,
    created_at: NOW,
    updated_at: NOW,
    ...overrides,
  };
}

/** A pending authorization claim. */
export function makeAuthorization(
  processorId: string,
  orgId: string | null,
  overrides: Partial<AuthorizationRecord> = {},
): AuthorizationRecord {
  const authorizationId = overrides.authorization_id ?? orderedId('pa');
  return {
    processor_id: processorId,
    authorization_id: authorizationId,
    org_id: orgId,
    status: 'pending',
    request_sha256: 'a'.repeat(64),
    reservation_id: `rsv_${authorizationId}`,
    attempt: 1,
    lease_until: null,
    agent_id: null,
    authority_id: null,
    intent_id: null,
    amount: 1850,
    approved_amount: 0,
    captured_amount: 0,
    currency: 'USD',
    hold_open: false,
    hold_expires_at: null,
    decision: null,
    policy_input: { request: { amount: 1850 } },
    version: 0,
    created_at: NOW,
    updated_at: NOW,
    ...overrides,
  };
}

/** The periods of a reservation window set. */
export interface Periods {
  daily: string;
  weekly: string;
  monthly: string;
  total: string;
}

/** Periods of a day in 2026 (day 1..28 of January). */
export function periodsOf(day = 5): Periods {
  const d = String(day).padStart(2, '0');
  const week = Math.floor((day + 2) / 7) + 1;
  return { daily: `2026-01-${d}`, weekly: `2026-W${String(week).padStart(2, '0')}`, monthly: '2026-01', total: 'all' };
}

/** Limits of a reservation per window; omitted windows have no limit. */
export type WindowLimits = Partial<Record<keyof Periods, { amount?: number | null; count?: number | null }>>;

/** A reservation of `amount` in `periods` under `limits`. */
export function makeReservation(
  amount: number,
  limits: WindowLimits = {},
  periods: Periods = periodsOf(),
  reservationId: string = orderedId('rsv'),
): Reservation {
  const win = (w: keyof Periods): ReservationWindow => ({
    period: periods[w],
    amount_limit: limits[w]?.amount ?? null,
    count_limit: limits[w]?.count ?? null,
  });
  return {
    reservation_id: reservationId,
    amount,
    windows: { daily: win('daily'), weekly: win('weekly'), monthly: win('monthly'), total: win('total') },
  };
}

/** An active enterprise credential of `ownerId` (secret fields are placeholders of the right shape). */
export function makeCredential(ownerId: string | null, overrides: Partial<ApiCredential> = {}): ApiCredential {
  return {
    key_id: orderedId('key'),
    name: 'ci',
    role: ownerId === null ? 'operator' : 'enterprise',
    owner_id: ownerId,
    status: 'active',
    secret_sha256: 'b'.repeat(64),
    secret_ciphertext: 'v1.aXY.Y2lwaGVy.dGFn',
    secret_last4: 'wxyz',
    created_at: NOW,
    revoked_at: null,
    last_used_at: null,
    version: 0,
    ...overrides,
  };
}

/** A revocation of one agent token (`jti` set) recorded at `revokedAt`, forgettable at `exp`. */
export function makeRevocation(
  revokedAt: string,
  exp: string,
  overrides: Partial<TokenRevocation> = {},
): TokenRevocation {
  return {
    jti: orderedId('jti'),
    agent_id: orderedId('agt'),
    org_id: orderedId('org'),
    exp,
    revoked_at: revokedAt,
    ...overrides,
  };
}

/** An audit draft of `orgId` (by default an `agent.updated` of a fresh agent at the base time). */
export function makeAuditDraft(orgId: string, overrides: Partial<AuditDraft> = {}): AuditDraft {
  const agentId = orderedId('agt');
  return {
    id: orderedId('evt'),
    org_id: orgId,
    at: NOW,
    type: 'agent.updated',
    actor: 'key_conformance',
    subject: { kind: 'agent', id: agentId },
    agent_id: agentId,
    payload: { changed: ['name'] },
    ...overrides,
  };
}

/**
 * The linked events of `drafts` on top of `head` (null: from the genesis), as a chainer makes them:
 * seq from `head.seq + 1`, each `prev_hash` the hash of the event before, hashes computed.
 */
export function linkAuditEvents(
  drafts: readonly AuditDraft[],
  head: AuditEvent | null,
  linkedAt: string = NOW,
): AuditEvent[] {
  const out: AuditEvent[] = [];
  let prev = head;
  for (const d of drafts) {
    const { outbox_ref: _ref, ...rest } = d;
    const unhashed = { ...rest, seq: (prev?.seq ?? 0) + 1, prev_hash: prev?.hash ?? GENESIS_HASH };
    const event: AuditEvent = { ...unhashed, hash: auditHash(unhashed), linked_at: linkedAt };
    out.push(event);
    prev = event;
  }
  return out;
}
