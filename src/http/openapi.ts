import * as schemas from '../schemas/index.js';
import type { RouteSpec } from './route.js';

type Json = Record<string, unknown>;

const STATUS_TEXT: Record<number, string> = {
  400: 'Malformed request (bad JSON, or objects and arrays nested too deep: nesting_too_deep)',
  401: 'Not authenticated; error.reason says why',
  402: "The org's plan allows no more (quota_exceeded; details: resource, quota, used, resets_at)",
  403: 'Authenticated, but the role may not call this route',
  404: 'Not found (also for resources of another org)',
  405: 'Method not allowed',
  409: 'Conflict or invalid state',
  413: 'Body larger than 64 KB',
  415: 'Body is not application/json',
  422: 'Schema or semantic validation failed; error.details lists every problem',
  429: 'Rate limited per credential or per client address (`details.limit`); see Retry-After',
  500: 'Internal error (message hidden)',
  503: 'Storage or policy unavailable',
};

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value && typeof value === 'object') {
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === '$id') continue;
      out[k] =
        k === '$ref' && typeof v === 'string' && !v.startsWith('#') ? `#/components/schemas/${v}` : rewriteRefs(v);
    }
    return out;
  }
  return value;
}

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

/**
 * The OpenAPI 3.1 document of the API, built from the route table and the very JSON Schema objects ajv
 * compiles (OpenAPI 3.1 schemas are JSON Schema 2020-12, so they are used as they are).
 */
export function buildOpenApi(routes: RouteSpec[], version: string): Json {
  const components: Json = {};
  const add = (schema: unknown) => {
    const id = (schema as { $id?: unknown } | null)?.$id;
    if (typeof id === 'string' && !(id in components)) components[id] = rewriteRefs(schema);
  };
  for (const value of Object.values(schemas)) add(value);
  const paths: Json = {};
  const usedStatuses = new Set<number>();
  for (const r of routes) {
    const path = r.path.replace(/:([a-z_]+)/g, '{$1}');
    const params: Json[] = [...r.path.matchAll(/:([a-z_]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    if (r.query) {
      add(r.query);
      for (const [name, schema] of Object.entries(r.query.properties)) {
        params.push({ name, in: 'query', required: false, schema: rewriteRefs(schema) });
      }
    }
    const statuses = new Set<number>([500, ...(r.errors ?? [])]);
    if (r.body) for (const s of [400, 413, 415, 422]) statuses.add(s);
    if (r.roles !== 'public') for (const s of [401, 403, 429]) statuses.add(s);
    if (r.query) statuses.add(422);
    const responses: Json = {};
    if (r.success.schema) add(r.success.schema);
    const content: Json = {};
    if (r.success.schema) content[r.success.contentType ?? 'application/json'] = { schema: ref(r.success.schema.$id) };
    for (const [type, schema] of Object.entries(r.success.alternatives ?? {})) {
      add(schema);
      content[type] = { schema: ref(schema.$id) };
    }
    responses[String(r.success.status)] = {
      description: r.success.description ?? 'Success',
      ...(Object.keys(content).length > 0 ? { content } : {}),
    };
    if (r.otherSuccess) {
      add(r.otherSuccess.schema);
      responses[String(r.otherSuccess.status)] = {
        description: r.otherSuccess.description,
        content: { 'application/json': { schema: ref(r.otherSuccess.schema.$id) } },
      };
    }
    for (const s of [...statuses].sort()) {
      usedStatuses.add(s);
      responses[String(s)] = { $ref: `#/components/responses/E${s}` };
    }
    const op: Json = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      parameters: params,
      responses,
      security: r.roles === 'public' ? [] : [{ bearerAuth: [] }, { apiKeyAuth: [] }],
    };
    if (r.roles !== 'public') op['x-roles'] = r.roles;
    if (r.body) {
      add(r.body.schema);
      op.requestBody = {
        required: r.body.required !== false,
        content: { 'application/json': { schema: ref(r.body.schema.$id) } },
      };
    }
    if (r.rawBody) {
      for (const st of [413, 415, 422]) {
        usedStatuses.add(st);
        responses[String(st)] = { $ref: `#/components/responses/E${st}` };
      }
      op.requestBody = {
        required: true,
        description: r.rawBody.description,
        content: Object.fromEntries(
          r.rawBody.contentTypes.map((t) => [t, { schema: { type: 'string', format: 'binary' } }]),
        ),
      };
    }
    const item = (paths[path] ?? {}) as Json;
    item[r.method] = op;
    paths[path] = item;
  }
  const errorResponses: Json = {};
  for (const s of [...usedStatuses].sort()) {
    errorResponses[`E${s}`] = {
      description: STATUS_TEXT[s] ?? 'Error',
      headers: s === 429 ? { 'Retry-After': { schema: { type: 'integer' } } } : undefined,
      content: { 'application/json': { schema: ref('ErrorResponse') } },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Allowance API',
      version,
      description:
        'Spending authority for AI agents. Authenticate with Authorization: Bearer <jwt>: either HS256 signed by the client with its credential secret (claims key_id, iat, exp; exp - iat <= 3600) or a session token from POST /v1/auth/token. A credential created with api_key_auth may instead send x-api-key: <key_id>.<secret> (or Authorization: Bearer <key_id>.<secret>) on every request.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: components,
      responses: errorResponses,
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        basicAuth: { type: 'http', scheme: 'basic' },
        apiKeyAuth: {
          type: 'apiKey',
          in: 'header',
          name: 'x-api-key',
          description: '<key_id>.<secret> of a credential created with api_key_auth: true',
        },
      },
    },
  };
}
