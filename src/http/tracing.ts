import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Middleware, Next } from 'koa';
import { endSpanWithError, startSpan, traced, tracingActive } from '../util/tracing.js';
import type { AppContext } from './types.js';

/**
 * The HTTP spans (when a tracer provider is registered; see src/util/tracing.ts): a server span per
 * request, `<METHOD> <route template>`, active while the request is handled, so that the engine's spans
 * (`allowance.authorize` and its children) nest under it, and `allowance.auth` for authentication.
 */

/** Runs `handle` inside the request's server span; without a tracer provider, `handle` alone. */
export function traceRequest(ctx: AppContext, handle: () => Promise<void>): Promise<void> {
  if (!tracingActive()) return handle();
  return traced(
    `${ctx.method}`,
    // The route template only, never the raw path: a client may put anything in a URL.
    { 'http.request.method': ctx.method },
    async (span) => {
      try {
        await handle();
      } finally {
        const route = ctx.state.route;
        if (span) {
          if (route) span.updateName(`${ctx.method} ${route}`);
          span.setAttributes({
            'http.route': route ?? 'unmatched',
            'http.response.status_code': ctx.status,
            'allowance.request_id': ctx.state.requestId,
            ...(ctx.state.principal ? { 'allowance.role': ctx.state.principal.role } : {}),
          });
          // A server span is an error for a 5xx only (a 4xx is the client's).
          if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: `status ${ctx.status}` });
        }
      }
    },
    SpanKind.SERVER,
  );
}

const authSpans = new WeakMap<object, NonNullable<ReturnType<typeof startSpan>>>();

/**
 * Authentication's middlewares inside an `allowance.auth` span, a child of the request's span that ends
 * once the principal is known (or authentication failed), before the route handler runs.
 */
export function traceAuthentication(chain: Middleware[]): Middleware[] {
  const open = (ctx: AppContext, next: Next) => {
    // One span per request, should authentication run twice for it.
    const span = authSpans.has(ctx) ? undefined : startSpan('allowance.auth');
    // Without tracing: no span, and no promise of this step's own.
    if (!span) return next();
    authSpans.set(ctx, span);
    return next().catch((err: unknown) => {
      // Still open: authentication itself failed.
      if (authSpans.delete(ctx)) endSpanWithError(span, err);
      throw err;
    });
  };
  const close = (ctx: AppContext, next: Next) => {
    const span = authSpans.get(ctx);
    if (span) {
      authSpans.delete(ctx);
      const principal = ctx.state.principal;
      if (principal) {
        span.setAttributes({
          'allowance.role': principal.role,
          'allowance.auth.via': principal.via,
          'allowance.key_id': principal.keyId,
        });
      }
      span.end();
    }
    return next();
  };
  return [open as Middleware, ...chain, close as Middleware];
}
