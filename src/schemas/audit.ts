/** JSON Schemas of the audit routes: their queries (ajv) and responses (/openapi.json, tests). */
import { AUDIT_EVENT_TYPES } from '../audit/event-types.js';
import { VERIFY_REASONS } from '../audit/verify.js';
import { livemodeField, resourceId, time } from './common.js';

const hex64 = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const seq = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;

/** Query of GET /v1/audit. */
export const auditListQuerySchema = {
  $id: 'AuditListQueryParams',
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
    cursor: {
      type: 'string',
      pattern: '^[0-9]{1,15}$',
      description: 'Opaque: the next_cursor of the previous page. Pages run in ascending seq.',
    },
    type: { enum: [...AUDIT_EVENT_TYPES], description: 'Only events of this type.' },
    agent_id: { ...resourceId, description: 'Only events concerning this agent.' },
    subject_id: {
      type: 'string',
      minLength: 1,
      maxLength: 128,
      description: 'Only events about this entity (agent, authority, binding, intent, authorization, ...).',
    },
    from: { ...time, description: 'Only events at or after this instant (RFC 3339).' },
    to: { ...time, description: 'Only events before this instant (RFC 3339).' },
  },
} as const;

/** Query of GET /v1/audit/export. */
export const auditExportQuerySchema = {
  $id: 'AuditExportQueryParams',
  type: 'object',
  additionalProperties: false,
  properties: {
    format: { enum: ['json', 'csv'], default: 'json' },
    from_seq: { ...seq, description: 'First seq to export (inclusive). Default 1.' },
    to_seq: { ...seq, description: 'Last seq to export (inclusive). Default: the head when the export starts.' },
  },
} as const;

/** A linked audit event. */
export const auditEventSchema = {
  $id: 'AuditEvent',
  type: 'object',
  required: [
    'seq',
    'id',
    'org_id',
    'at',
    'type',
    'actor',
    'subject',
    'agent_id',
    'payload',
    'prev_hash',
    'hash',
    'linked_at',
  ],
  properties: {
    seq: { ...seq, description: '1, 2, 3, ... per org, without gaps.' },
    id: { type: 'string' },
    org_id: { type: 'string' },
    livemode: { ...livemodeField, description: `${livemodeField.description} Not hashed: it follows from org_id.` },
    at: { type: 'string', format: 'date-time', description: 'When the change happened.' },
    type: { type: 'string', description: 'One of the audit event types, e.g. agent.created.' },
    actor: { type: 'string', description: 'The key id of the credential that caused it, or system.' },
    subject: {
      type: 'object',
      required: ['kind', 'id'],
      properties: { kind: { type: 'string' }, id: { type: 'string' } },
    },
    agent_id: { type: ['string', 'null'] },
    payload: { type: 'object' },
    prev_hash: { ...hex64, description: 'hash of the event at seq - 1; 64 zeros for seq 1.' },
    hash: {
      ...hex64,
      description:
        'Lower-case hex SHA-256 of the RFC 8785 canonical JSON of {id, org_id, seq, at, type, actor, subject, agent_id, payload, prev_hash}.',
    },
    linked_at: { type: 'string', format: 'date-time', description: 'When it was linked into the chain (not hashed).' },
  },
} as const;

/** A page of audit events, ascending by seq. */
export const auditEventPageSchema = {
  $id: 'AuditEventPage',
  type: 'object',
  required: ['items', 'next_cursor'],
  properties: {
    items: { type: 'array', items: { $ref: 'AuditEvent' } },
    next_cursor: {
      type: ['string', 'null'],
      description:
        'Pass as cursor for the next page; null when this page is the last (a full page may be followed by an empty one).',
    },
  },
} as const;

/** What GET /v1/audit/verify returns. */
export const auditVerifyResultSchema = {
  $id: 'AuditVerifyResult',
  type: 'object',
  required: ['ok', 'checked', 'head_seq', 'head_hash', 'first_bad_seq', 'reason', 'detail'],
  properties: {
    ok: { type: 'boolean' },
    checked: { type: 'integer', description: 'Events verified good.' },
    head_seq: { type: 'integer', description: 'The last event verified good (0: none).' },
    head_hash: { type: ['string', 'null'], description: 'Its hash (64 zeros when none).' },
    first_bad_seq: {
      type: ['integer', 'null'],
      description:
        'The lowest seq that does not verify: every event below it is intact and linked; this one is missing, changed or out of place.',
    },
    reason: { enum: [...VERIFY_REASONS, null] },
    detail: { type: ['string', 'null'], description: 'For humans; not part of the contract.' },
  },
} as const;

/** The JSON export document (GET /v1/audit/export?format=json). */
export const auditExportSchema = {
  $id: 'AuditExport',
  type: 'object',
  required: ['format', 'org_id', 'exported_at', 'from_seq', 'to_seq', 'events', 'checkpoint'],
  description:
    'Written one event per line (see the README), so a verifier reads it line by line. The checkpoint is a compact JWS (EdDSA, kid in /.well-known/jwks.json) over {kind, format, org_id, from_seq, head_seq, head_hash, count, exported_at} of exactly the events in the file.',
  properties: {
    format: { const: 'allowance.audit.v1' },
    org_id: { type: 'string' },
    exported_at: { type: 'string', format: 'date-time' },
    from_seq: { type: 'integer' },
    to_seq: { type: ['integer', 'null'], description: 'As requested; null when not.' },
    events: { type: 'array', items: { $ref: 'AuditEvent' } },
    checkpoint: { type: 'string' },
  },
} as const;

/** The CSV export (GET /v1/audit/export?format=csv). */
export const auditExportCsvSchema = {
  $id: 'AuditExportCsv',
  type: 'string',
  description:
    'RFC 4180 CSV with CRLF line ends: a header row seq,id,at,type,actor,subject_kind,subject_id,agent_id,payload,prev_hash,hash,org_id,linked_at, one row per event (payload: canonical JSON, quoted; agent_id empty for null), then a row checkpoint,<compact JWS>,,...',
} as const;
