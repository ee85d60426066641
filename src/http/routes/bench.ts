import type { RouteSpec } from '../route.js';

const echoSchema = { $id: 'BenchEcho', type: 'object' } as const;

/**
 * POST /v1/_bench/echo: the authorize stack (processor auth, rate limit, JSON body) with an empty handler.
 * Mounted only when createApp gets `benchRoute: true`; the baseline of bench/http.ts.
 */
export function benchRoutes(): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/v1/_bench/echo',
      operationId: 'benchEcho',
      summary: 'Benchmark baseline',
      tag: 'bench',
      roles: ['processor'],
      body: { schema: echoSchema },
      success: { status: 200, schema: null },
      handle: () => ({ ok: true }),
    },
  ];
}
