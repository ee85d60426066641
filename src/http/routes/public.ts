import { AppError } from '../../errors/index.js';
import { healthSchema, jwksSchema } from '../../schemas/index.js';
import type { RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** /readyz answers within a second: a ping that takes longer counts as a store that does not answer. */
export const READY_TIMEOUT_MS = 600;

/** Resolves when `ping` does, rejects when it fails or takes longer than `ms`. */
function within<T>(ms: number, ping: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([ping, late]).finally(() => clearTimeout(timer));
}

const openApiSchema = { $id: 'OpenApiDocument', type: 'object' } as const;
const metricsSchema = { $id: 'PrometheusText', type: 'string' } as const;

/** Public, unauthenticated routes. */
export function publicRoutes(s: Services, openapi: () => object): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/.well-known/jwks.json',
      operationId: 'jwks',
      summary: 'Public keys of decision proofs, mandates and agent tokens',
      tag: 'public',
      roles: 'public',
      success: { status: 200, schema: jwksSchema },
      handle: () => s.engine.jwks(),
    },
    {
      method: 'get',
      path: '/openapi.json',
      operationId: 'openapi',
      summary: 'This document',
      tag: 'public',
      roles: 'public',
      success: { status: 200, schema: openApiSchema },
      handle: () => openapi(),
    },
    {
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      summary: 'Prometheus metrics',
      tag: 'public',
      roles: 'public',
      success: { status: 200, schema: metricsSchema, contentType: 'text/plain; version=0.0.4; charset=utf-8' },
      handle: () => s.metrics.render(),
    },
    {
      method: 'get',
      path: '/healthz',
      operationId: 'healthz',
      summary: 'Liveness',
      tag: 'public',
      roles: 'public',
      success: { status: 200, schema: healthSchema },
      handle: () => ({ status: 'ok' }),
    },
    {
      method: 'get',
      path: '/readyz',
      operationId: 'readyz',
      summary: 'Readiness: the store answers a ping within 600 ms (else 503 storage_unavailable)',
      tag: 'public',
      roles: 'public',
      success: { status: 200, schema: healthSchema },
      errors: [503],
      async handle() {
        try {
          await within(READY_TIMEOUT_MS, s.engine.ping());
        } catch (err) {
          throw new AppError('storage_unavailable', 'the store does not answer', { cause: err });
        }
        return { status: 'ready' };
      },
    },
  ];
}
