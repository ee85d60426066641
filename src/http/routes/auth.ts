import { AppError } from '../../errors/index.js';
import { compileValidator, sessionTokenSchema, tokenExchangeSchema } from '../../schemas/index.js';
import { AuthError } from '../auth/auth-error.js';
import type { RouteSpec } from '../route.js';
import type { Services } from '../services.js';

const validateExchange = compileValidator<{ key_id: string; secret: string }>(tokenExchangeSchema);

function basicCredentials(header: string): { key_id: string; secret: string } | null {
  const m = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header);
  if (!m) return null;
  const text = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  return { key_id: text.slice(0, colon), secret: text.slice(colon + 1) };
}

/** POST /v1/auth/token: a credential's key id and secret (JSON body or HTTP Basic) for a 15-minute session token. */
export function authRoutes(s: Services): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/v1/auth/token',
      operationId: 'exchangeToken',
      summary: 'Exchange a key id and secret (JSON body or HTTP Basic) for a session token',
      tag: 'auth',
      roles: 'public',
      body: { schema: tokenExchangeSchema, required: false },
      success: { status: 200, schema: sessionTokenSchema },
      errors: [401, 429],
      addressCost: () => 1,
      async handle({ body, ctx }) {
        const basic = basicCredentials(ctx.get('authorization'));
        const hasBody = body && typeof body === 'object' && Object.keys(body).length > 0;
        if (!basic && !hasBody)
          throw new AppError('malformed_request', 'send {key_id, secret} or HTTP Basic credentials');
        const creds = hasBody ? validateExchange(body) : (basic as { key_id: string; secret: string });
        s.rateLimiter.take(`exchange:${creds.key_id}`);
        const exchanged = await s.credentials.exchange(creds.key_id, creds.secret, s.readGuard(ctx));
        if (!exchanged) throw new AuthError('invalid_credentials');
        const { resolved, secretSha } = exchanged;
        return s.sessions.issue(resolved.keyId, resolved.role, s.clock.now(), secretSha);
      },
    },
  ];
}
