import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../../src/config/index.js';

const s = suite('limit configuration');

s('defaults: 1000/s and 2000 per client address, no trusted proxy, unknown key ids kept 2 s', () => {
  const c = loadConfig({});
  assert.equal(
    [
      c.addressRateLimitPerSecond,
      c.addressRateLimitBurst,
      c.trustedProxies,
      c.unknownKeyCacheMs,
      c.unknownKeyRateLimitPerSecond,
      c.unknownKeyRateLimitBurst,
    ],
    [1000, 2000, [], 2000, 10, 20],
  );
});

s(
  'ALLOWANCE_ADDRESS_RATE_LIMIT_*, ALLOWANCE_TRUSTED_PROXIES, ALLOWANCE_UNKNOWN_KEY_CACHE_MS are read and validated',
  () => {
    const c = loadConfig({
      ALLOWANCE_ADDRESS_RATE_LIMIT_RPS: '50',
      ALLOWANCE_ADDRESS_RATE_LIMIT_BURST: '100',
      ALLOWANCE_TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.1,::1',
      ALLOWANCE_UNKNOWN_KEY_CACHE_MS: '0',
    });
    assert.equal(
      [c.addressRateLimitPerSecond, c.addressRateLimitBurst, c.trustedProxies, c.unknownKeyCacheMs],
      [50, 100, ['10.0.0.0/8', '192.0.2.1', '::1'], 0],
    );
    const bad: Record<string, string>[] = [
      { ALLOWANCE_ADDRESS_RATE_LIMIT_RPS: '0' },
      { ALLOWANCE_ADDRESS_RATE_LIMIT_BURST: '99' },
      { ALLOWANCE_TRUSTED_PROXIES: 'proxy.internal' },
      { ALLOWANCE_TRUSTED_PROXIES: '10.0.0.0/33' },
      { ALLOWANCE_UNKNOWN_KEY_CACHE_MS: '-1' },
      { ALLOWANCE_UNKNOWN_KEY_CACHE_MS: '60001' },
      { ALLOWANCE_UNKNOWN_KEY_RATE_LIMIT_RPS: '0' },
      { ALLOWANCE_UNKNOWN_KEY_RATE_LIMIT_BURST: 'x' },
    ];
    for (const env of bad) {
      assert.throws(
        () => loadConfig(env),
        (err: unknown) => err instanceof ConfigError,
        JSON.stringify(env),
      );
    }
  },
);

s.run();
