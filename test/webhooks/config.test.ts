import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { DEFAULT_WEBHOOK_CONFIG } from '../../src/webhooks/index.js';

const s = suite('webhook configuration');

s('defaults: https to public addresses only', () => {
  const c = loadConfig({});
  assert.equal(c.webhooks, { ...DEFAULT_WEBHOOK_CONFIG });
  assert.is(c.webhooks.allowPrivateTargets, false);
  assert.is(c.webhooks.allowHttp, false);
});

s('ALLOWANCE_WEBHOOK_* are read and validated', () => {
  const c = loadConfig({
    ALLOWANCE_WEBHOOK_ALLOW_PRIVATE: 'true',
    ALLOWANCE_WEBHOOK_ALLOW_HTTP: '1',
    ALLOWANCE_WEBHOOK_MAX_ATTEMPTS: '5',
    ALLOWANCE_WEBHOOK_DISABLE_AFTER: '3',
    ALLOWANCE_WEBHOOK_BACKOFF_BASE_MS: '100',
    ALLOWANCE_WEBHOOK_BACKOFF_CAP_MS: '1000',
    ALLOWANCE_WEBHOOK_TIMEOUT_MS: '2500',
  });
  assert.equal(
    [
      c.webhooks.allowPrivateTargets,
      c.webhooks.allowHttp,
      c.webhooks.maxAttempts,
      c.webhooks.disableAfterFailures,
      c.webhooks.backoffBaseMs,
      c.webhooks.backoffCapMs,
      c.webhooks.timeoutMs,
    ],
    [true, true, 5, 3, 100, 1000, 2500],
  );
  assert.is(loadConfig({ ALLOWANCE_WEBHOOK_ALLOW_PRIVATE: 'FALSE' }).webhooks.allowPrivateTargets, false);
  const bad: Record<string, string>[] = [
    { ALLOWANCE_WEBHOOK_ALLOW_PRIVATE: 'yes please' },
    { ALLOWANCE_WEBHOOK_MAX_ATTEMPTS: '0' },
    { ALLOWANCE_WEBHOOK_MAX_ATTEMPTS: '101' },
    { ALLOWANCE_WEBHOOK_TIMEOUT_MS: '-5' },
    { ALLOWANCE_WEBHOOK_BACKOFF_BASE_MS: '5000', ALLOWANCE_WEBHOOK_BACKOFF_CAP_MS: '1000' },
  ];
  for (const env of bad) {
    try {
      loadConfig(env);
      assert.unreachable(JSON.stringify(env));
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.match((err as Error).message, /ALLOWANCE_WEBHOOK_/);
    }
  }
});

s.run();
