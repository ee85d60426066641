import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppError } from '../../src/errors/index.js';
import type { CredentialLimiter } from '../../src/http/middleware/rate-limit.js';
import { mongoCredentialLimiter } from '../../src/http/middleware/shared-rate-limit.js';

const s = suite('shared per-credential limit: store trouble');

/** A stand-in MongoClient whose counter update does what `update` says. */
function fakeClient(update: () => Promise<unknown>) {
  const collection = { createIndex: async () => 'ok', findOneAndUpdate: update };
  return { db: () => ({ collection: () => collection }) };
}

function countingFallback(): CredentialLimiter & { calls: number } {
  const f = {
    calls: 0,
    consume() {
      f.calls += 1;
    },
  };
  return f;
}

s('a counter that does not answer in time: the request is counted by the fallback', async () => {
  const fallback = countingFallback();
  const limiter = mongoCredentialLimiter({
    client: fakeClient(() => new Promise(() => {})),
    dbName: 'x',
    perSecond: 5,
    burst: 5,
    timeoutMs: 20,
    fallback,
  });
  await limiter.consume('ek_1');
  assert.is(fallback.calls, 1);
});

s('a counter that fails: counted by the fallback, whose rate_limited stands', async () => {
  const limiter = mongoCredentialLimiter({
    client: fakeClient(() => Promise.reject(new Error('connection reset'))),
    dbName: 'x',
    perSecond: 5,
    burst: 5,
    fallback: {
      consume() {
        throw new AppError('rate_limited', 'local', { details: { retry_after: 1, limit: 'credential' } });
      },
    },
  });
  try {
    await limiter.consume('ek_1');
    assert.unreachable('the fallback limited it');
  } catch (err) {
    assert.ok(err instanceof AppError && err.code === 'rate_limited');
  }
});

s('a counter past its points: rate_limited with the wait it reports, the fallback untouched', async () => {
  const fallback = countingFallback();
  const expire = new Date(Date.now() + 800);
  const limiter = mongoCredentialLimiter({
    client: fakeClient(async () => ({ key: 'cred:ek_1', points: 6, expire })),
    dbName: 'x',
    perSecond: 5,
    burst: 5,
    fallback,
  });
  try {
    await limiter.consume('ek_1');
    assert.unreachable('over the limit');
  } catch (err) {
    assert.ok(err instanceof AppError && err.code === 'rate_limited');
    assert.equal((err as AppError).details, { retry_after: 1, limit: 'credential' });
  }
  assert.is(fallback.calls, 0);
});

s.run();
