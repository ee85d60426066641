import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { makeAgent, makeOrg, runAdapterConformance } from '../../adapters/conformance/index.js';
import type { EntityKind, StoredUsage } from '../../adapters/conformance/types.js';
import {
  createSqliteStores,
  MIGRATIONS,
  openDatabase,
  SqliteAdapter,
  schemaVersion,
} from '../../adapters/sqlite/index.js';
import type { AuditDraft, AuditEvent } from '../../src/audit/types.js';
import { isStorageError } from '../../src/storage/index.js';
import type { AuthorizationRecord } from '../../src/types.js';
import { runBridgeStorageCases } from '../support/bridge-storage-cases.js';
import { runWebhookStorageCases } from '../support/webhook-storage-cases.js';

const TABLES: Record<EntityKind, string> = {
  org: 'orgs',
  processor: 'processors',
  agent: 'agents',
  authority: 'authorities',
  binding: 'bindings',
  intent: 'intents',
};

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'allowance-sqlite-'));
}

/** Reads the database file through its own connection, never through the adapter under test. */
function inspector(path: string) {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  const docs = <T>(rows: unknown[]): T[] => (rows as { doc: string }[]).map((r) => JSON.parse(r.doc) as T);
  return {
    db,
    inspect: {
      usage: async (orgId: string, authorityId: string): Promise<StoredUsage> => {
        const row = db
          .prepare('SELECT windows FROM usage WHERE org_id = ? AND authority_id = ?')
          .get(orgId, authorityId) as { windows: string } | undefined;
        const empty = { period: '', spent: 0, count: 0 };
        const holds = db
          .prepare('SELECT reservation_id FROM usage_holds WHERE org_id = ? AND authority_id = ? AND held = 1')
          .all(orgId, authorityId) as { reservation_id: string }[];
        return {
          windows: row
            ? JSON.parse(row.windows)
            : { daily: { ...empty }, weekly: { ...empty }, monthly: { ...empty }, total: { ...empty } },
          holds: holds.map((h) => h.reservation_id),
        };
      },
      authorization: async (processorId: string, id: string) =>
        docs<AuthorizationRecord>(
          db
            .prepare('SELECT doc FROM authorizations WHERE processor_id = ? AND authorization_id = ?')
            .all(processorId, id),
        )[0] ?? null,
      raw: async (kind: EntityKind, id: string) =>
        docs<unknown>(db.prepare(`SELECT doc FROM ${TABLES[kind]} WHERE id = ?`).all(id))[0] ?? null,
      auditOutbox: async () => docs<AuditDraft>(db.prepare('SELECT doc FROM audit_outbox ORDER BY at, id').all()),
      auditEvents: async (orgId: string) =>
        docs<AuditEvent>(db.prepare('SELECT doc FROM audit_events WHERE org_id = ? ORDER BY seq').all(orgId)),
    },
  };
}

const conformance = suite('sqlite adapter: conformance');

runAdapterConformance(conformance, 'sqlite', async () => {
  const dir = tempDir();
  const path = join(dir, 'allowance.db');
  const stores = createSqliteStores({ path });
  // Another server on the same file: the policy race case promotes through both.
  const peer = createSqliteStores({ path });
  const direct = inspector(path);
  return {
    adapter: stores.store,
    credentials: stores.credentials,
    policies: stores.policies,
    policiesPeer: peer.policies,
    policyAnalysis: stores.policyAnalysis,
    quotas: stores.quotas,
    domains: stores.domains,
    inspect: direct.inspect,
    cleanup: async () => {
      direct.db.close();
      await peer.store.close();
      await stores.store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
conformance.run();

runWebhookStorageCases('sqlite', async () => {
  const dir = tempDir();
  const { store, webhooks } = createSqliteStores({ path: join(dir, 'allowance.db') });
  await store.init();
  return {
    storage: webhooks,
    audit: store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

runBridgeStorageCases('sqlite', async () => {
  const dir = tempDir();
  const { store, bridges } = createSqliteStores({ path: join(dir, 'allowance.db') });
  await store.init();
  return {
    storage: bridges,
    audit: store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

// ---

const sqlite = suite('sqlite adapter');

sqlite('migrations run once, set the schema version and survive a reopen', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'nested', 'allowance.db');
    const first = new SqliteAdapter({ path });
    const org = makeOrg();
    await first.insertOrg(org);
    assert.is(schemaVersion(first.db), MIGRATIONS[MIGRATIONS.length - 1]?.version);
    assert.is(first.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.is(first.db.pragma('page_size', { simple: true }), 16384);
    await first.close();
    const again = new SqliteAdapter({ path });
    assert.equal(await again.getOrg(org.id), org);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

sqlite('a file of a newer schema is refused', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'allowance.db');
    const db = openDatabase(path);
    db.pragma('user_version = 999');
    db.close();
    try {
      new SqliteAdapter({ path });
      assert.unreachable('opened');
    } catch (err) {
      assert.ok(isStorageError(err, 'internal'), String(err));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

sqlite(
  'a write blocked by another connection past the busy timeout is unavailable, and nothing is written',
  async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'allowance.db');
      const adapter = new SqliteAdapter({ path, busyTimeoutMs: 50 });
      const org = makeOrg();
      await adapter.insertOrg(org);
      const other = new Database(path);
      other.exec('BEGIN IMMEDIATE');
      const agent = makeAgent(org.id);
      try {
        await adapter.insertAgent(agent);
        assert.unreachable('written under a held lock');
      } catch (err) {
        assert.ok(isStorageError(err, 'unavailable'), String(err));
      }
      other.exec('ROLLBACK');
      other.close();
      assert.is(await adapter.getAgent(org.id, agent.id), null);
      await adapter.insertAgent(agent);
      assert.equal(await adapter.getAgent(org.id, agent.id), agent);
      await adapter.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

sqlite.run();
