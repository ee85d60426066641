import type { RouteSpec } from '../src/http/index.js';

const echoSchema = { $id: 'BenchEcho', type: 'object' } as const;

/**
 * POST /v1/_bench/echo: the authorize stack (processor auth, rate limit, JSON body) with an empty handler.
 * Mounted by bench/http.ts through createApp's `extraRoutes`: the baseline of the authorize route.
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
