import Router from '@koa/router';
import type { Middleware } from 'koa';
import compose from 'koa-compose';
import { AppError } from '../errors/index.js';
import { compileValidator } from '../schemas/index.js';
import type { CredentialRole } from '../storage/index.js';
import { isTestId, testTwinId } from '../util/ids.js';
import { readJsonBody } from './middleware/read-json-body.js';
import type { AppContext, Principal } from './types.js';

/** The id of the caller's org or processor; `forbidden` for the operator. */
export function ownerOf(input: RouteInput): string {
  const owner = input.principal?.ownerId;
  if (!owner) throw new AppError('forbidden', 'this route needs an enterprise or processor credential');
  return owner;
}

/** The audit actor of a request: the key id of the credential that made it. */
export function actorOf(input: RouteInput): string {
  return input.principal?.keyId ?? 'anonymous';
}

/** The parsed input a handler receives. */
export interface RouteInput {
  /** Null on public routes. */
  principal: Principal | null;
  params: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: validated by the schema of the route or by the engine
  body: any;
  query: Record<string, unknown>;
  ctx: AppContext;
}

/**
 * One endpoint, as data: the router mounts it and /openapi.json documents it from the same schemas.
 * `body.validate` is true for bodies only the HTTP layer knows; engine inputs are validated by the engine
 * with the same schema objects.
 */
export interface RouteSpec {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Koa path, e.g. /v1/agents/:id */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** Roles allowed to call it, or public. */
  roles: CredentialRole[] | 'public';
  body?: { schema: { $id: string }; validate?: boolean; required?: boolean };
  /**
   * A body that is not JSON, read by the handler itself (documented in /openapi.json with these media
   * types as binary).
   */
  rawBody?: { contentTypes: string[]; description: string };
  query?: { $id: string; properties: Record<string, object> };
  success: {
    status: number;
    schema: { $id: string } | null;
    contentType?: string;
    description?: string;
    /** Other media types of the success response, documented in /openapi.json (the handler sets `ctx.type`). */
    alternatives?: Record<string, { $id: string }>;
  };
  /**
   * Another success status the handler may answer with (it sets `ctx.state.status`), documented in
   * /openapi.json with its own schema.
   */
  otherSuccess?: { status: number; schema: { $id: string }; description: string };
  /** Error statuses beyond the ones every route of its kind has. */
  errors?: number[];
  /** Not rate limited per credential (public and health routes). */
  noRateLimit?: boolean;
  /**
   * Public routes only: limited per client address, at this many tokens of the address bucket for a valid
   * body (one is taken before the body is read). Authenticated routes always take one before authentication.
   */
  addressCost?: (body: unknown) => number;
  handle(input: RouteInput): Promise<unknown> | unknown;
}

const validators = new Map<string, (v: unknown) => unknown>();
function validatorFor(schema: { $id: string }): (v: unknown) => unknown {
  let v = validators.get(schema.$id);
  if (!v) {
    v = compileValidator(schema);
    validators.set(schema.$id, v);
  }
  return v;
}

/** Query strings to typed values: integers where the schema says integer. */
export function parseQuery(
  raw: Record<string, string | string[] | undefined>,
  schema: { properties: Record<string, object> },
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) throw new AppError('validation_failed', `query parameter ${k} is repeated`);
    const prop = schema.properties[k] as { type?: string } | undefined;
    const n = prop?.type === 'integer' && /^-?[0-9]{1,16}$/.test(v) ? Number(v) : Number.NaN;
    out[k] = Number.isSafeInteger(n) ? n : v;
  }
  return out;
}

/** `livemode` of an object of an org or processor: false for their test twins' (`orgtest_…`, `prctest_…`). */
function livemodeOf(o: Record<string, unknown>): boolean | undefined {
  const owner = typeof o.org_id === 'string' ? o.org_id : typeof o.processor_id === 'string' ? o.processor_id : null;
  return owner === null ? undefined : !isTestId(owner);
}

/** A plain object of an org given `livemode` (unless it has one, e.g. a signed decision); others as they are. */
function markOne(value: unknown): unknown {
  if (!value || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const o = value as Record<string, unknown>;
  if ('livemode' in o) return o;
  const livemode = livemodeOf(o);
  return livemode === undefined ? o : { ...o, livemode };
}

/** `value` marked, and so are the objects of its own fields (an intent result's `intent`), but never an audit
 * event's `payload`: what was hashed into the chain is answered as it was hashed. */
function markWithChildren(value: unknown): unknown {
  const marked = markOne(value);
  if (!marked || typeof marked !== 'object' || Object.getPrototypeOf(marked) !== Object.prototype) return marked;
  let out: Record<string, unknown> | null = null;
  for (const [key, child] of Object.entries(marked)) {
    if (key === 'payload' || key === 'items') continue;
    const next = markOne(child);
    if (next !== child) {
      out ??= { ...(marked as Record<string, unknown>) };
      out[key] = next;
    }
  }
  return out ?? marked;
}

/**
 * Every object of an org answered, alone, in a result or as a page's items, says which mode it belongs to.
 * It follows from the owner's id (a test twin's or not), so it is derived here once instead of stored on
 * each object.
 */
function withLivemode(result: unknown): unknown {
  const marked = markWithChildren(result);
  const items = (marked as { items?: unknown } | null)?.items;
  if (Array.isArray(items)) return { ...(marked as object), items: items.map(markWithChildren) };
  return marked;
}

/**
 * The role wall of one router: who may call its routes. `public` routes authenticate nobody; every other
 * wall authenticates the caller, then admits only these roles. The wall is applied once, at the router.
 */
export type Wall = readonly CredentialRole[] | 'public';

/** One audience: its router's wall and the routes mounted behind it. */
export interface Audience {
  /** Shown in errors and docs, e.g. `enterprise`. */
  name: string;
  wall: Wall;
  routes: readonly RouteSpec[];
}

/** What a router needs besides its routes. */
export interface RouteHooks {
  authenticate: Middleware[];
  /** The per-credential limit (may ask a shared store). */
  rateLimit: (key: string) => Promise<void> | void;
  /** Takes `cost` tokens of the client address's bucket, or throws `rate_limited`. */
  limitAddress: (ctx: AppContext, cost: number) => void;
}

/** True when a route's declared roles are exactly the wall it is mounted behind (order aside). */
export function sameWall(roles: RouteSpec['roles'], wall: Wall): boolean {
  if (roles === 'public' || wall === 'public') return roles === wall;
  return roles.length === wall.length && roles.every((r) => wall.includes(r));
}

/**
 * The router of one audience: its wall (address limit, authentication, role check) applied once to every
 * route of the router, then each route's own steps. A route whose declared `roles` are not this wall is a
 * programming error: it throws here, so a route placed in the wrong audience list never serves.
 */
export function audienceRouter(audience: Audience, hooks: RouteHooks): Router {
  const router = new Router();
  for (const spec of audience.routes) {
    if (!sameWall(spec.roles, audience.wall)) {
      throw new Error(
        `${spec.method.toUpperCase()} ${spec.path} declares roles ${JSON.stringify(spec.roles)} but is mounted behind the ${audience.name} wall`,
      );
    }
  }
  const wall = audience.wall;
  // Names the matched route for logs and metrics before anything can fail (this router's first route
  // matching the request is the one that runs).
  const own = new Set<unknown>();
  const nameRoute: Middleware = (c, next) => {
    const ctx = c as AppContext & { matched?: { path: unknown; methods: string[] }[] };
    const layer = ctx.matched?.find((l) => own.has(l) && l.methods.includes(ctx.method));
    if (layer && typeof layer.path === 'string') ctx.state.route = layer.path;
    return next();
  };
  if (wall === 'public') {
    router.use(nameRoute);
  } else {
    const allowed = wall.join(' or ');
    // The wall as one router layer (the router matches and dispatches each layer of its own per request):
    // the route's name, then the address limit in front of authentication (a flood of unknown key ids or
    // bad tokens is cut off before any store read), authentication, and the role check.
    router.use(
      compose([
        nameRoute,
        (c, next) => {
          hooks.limitAddress(c as AppContext, 1);
          return next();
        },
        ...hooks.authenticate,
        (c, next) => {
          const principal = (c as AppContext).state.principal;
          if (!principal) throw new AppError('unauthorized', 'not authenticated');
          if (!wall.includes(principal.role))
            throw new AppError('forbidden', `this route is for ${allowed} credentials`);
          return next();
        },
      ]),
    );
  }
  for (const spec of audience.routes) router[spec.method](spec.path, routeHandler(spec, hooks));
  for (const layer of router.stack) if (layer.methods.length > 0) own.add(layer);
  return router;
}

/**
 * The final middleware of a route, behind its router's wall: rate limit, body, query, handler, response.
 */
function routeHandler(spec: RouteSpec, hooks: RouteHooks): Middleware {
  const validateBody = spec.body?.validate ? validatorFor(spec.body.schema) : null;
  const validateQuery = spec.query ? validatorFor(spec.query) : null;
  const isPublic = spec.roles === 'public';
  return async (c) => {
    const ctx = c as AppContext;
    const principal = isPublic ? null : (ctx.state.principal ?? null);
    if (!isPublic) {
      // The wall admitted the caller; a route reached without one is mounted outside any wall.
      if (!principal) throw new AppError('unauthorized', 'not authenticated');
      if (!spec.noRateLimit) {
        // A limit of this process answers at once; only a shared one (a store) is waited for.
        const limited = hooks.rateLimit(principal.keyId);
        if (limited) await limited;
      }
    } else if (spec.addressCost) {
      hooks.limitAddress(ctx, 1);
    }
    let body: unknown;
    if (spec.body) {
      body = await readJsonBody(ctx);
      if (body === undefined) {
        if (spec.body.required !== false) throw new AppError('malformed_request', 'a JSON body is required');
        body = {};
      }
      if (validateBody) validateBody(body);
      // A test-mode caller names processors by their ids, as everyone does; its data lives with their test twins.
      const named = (body as { processor_id?: unknown } | null)?.processor_id;
      if (principal && !principal.livemode && typeof named === 'string') {
        (body as { processor_id: string }).processor_id = testTwinId(named);
      }
    }
    if (isPublic && spec.addressCost) {
      const extra = spec.addressCost(body) - 1;
      if (extra > 0) hooks.limitAddress(ctx, extra);
    }
    const query = validateQuery
      ? (validateQuery(parseQuery(ctx.query, spec.query as never)) as Record<string, unknown>)
      : {};
    const result = await spec.handle({
      principal,
      params: (ctx as unknown as { params: Record<string, string> }).params ?? {},
      body,
      query,
      ctx,
    });
    const status = ctx.state.status ?? spec.success.status;
    ctx.status = status;
    if (spec.success.contentType) ctx.type = spec.success.contentType;
    ctx.body = status === 204 ? null : withLivemode(result);
  };
}

/**
 * The routers of the app as one middleware, in mount order. A request for a route without path parameters
 * (`POST /v1/authorize`) goes straight to the router serving it, instead of through every router mounted
 * before it (each matches the path against all its routes); any other request goes through the routers in
 * order. A route is taken straight only when no router before its own serves the same method and path, so
 * the router that answers is always the one the chain would reach first.
 */
export function dispatchRouters(routers: readonly Router[]): Middleware {
  const middlewares = routers.map((r) => r.routes() as Middleware);
  const chain = compose(middlewares);
  const direct = new Map<string, Middleware>();
  routers.forEach((router, i) => {
    for (const layer of router.stack) {
      const path = layer.path;
      if (layer.methods.length === 0 || typeof path !== 'string' || !/^[A-Za-z0-9/._-]+$/.test(path)) continue;
      for (const method of layer.methods) {
        const key = `${method} ${path}`;
        if (direct.has(key)) continue;
        if (routers.slice(0, i).some((before) => before.match(path, method).route)) continue;
        direct.set(key, middlewares[i] as Middleware);
      }
    }
  });
  return (ctx, next) => (direct.get(`${ctx.method} ${ctx.path}`) ?? chain)(ctx, next);
}
