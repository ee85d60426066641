import { createHmac } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  backoffDelayMs,
  computeSignature,
  deliveryId,
  generateWebhookSecret,
  signatureHeader,
  verifySignature,
} from '../../src/webhooks/index.js';
import { independentVerify } from '../support/webhook-receiver.js';

const s = suite('webhook signatures');

s('secrets are whsec_ and 32 random bytes, different every time', () => {
  const a = generateWebhookSecret();
  const b = generateWebhookSecret();
  assert.match(a, /^whsec_[A-Za-z0-9_-]{43}$/);
  assert.is.not(a, b);
  assert.is(Buffer.from(a.slice(6), 'base64url').length, 32);
});

s('v1 is the hex HMAC-SHA256 of "t.body" keyed with the secret, as a receiver computes it', () => {
  const secret = 'whsec_test_secret';
  const body = '{"id":"evt_1","type":"agent.created","data":{"name":"é ✓"}}';
  const t = 1_790_000_000;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  assert.is(computeSignature(secret, t, body), expected);
  assert.is(signatureHeader(secret, t, body), `t=${t},v1=${expected}`);
  // A known vector, so the scheme cannot drift silently.
  assert.is(
    computeSignature('whsec_abc', 1, '{}'),
    createHmac('sha256', Buffer.from('whsec_abc')).update(Buffer.from('1.{}')).digest('hex'),
  );
});

s('verifySignature accepts a fresh header and refuses tampering, other secrets, stale times, junk', () => {
  const secret = generateWebhookSecret();
  const body = JSON.stringify({ id: 'evt_x', n: 1 });
  const now = Math.floor(Date.now() / 1000);
  const header = signatureHeader(secret, now, body);
  assert.is(verifySignature(header, secret, body), null);
  assert.ok(independentVerify(header, secret, body));
  assert.is(verifySignature(header, secret, `${body} `), 'mismatch');
  assert.is(verifySignature(header, generateWebhookSecret(), body), 'mismatch');
  assert.is(verifySignature(signatureHeader(secret, now - 3600, body), secret, body), 'timestamp_out_of_tolerance');
  assert.is(verifySignature(signatureHeader(secret, now - 3600, body), secret, body, { toleranceSeconds: 7200 }), null);
  assert.is(verifySignature(undefined, secret, body), 'malformed');
  assert.is(verifySignature('t=abc,v1=00', secret, body), 'malformed');
  assert.is(verifySignature(`t=${now}`, secret, body), 'malformed');
  // Several v1 values: one matching is enough (a receiver rotating its secret).
  const other = computeSignature(generateWebhookSecret(), now, body);
  assert.is(verifySignature(`t=${now},v1=${other},${header.split(',')[1]}`, secret, body), null);
});

s('delivery ids are a function of endpoint and event', () => {
  assert.is(deliveryId('whk_a', 'evt_1'), deliveryId('whk_a', 'evt_1'));
  assert.is.not(deliveryId('whk_a', 'evt_1'), deliveryId('whk_b', 'evt_1'));
  assert.is.not(deliveryId('whk_a', 'evt_1'), deliveryId('whk_a', 'evt_2'));
  assert.match(deliveryId('whk_a', 'evt_1'), /^whd_[0-9a-f]{32}$/);
});

s('backoff: exponential ceiling with full jitter, capped', () => {
  const opts = { baseMs: 1000, capMs: 60_000 };
  assert.is(
    backoffDelayMs(1, opts, () => 0.999999),
    1000,
  );
  assert.is(
    backoffDelayMs(3, opts, () => 0.999999),
    4000,
  );
  assert.is(
    backoffDelayMs(30, opts, () => 0.999999),
    60_000,
  );
  assert.is(
    backoffDelayMs(1_000, opts, () => 0.5),
    30_000,
  );
  assert.is(
    backoffDelayMs(5, opts, () => 0),
    0,
  );
  for (let attempt = 1; attempt < 40; attempt++) {
    const d = backoffDelayMs(attempt, opts);
    assert.ok(d >= 0 && d <= Math.min(60_000, 1000 * 2 ** (attempt - 1)), `attempt ${attempt}: ${d}`);
  }
});

s.run();
