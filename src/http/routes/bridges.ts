import {
  type BridgeKind,
  type BridgeService,
  type LithicSignatureHeaders,
  MAX_EVENT_BYTES,
} from '../../bridges/index.js';
import { AppError } from '../../errors/index.js';
import {
  bridgeEventAckSchema,
  bridgeSchema,
  lithicAsaAnswerSchema,
  registerLithicAsaBridgeSchema,
  registerStripeIssuingBridgeSchema,
  rotateBridgeSecretSchema,
  rotateLithicBridgeSecretSchema,
  stripeIssuingAnswerSchema,
} from '../../schemas/index.js';
import { readRawBody } from '../middleware/read-json-body.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';
import type { AppContext } from '../types.js';

const ORG_ID = /^[a-z]+_[0-9a-z]{1,60}$/;

/** The raw body of a processor's call: the signature covers these exact bytes. */
function rawBody(ctx: AppContext): Promise<Buffer> {
  return readRawBody(ctx, MAX_EVENT_BYTES);
}

/** Card-processor bridges: the processor's own calls (public, authenticated by the processor's signature). */
export function bridgeCallRoutes(s: Services): RouteSpec[] {
  const b = s.bridges;
  return [
    webhookRoute({
      path: '/v1/bridges/stripe-issuing/:org_id',
      operationId: 'stripeIssuingBridge',
      summary:
        "Stripe Issuing's webhook for the org: issuing_authorization.request is decided (answered with approved, amount, metadata and the Stripe-Version header, within the authorize deadline), issuing_transaction.created captures (once per transaction, several per authorization) or refunds, issuing_authorization.created/.updated close the authorization (captured for what was captured, else reversed). Authenticated only by the Stripe-Signature header",
      bodyDescription: 'The Stripe event, exactly as Stripe signed it.',
      answer: stripeIssuingAnswerSchema,
      errors: [400, 401, 403, 413, 422, 429, 503],
      signatureHeader: 'Stripe-Signature',
      async call(orgId, payload, ctx) {
        const reply = await b.handleStripe(
          orgId,
          payload,
          ctx.get('stripe-signature') || undefined,
          s.readGuard(ctx),
          ctx.state.receivedAt,
        );
        if (reply.stripeVersion) ctx.set('Stripe-Version', reply.stripeVersion);
        return reply.body;
      },
    }),
    webhookRoute({
      path: '/v1/bridges/lithic-asa/:org_id',
      operationId: 'lithicAsaBridge',
      summary:
        "Lithic's Auth Stream Access responder for the org: each authorization is decided within the authorize deadline and answered with Lithic's token, result (APPROVED or a decline reason) and approved_amount for a partial approval. Authenticated only by the webhook-id, webhook-timestamp and webhook-signature headers",
      bodyDescription: 'The ASA request, exactly as Lithic signed it.',
      answer: lithicAsaAnswerSchema,
      errors: [400, 401, 413, 422, 429, 503],
      signatureHeader: 'webhook-signature',
      async call(orgId, payload, ctx) {
        const reply = await b.handleLithic(orgId, payload, lithicHeaders(ctx), s.readGuard(ctx), ctx.state.receivedAt);
        return reply.body;
      },
    }),
    webhookRoute({
      path: '/v1/bridges/lithic-events/:org_id',
      operationId: 'lithicEventsBridge',
      summary:
        "Lithic's transaction events for the org (an event subscription): card_transaction.updated applies the CLEARING (capture) and RETURN (refund) events of the transaction whose token is the authorization id, once per event token; SETTLED, VOIDED, EXPIRED and DECLINED close it (captured for what cleared, else reversed). Authenticated only by the webhook-id, webhook-timestamp and webhook-signature headers",
      bodyDescription: 'The event, exactly as Lithic signed it.',
      answer: bridgeEventAckSchema,
      errors: [400, 401, 413, 422, 429, 503],
      signatureHeader: 'webhook-signature',
      async call(orgId, payload, ctx) {
        const reply = await b.handleLithicEvent(orgId, payload, lithicHeaders(ctx), s.readGuard(ctx));
        return reply.body;
      },
    }),
  ];
}

/** Card-processor bridges: their registration by the org (enterprise). */
export function bridgeRoutes(s: Services): RouteSpec[] {
  const b = s.bridges;
  return [
    ...registrationRoutes(b, 'stripe_issuing'),
    ...registrationRoutes(b, 'lithic_asa'),
    ...registrationRoutes(b, 'lithic_events'),
  ];
}

/** What differs between the processors' own (public, signed) calls. */
interface WebhookKind {
  path: string;
  operationId: string;
  summary: string;
  bodyDescription: string;
  answer: { $id: string };
  errors: number[];
  /** The header named when the org in the path is malformed: such a call cannot verify. */
  signatureHeader: string;
  /** Verifies and handles the raw body for a well-formed org; returns the answer's body. */
  call(orgId: string, payload: Buffer, ctx: AppContext): Promise<unknown>;
}

/** A processor's own call: the raw body is read (size-bounded) before the org in the path is checked. */
function webhookRoute(k: WebhookKind): RouteSpec {
  return {
    method: 'post',
    path: k.path,
    operationId: k.operationId,
    summary: k.summary,
    tag: 'bridges',
    roles: 'public',
    noRateLimit: true,
    rawBody: { contentTypes: ['application/json'], description: k.bodyDescription },
    success: { status: 200, schema: k.answer },
    errors: k.errors,
    async handle(i) {
      const orgId = i.params.org_id ?? '';
      const payload = await rawBody(i.ctx);
      if (!ORG_ID.test(orgId))
        throw new AppError('bridge_signature_invalid', `the ${k.signatureHeader} header does not verify`);
      return k.call(orgId, payload, i.ctx);
    },
  };
}

function lithicHeaders(ctx: AppContext): LithicSignatureHeaders {
  return {
    'webhook-id': ctx.get('webhook-id') || undefined,
    'webhook-timestamp': ctx.get('webhook-timestamp') || undefined,
    'webhook-signature': ctx.get('webhook-signature') || undefined,
  };
}

/** What differs between the registration routes of each bridge kind. */
interface RegistrationKind {
  path: string;
  /** The operation ids' stem: register<op>, get<op>, rotate<op>Secret, delete<op>. */
  op: string;
  registerSummary: string;
  getSummary: string;
  rotateSummary: string;
  deleteSummary: string;
  registerSchema: { $id: string };
  rotateSchema: { $id: string };
}

const LITHIC_ROTATE = 'Rotate the secret; the previous one is still accepted for grace_seconds (default one day)';

/** One row per bridge kind: its registration routes are generated from it by `registrationRoutes`. */
const REGISTRATION_KINDS: Record<BridgeKind, RegistrationKind> = {
  stripe_issuing: {
    path: '/v1/bridges/stripe-issuing',
    op: 'StripeIssuingBridge',
    registerSummary:
      "Connect the org's Stripe Issuing account: its webhook signing secret (stored sealed, never shown again) and the Allowance processor the bridge acts as",
    getSummary: "The org's Stripe Issuing bridge (secrets masked)",
    rotateSummary: 'Rotate the signing secret; the previous one is still accepted for grace_seconds (default one day)',
    deleteSummary: "Disconnect the org's Stripe Issuing account: its calls are refused from then on",
    registerSchema: registerStripeIssuingBridgeSchema,
    rotateSchema: rotateBridgeSecretSchema,
  },
  lithic_asa: {
    path: '/v1/bridges/lithic-asa',
    op: 'LithicAsaBridge',
    registerSummary:
      "Connect the org's Lithic program: the program's ASA HMAC secret (stored sealed, never shown again) and the Allowance processor the bridge acts as",
    getSummary: "The org's Lithic ASA bridge (secrets masked)",
    rotateSummary: LITHIC_ROTATE,
    deleteSummary: "Disconnect the org's Lithic ASA bridge: its calls are refused from then on",
    registerSchema: registerLithicAsaBridgeSchema,
    rotateSchema: rotateLithicBridgeSecretSchema,
  },
  lithic_events: {
    path: '/v1/bridges/lithic-events',
    op: 'LithicEventsBridge',
    registerSummary:
      "Connect the org's Lithic program: the transaction event subscription's signing secret (stored sealed, never shown again) and the Allowance processor the bridge acts as",
    getSummary: "The org's Lithic transaction-events bridge (secrets masked)",
    rotateSummary: LITHIC_ROTATE,
    deleteSummary: "Disconnect the org's Lithic transaction-events bridge: its calls are refused from then on",
    registerSchema: registerLithicAsaBridgeSchema,
    rotateSchema: rotateLithicBridgeSecretSchema,
  },
};

/** The registration routes of a bridge of `kind`: connect, read, rotate the secret, disconnect. */
function registrationRoutes(b: BridgeService, kind: BridgeKind): RouteSpec[] {
  const k = REGISTRATION_KINDS[kind];
  return [
    {
      method: 'post',
      path: k.path,
      operationId: `register${k.op}`,
      summary: k.registerSummary,
      tag: 'bridges',
      roles: ['enterprise'],
      body: { schema: k.registerSchema },
      success: { status: 201, schema: bridgeSchema },
      errors: [409, 422, 503],
      handle: (i) => b.register(ownerOf(i), i.body, kind, actorOf(i)),
    },
    {
      method: 'get',
      path: k.path,
      operationId: `get${k.op}`,
      summary: k.getSummary,
      tag: 'bridges',
      roles: ['enterprise'],
      success: { status: 200, schema: bridgeSchema },
      errors: [404, 503],
      handle: (i) => b.get(ownerOf(i), kind),
    },
    {
      method: 'put',
      path: `${k.path}/secret`,
      operationId: `rotate${k.op}Secret`,
      summary: k.rotateSummary,
      tag: 'bridges',
      roles: ['enterprise'],
      body: { schema: k.rotateSchema },
      success: { status: 200, schema: bridgeSchema },
      errors: [404, 409, 422, 503],
      handle: (i) => b.rotate(ownerOf(i), i.body, kind, actorOf(i)),
    },
    {
      method: 'delete',
      path: k.path,
      operationId: `delete${k.op}`,
      summary: k.deleteSummary,
      tag: 'bridges',
      roles: ['enterprise'],
      success: { status: 204, schema: null },
      errors: [404, 503],
      handle: (i) => b.remove(ownerOf(i), kind, actorOf(i)),
    },
  ];
}
