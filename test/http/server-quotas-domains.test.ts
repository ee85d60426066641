import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSqliteStores } from '../../adapters/sqlite/index.js';
import { createAllowanceClient } from '../../src/client/index.js';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/http/logger.js';
import { type RunningServer, startServer } from '../../src/http/start-server.js';
import { startDnsServer } from '../support/dns-server.js';

const OPERATOR = { keyId: 'op_quotas', secret: `sk_${'q'.repeat(40)}` };

const s = suite('a server on SQLite: plans and domains wired, kept across a restart');

s('plan, usage and a verified domain through the typed client, then again after a restart', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-quotas-'));
  const dns = await startDnsServer();
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    ALLOWANCE_OPERATOR_KEY_ID: OPERATOR.keyId,
    ALLOWANCE_OPERATOR_SECRET: OPERATOR.secret,
    ALLOWANCE_MASTER_KEY: 'cd'.repeat(32),
    ALLOWANCE_SPOOL_DIR: join(dir, 'spool'),
    ALLOWANCE_DNS_SERVERS: dns.address,
  });
  const path = join(dir, 'allowance.db');
  const start = () =>
    startServer(config, { stores: async () => createSqliteStores({ path }), logger: silentLogger, announce: () => {} });
  let running: RunningServer | null = await start();
  try {
    let base = `http://127.0.0.1:${running.port}`;
    const operator = createAllowanceClient({ baseUrl: base, credential: OPERATOR });
    const org = operator.unwrap(await operator.api.POST('/v1/orgs', { body: { name: 'Acme' } }));
    const cred = operator.unwrap(
      await operator.api.POST('/v1/orgs/{id}/credentials', { params: { path: { id: org.id } }, body: { name: 'x' } }),
    );
    const plan = { decisions_per_month: 100, agents: 1, webhooks: 0 };
    const set = operator.unwrap(
      await operator.api.PUT('/v1/orgs/{id}/plan', { params: { path: { id: org.id } }, body: plan }),
    );
    assert.equal(set.plan, plan);
    let enterprise = createAllowanceClient({ baseUrl: base, credential: { keyId: cred.key_id, secret: cred.secret } });
    enterprise.unwrap(await enterprise.api.POST('/v1/agents', { body: { name: 'bot' } }));
    const refused = await enterprise.api.POST('/v1/agents', { body: { name: 'bot-2' } });
    assert.is(refused.response.status, 402);

    const domain = enterprise.unwrap(await enterprise.api.POST('/v1/domains', { body: { domain: 'acme.example' } }));
    dns.txt.set('acme.example', [[domain.verification.value]]);
    const verified = enterprise.unwrap(
      await enterprise.api.POST('/v1/domains/{id}/verify', { params: { path: { id: domain.id } } }),
    );
    assert.is(verified.status, 'verified');
    assert.ok(dns.queries.includes('acme.example'), 'the configured nameserver was asked');

    await running.shutdown(100);
    running = await start();
    base = `http://127.0.0.1:${running.port}`;
    enterprise = createAllowanceClient({ baseUrl: base, credential: { keyId: cred.key_id, secret: cred.secret } });
    const usage = enterprise.unwrap(await enterprise.api.GET('/v1/usage'));
    assert.equal(usage.plan, plan);
    assert.equal(usage.agents, { quota: 1, used: 1 });
    const domains = enterprise.unwrap(await enterprise.api.GET('/v1/domains'));
    assert.equal(
      domains.items.map((d: { domain: string; status: string }) => [d.domain, d.status]),
      [['acme.example', 'verified']],
    );
    assert.is((await enterprise.api.POST('/v1/agents', { body: { name: 'bot-3' } })).response.status, 402);
  } finally {
    await running?.shutdown(100);
    await dns.close();
    await rm(dir, { recursive: true, force: true });
  }
});

s.run();
