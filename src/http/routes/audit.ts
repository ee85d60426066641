import { openAuditExport } from '../../audit/export.js';
import { cleanAuditEvent, verifyStoredChain } from '../../audit/read.js';
import type { AuditQuery } from '../../audit/types.js';
import { AppError } from '../../errors/index.js';
import {
  auditEventPageSchema,
  auditExportCsvSchema,
  auditExportQuerySchema,
  auditExportSchema,
  auditListQuerySchema,
  auditVerifyResultSchema,
} from '../../schemas/audit.js';
import { isoTime, parseTime } from '../../util/clock.js';
import { ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

function invalid(path: string, message: string): AppError {
  return new AppError('validation_failed', `${path} ${message}`, { details: [{ path, message, keyword: 'semantic' }] });
}

/** An RFC 3339 query time as the stored form (UTC, milliseconds), so it compares with `at` as a string. */
function storedTime(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const ms = parseTime(String(value));
  if (Number.isNaN(ms)) throw invalid(`/${name}`, 'is not a valid time between the years 0000 and 9999 (UTC)');
  return isoTime(ms);
}

/**
 * The audit trail of the caller's org. Events appear once the chainer has linked them, tens of
 * milliseconds after the change; list, export and verify read what is linked and never wait.
 */
export function auditRoutes(s: Services): RouteSpec[] {
  const chain = s.engine.audit.chain;
  return [
    {
      method: 'get',
      path: '/v1/audit',
      operationId: 'listAuditEvents',
      summary:
        "The org's audit events in ascending seq; filter by type, agent_id, subject_id and a time range [from, to); page with cursor",
      tag: 'audit',
      roles: ['enterprise'],
      query: auditListQuerySchema,
      success: { status: 200, schema: auditEventPageSchema },
      async handle(i) {
        const q = i.query as {
          limit: number;
          cursor?: string;
          type?: string;
          agent_id?: string;
          subject_id?: string;
          from?: string;
          to?: string;
        };
        const query: AuditQuery = { limit: q.limit, after_seq: q.cursor === undefined ? 0 : Number(q.cursor) };
        if (q.type !== undefined) query.type = q.type;
        if (q.agent_id !== undefined) query.agent_id = q.agent_id;
        if (q.subject_id !== undefined) query.subject_id = q.subject_id;
        const from = storedTime('from', q.from);
        const to = storedTime('to', q.to);
        if (from !== undefined) query.from = from;
        if (to !== undefined) query.to = to;
        const items = (await chain.listAuditEvents(ownerOf(i), query)).map(cleanAuditEvent);
        const last = items[items.length - 1];
        return { items, next_cursor: items.length === q.limit && last ? String(last.seq) : null };
      },
    },
    {
      method: 'get',
      path: '/v1/audit/export',
      operationId: 'exportAudit',
      summary:
        "Stream the org's audit chain (or from_seq..to_seq) as JSON or CSV, closed by a signed checkpoint; verify offline with the audit CLI and the JWKS",
      tag: 'audit',
      roles: ['enterprise'],
      query: auditExportQuerySchema,
      success: {
        status: 200,
        schema: auditExportSchema,
        alternatives: { 'text/csv': auditExportCsvSchema },
        description: 'Streamed (chunked); Content-Disposition names a file',
      },
      async handle(i) {
        const q = i.query as { format: 'json' | 'csv'; from_seq?: number; to_seq?: number };
        if (q.from_seq !== undefined && q.to_seq !== undefined && q.to_seq < q.from_seq) {
          throw invalid('/to_seq', 'must not be below from_seq');
        }
        const opened = await openAuditExport({
          store: chain,
          orgId: ownerOf(i),
          format: q.format,
          sign: s.engine.sign,
          now: () => s.clock.now(),
          fromSeq: q.from_seq,
          toSeq: q.to_seq,
        });
        i.ctx.type = opened.contentType;
        i.ctx.set('Content-Disposition', `attachment; filename="${opened.filename}"`);
        i.ctx.set('Cache-Control', 'no-store');
        return opened.stream;
      },
    },
    {
      method: 'get',
      path: '/v1/audit/verify',
      operationId: 'verifyAudit',
      summary:
        "Verify the org's whole hash chain as linked now; names the first bad seq and why (reads it all: seconds per million events)",
      tag: 'audit',
      roles: ['enterprise'],
      success: { status: 200, schema: auditVerifyResultSchema },
      handle: (i) => verifyStoredChain(chain, ownerOf(i)),
    },
  ];
}
