import { AppError } from '../../errors/index.js';
import {
  replayJobSchema,
  replayReportSchema,
  replayRequestSchema,
  replayStartedSchema,
  shadowReportSchema,
} from '../../schemas/index.js';
import type { ReplayJob } from '../../storage/index.js';
import { isoTime, parseTime } from '../../util/clock.js';
import type { PolicyCandidates } from '../policy-candidates.js';
import { actorOf, ownerOf, type RouteInput, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

function candidatesOf(s: Services): PolicyCandidates {
  if (!s.policyCandidates) throw new AppError('policy_unavailable', 'policy storage is not configured');
  return s.policyCandidates;
}

function windowTime(path: string, value: string): string {
  const ms = parseTime(value);
  if (Number.isNaN(ms)) {
    throw new AppError('validation_failed', `${path} is not a valid time between the years 0000 and 9999 (UTC)`, {
      details: [{ path, message: 'is not a valid time', keyword: 'semantic' }],
    });
  }
  return isoTime(ms);
}

/** The job as the API shows it (without the org and storage fields). */
function jobView(job: ReplayJob) {
  return {
    id: job.id,
    revision: job.revision,
    from: job.from,
    to: job.to,
    status: job.status,
    progress: job.progress,
    report: job.report,
    error: job.error,
  };
}

async function shadowReport(s: Services, i: RouteInput) {
  const orgId = ownerOf(i);
  const revision = i.params.revision as string;
  const candidates = candidatesOf(s);
  await candidates.require(orgId, revision);
  const [stats, active] = await Promise.all([
    s.engine.policyAnalysis.shadowStats(orgId, revision),
    candidates.activeRevision(orgId),
  ]);
  return {
    revision,
    active_revision: stats?.active_revision ?? active,
    since: stats?.since ?? null,
    evaluated: stats?.evaluated ?? 0,
    diverged: stats?.diverged ?? 0,
    transitions: stats?.transitions ?? {},
    reasons: stats?.reasons ?? {},
    approved_amount_delta: stats?.approved_amount_delta ?? { sum: 0, min: null, max: null },
    samples: stats?.samples ?? [],
  };
}

async function replay(s: Services, i: RouteInput) {
  const orgId = ownerOf(i);
  const body = i.body as { from: string; to: string; limit?: number };
  const from = windowTime('/from', body.from);
  const to = windowTime('/to', body.to);
  if (!(from < to)) {
    throw new AppError('validation_failed', '/to must be after /from', {
      details: [{ path: '/to', message: 'must be after from', keyword: 'semantic' }],
    });
  }
  const candidates = candidatesOf(s);
  const candidate = await candidates.load(orgId, i.params.revision as string);
  const started = await s.engine.policyAnalysis.replay(
    orgId,
    { base: candidates.base(orgId), candidate },
    { from, to, limit: body.limit ?? null },
    actorOf(i),
  );
  if ('report' in started) return started.report;
  i.ctx.state.status = 202;
  return { id: started.job.id, status: started.job.status };
}

/** Shadow reports and replays of the caller's org policy revisions. */
export function policyAnalysisRoutes(s: Services): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/v1/policies/:revision/shadow-report',
      operationId: 'getPolicyShadowReport',
      summary: 'How a shadow revision compared with the live decisions of the org so far',
      tag: 'policies',
      roles: ['enterprise'],
      success: { status: 200, schema: shadowReportSchema },
      errors: [404, 503],
      handle: (i) => shadowReport(s, i),
    },
    {
      method: 'post',
      path: '/v1/policies/:revision/replay',
      operationId: 'replayPolicy',
      summary:
        "Re-decide the org's stored authorizations of [from, to) with the revision and compare; a window of more than 2,000 decisions runs as a job (202)",
      tag: 'policies',
      roles: ['enterprise'],
      body: { schema: replayRequestSchema, validate: true },
      success: { status: 200, schema: replayReportSchema, description: 'The report of a window replayed at once.' },
      otherSuccess: {
        status: 202,
        schema: replayStartedSchema,
        description:
          'The window holds more than 2,000 decisions: it is replayed as a job (GET /v1/policy-replays/:id).',
      },
      errors: [404, 422, 503],
      handle: (i) => replay(s, i),
    },
    {
      method: 'get',
      path: '/v1/policy-replays/:id',
      operationId: 'getPolicyReplay',
      summary: 'A replay job: its progress, and its report once completed',
      tag: 'policies',
      roles: ['enterprise'],
      success: { status: 200, schema: replayJobSchema },
      errors: [404, 503],
      handle: async (i) => jobView(await s.engine.policyAnalysis.getReplay(ownerOf(i), i.params.id as string)),
    },
  ];
}
