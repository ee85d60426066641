// OpenTelemetry for `allowance serve`: the SDK, configured by the standard OTEL_ environment variables,
// started only when they ask for traces.

import { context, propagation, trace } from '@opentelemetry/api';

/** A started SDK: flush and stop it on shutdown. */
export interface Telemetry {
  /** The trace exporters asked for (OTEL_TRACES_EXPORTER, `otlp` when only an OTLP endpoint is set). */
  exporters: string[];
  shutdown(): Promise<void>;
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

/**
 * The trace exporters the environment asks for, or none: traces are off unless OTEL_TRACES_EXPORTER names
 * an exporter (otlp, console, zipkin) or an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then `otlp`); OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none
 * keeps them off.
 */
export function traceExportersOf(env: NodeJS.ProcessEnv): string[] {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return [];
  const named = list(env.OTEL_TRACES_EXPORTER);
  if (named.includes('none')) return [];
  if (named.length > 0) return named;
  return env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? ['otlp'] : [];
}

/**
 * Starts the OpenTelemetry Node SDK when the environment asks for traces ({@link traceExportersOf}); null
 * otherwise (the SDK is not even loaded, and the API's spans stay no-ops). The SDK reads the rest of the
 * standard variables itself (OTEL_EXPORTER_OTLP_*, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_PROPAGATORS) from the process environment, which `env` must be.
 * Metrics and logs stay with /metrics and the JSON log unless OTEL_METRICS_EXPORTER or OTEL_LOGS_EXPORTER
 * asks for them too. No instrumentation of libraries is loaded: the spans are Allowance's own.
 */
export async function startTelemetry(env: NodeJS.ProcessEnv = process.env): Promise<Telemetry | null> {
  const exporters = traceExportersOf(env);
  if (exporters.length === 0) return null;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: 'allowance' }),
    instrumentations: [],
    ...(env.OTEL_METRICS_EXPORTER ? {} : { metricReaders: [] }),
    ...(env.OTEL_LOGS_EXPORTER ? {} : { logRecordProcessors: [] }),
  });
  sdk.start();
  return {
    exporters,
    async shutdown() {
      await sdk.shutdown();
      // Nothing is exported any more: back to the API's no-ops, so spans cost nothing.
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
