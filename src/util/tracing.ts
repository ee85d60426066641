import {
  type Attributes,
  ProxyTracerProvider,
  type Span,
  type SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';

/**
 * Traces through @opentelemetry/api: spans are made only while a tracer provider is registered (an SDK,
 * e.g. the one `allowance serve` starts from the OTEL_ environment variables, or a test's). Without one
 * every helper here runs its function directly: no span object, no context switch.
 */

/** The instrumentation scope of every span of Allowance. */
export const TRACER_NAME = 'allowance';

/** What the API's proxy provider delegates to while no provider is registered. */
const NOOP_DELEGATE = new ProxyTracerProvider().getDelegate();

/** The registered provider, or null while none is. */
function registered(): TracerProvider | null {
  const provider = trace.getTracerProvider();
  if (!(provider instanceof ProxyTracerProvider)) return provider;
  const delegate = provider.getDelegate();
  return delegate === NOOP_DELEGATE ? null : delegate;
}

/** True while a tracer provider is registered globally (spans are made). */
export function tracingActive(): boolean {
  return registered() !== null;
}

let current: { provider: TracerProvider; tracer: Tracer } | null = null;

/** The tracer of the provider registered now (another one may be registered after a shutdown). */
function tracer(): Tracer {
  const provider = registered() ?? trace.getTracerProvider();
  if (current?.provider !== provider) current = { provider, tracer: provider.getTracer(TRACER_NAME) };
  return current.tracer;
}

function fail(span: Span, err: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') span.setAttribute('allowance.error.code', code);
  if (err instanceof Error) span.recordException(err);
}

/**
 * Runs `fn` inside a span `name` made the active one (its children nest under it), ended when `fn`
 * returns or its promise settles; a throw or rejection marks the span as an error with its `code`.
 * Without a tracer provider, `fn(undefined)`.
 */
export function traced<T>(
  name: string,
  attributes: Attributes | undefined,
  fn: (span: Span | undefined) => T,
  kind?: SpanKind,
): T {
  if (!tracingActive()) return fn(undefined);
  return tracer().startActiveSpan(
    name,
    { ...(attributes ? { attributes } : {}), ...(kind ? { kind } : {}) },
    (span) => {
      let result: T;
      try {
        result = fn(span);
      } catch (err) {
        fail(span, err);
        span.end();
        throw err;
      }
      if (result instanceof Promise) {
        return result.then(
          (value) => {
            span.end();
            return value;
          },
          (err: unknown) => {
            fail(span, err);
            span.end();
            throw err;
          },
        ) as T;
      }
      span.end();
      return result;
    },
  );
}

/** {@link traced}, only as the child of a span already active (so that no lone span starts a trace). */
export function tracedChild<T>(name: string, attributes: Attributes | undefined, fn: () => T): T {
  if (!tracingActive() || trace.getActiveSpan() === undefined) return fn();
  return traced(name, attributes, fn);
}

/** A span that is not made active (its end is up to the caller); undefined without a tracer provider. */
export function startSpan(name: string, attributes?: Attributes): Span | undefined {
  if (!tracingActive()) return undefined;
  return tracer().startSpan(name, attributes ? { attributes } : {});
}

/** Ends `span` as failed by `err`. */
export function endSpanWithError(span: Span, err: unknown): void {
  fail(span, err);
  span.end();
}
