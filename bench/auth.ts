// Authentication benchmark: the authenticate middleware alone (no HTTP, no route), per request, for a
// client-signed JWT and for an API key (x-api-key), each verified once and then answered from its cache, and
// each with its cache off (signature check or SHA-256 of the secret on every request). The variants run
// interleaved in rounds on one credential service, so drift of the shared machine hits them alike.
// Usage: npm run bench:auth   (BENCH_N=20000 samples per variant and round, BENCH_ROUNDS=5)
import { randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Middleware } from 'koa';
import { MemoryCredentialStorage } from '../adapters/memory/index.js';
import { createSecretBox } from '../src/crypto/index.js';
import { CredentialService } from '../src/http/auth/credential-service.js';
import { SessionTokens } from '../src/http/auth/session-tokens.js';
import { authenticate } from '../src/http/middleware/authenticate.js';
import { systemClock } from '../src/util/clock.js';
import { printTable, sample, summarize } from './stats.js';

const N = Number(process.env.BENCH_N ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const masterKey = randomBytes(32);
const credentials = new CredentialService(new MemoryCredentialStorage(), createSecretBox(masterKey), systemClock, null);
const sessions = new SessionTokens(masterKey);
const cred = await credentials.create('processor', 'prc_bench', 'bench', undefined, { apiKeyAuth: true });
const now = Math.floor(Date.now() / 1000);
const token = jwt.sign({ key_id: cred.key_id, iat: now, exp: now + 3600 }, cred.secret, { algorithm: 'HS256' });
const headers = {
  jwt: { authorization: `Bearer ${token}` },
  api_key: { 'x-api-key': `${cred.key_id}.${cred.secret}` },
};

/** Runs the middleware chain on a minimal context; resolves with the principal it set. */
function runner(chain: Middleware[], h: Record<string, string>) {
  return async () => {
    const ctx = { get: (name: string) => h[name] ?? '', state: {} as Record<string, unknown> };
    let i = 0;
    const next = async (): Promise<void> => {
      const mw = chain[i++];
      if (mw) await mw(ctx as never, next);
    };
    await next();
    if (!ctx.state.principal) throw new Error('not authenticated');
  };
}

const cached = authenticate({ credentials, sessions, clock: systemClock });
const uncached = authenticate({ credentials, sessions, clock: systemClock, tokenCacheSize: 0 });
const variants = {
  'JWT, cached': runner(cached, headers.jwt),
  'API key, cached': runner(cached, headers.api_key),
  'JWT, cache off': runner(uncached, headers.jwt),
  'API key, cache off': runner(uncached, headers.api_key),
} as const;

const samples: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  const order = Object.entries(variants);
  if (round % 2 === 1) order.reverse();
  for (const [name, fn] of order) (samples[name] as number[]).push(...(await sample(N, round === 0 ? 2_000 : 200, fn)));
}
const rows = Object.entries(samples).map(([name, s]) => ({ variant: name, ...summarize(s) }));
printTable(rows);
console.log(
  JSON.stringify({
    bench: 'auth',
    n_per_variant: N * ROUNDS,
    ...Object.fromEntries(rows.map((r) => [r.variant.replace(/[ ,]+/g, '_').toLowerCase(), r.p50_us])),
  }),
);
await credentials.settled();
