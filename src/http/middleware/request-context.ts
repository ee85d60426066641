import type { Next } from 'koa';
import { AppError } from '../../errors/index.js';
import { toAppError } from '../../storage/index.js';
import { newRequestId } from '../../util/ids.js';
import { AuthError } from '../auth/auth-error.js';
import type { Logger } from '../logger.js';
import type { AppMetrics } from '../metrics.js';
import { traceRequest } from '../tracing.js';
import type { AppContext } from '../types.js';

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** An error of a request as an AppError: anything unknown is `internal_error`. */
function asAppError(err: unknown): AppError {
  return toAppError(err, { otherwise: 'internal_error', conflictMessage: 'the resource changed or exists' });
}

/**
 * The outermost middleware: assigns the Request-Id (a sane incoming one is kept), turns every error into
 * the envelope `{error: {code, message, reason?, request_id, details?}}` (5xx messages hidden), writes one
 * JSON access-log line per request and counts it in the metrics.
 */
export function requestContext(logger: Logger, metrics: AppMetrics) {
  const handle = async (ctx: AppContext, next: Next) => {
    const started = process.hrtime.bigint();
    ctx.state.receivedAt = performance.now();
    const incoming = ctx.get('request-id');
    const requestId = SANE_ID.test(incoming) ? incoming : newRequestId();
    ctx.state.requestId = requestId;
    ctx.set('Request-Id', requestId);
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new AppError('not_found', 'no such route');
      if (ctx.status === 501 && ctx.body === undefined) {
        // The router answers 501 to a method it never routes (TRACE, PUT, ...): a 405 on a known path, else 404.
        const allow = ctx.response.get('Allow');
        if (!allow) {
          ctx.remove('Allow');
          throw new AppError('not_found', 'no such route');
        }
        throw new AppError('method_not_allowed', 'method not allowed on this route');
      }
      if (ctx.status === 405 && ctx.body === undefined) {
        throw new AppError('method_not_allowed', 'method not allowed on this route');
      }
    } catch (caught) {
      const err = asAppError(caught);
      const error: Record<string, unknown> = {
        code: err.code,
        message: err.expose ? err.message : 'internal error',
      };
      if (err instanceof AuthError) error.reason = err.reason;
      error.request_id = requestId;
      if (err.expose && err.details !== undefined) error.details = err.details;
      if (err.code === 'rate_limited')
        ctx.set('Retry-After', String((err.details as { retry_after: number }).retry_after));
      if (err.status === 401) ctx.set('WWW-Authenticate', 'Bearer');
      ctx.status = err.status;
      ctx.body = { error };
      if (err.status >= 500) {
        const cause = err.cause ?? err;
        logger.error('request_failed', {
          request_id: requestId,
          code: err.code,
          error: cause instanceof Error ? (cause.stack ?? cause.message) : String(cause),
        });
      }
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const route = ctx.state.route ?? 'unmatched';
      metrics.request(ctx.method, route, ctx.status);
      logger.info('request', {
        request_id: requestId,
        method: ctx.method,
        route,
        status: ctx.status,
        ms: Math.round(ms * 1000) / 1000,
        key_id: ctx.state.principal?.keyId,
      });
    }
  };
  return (ctx: AppContext, next: Next) => traceRequest(ctx, () => handle(ctx, next));
}
