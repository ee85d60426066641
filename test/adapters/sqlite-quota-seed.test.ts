import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSqliteStores, MIGRATIONS, migrate } from '../../adapters/sqlite/index.js';

const s = suite('sqlite: the quota migration counts what exists');

s('agents not revoked and webhook endpoints of a file from before quotas are counted per org', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'allowance-seed-'));
  try {
    const path = join(dir, 'allowance.db');
    const before = new Database(path);
    migrate(
      before,
      MIGRATIONS.filter((m) => m.version < 5),
    );
    const agent = before.prepare(
      "INSERT INTO agents (id, org_id, status, agent_id, version, doc) VALUES (?, ?, ?, NULL, 0, '{}')",
    );
    agent.run('agt_1', 'org_a', 'active');
    agent.run('agt_2', 'org_a', 'paused');
    agent.run('agt_3', 'org_a', 'revoked');
    agent.run('agt_4', 'org_b', 'active');
    before
      .prepare("INSERT INTO webhook_endpoints (id, org_id, status, version, doc) VALUES (?, ?, 'active', 0, '{}')")
      .run('whk_1', 'org_c');
    before.close();

    const stores = createSqliteStores({ path });
    try {
      const a = await stores.quotas.get('org_a');
      assert.equal(
        [a?.agents, a?.webhooks, a?.plan, a?.decisions],
        [2, 0, { decisions_per_month: null, agents: null, webhooks: null }, { cursor_seq: 0, months: {} }],
      );
      assert.match(a?.updated_at ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      assert.equal([(await stores.quotas.get('org_b'))?.agents, (await stores.quotas.get('org_c'))?.webhooks], [1, 1]);
      assert.is(await stores.quotas.get('org_d'), null);
      await stores.quotas.setPlan(
        'org_a',
        { decisions_per_month: null, agents: 2, webhooks: null },
        a?.updated_at ?? '',
      );
      assert.equal(await stores.quotas.acquire('org_a', 'agents', a?.updated_at ?? ''), {
        status: 'exceeded',
        quota: 2,
        used: 2,
      });
    } finally {
      await stores.store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

s.run();
