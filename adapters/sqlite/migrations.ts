/**
 * The schema of the SQLite store, one migration per version, applied in order at start-up
 * (`openDatabase`). A released migration is never edited: a change of schema is a new entry.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

/** Columns every tenant entity table shares: the document and what lists filter on. */
function entityTable(name: string, extra = ''): string {
  return `
    CREATE TABLE ${name} (
      id TEXT PRIMARY KEY,
      org_id TEXT NOT NULL,
      status TEXT,
      agent_id TEXT,
      version INTEGER NOT NULL,${extra}
      doc TEXT NOT NULL
    ) STRICT;
    CREATE INDEX ${name}_org ON ${name} (org_id, id);`;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'engine tables: entities, authorizations, usage and holds, audit outbox and chains',
    sql: `
      CREATE TABLE orgs (id TEXT PRIMARY KEY, doc TEXT NOT NULL) STRICT;
      CREATE TABLE processors (id TEXT PRIMARY KEY, doc TEXT NOT NULL) STRICT;
      ${entityTable('agents')}
      ${entityTable('authorities')}
      ${entityTable(
        'bindings',
        `
      processor_id TEXT NOT NULL,
      reference TEXT NOT NULL,`,
      )}
      CREATE UNIQUE INDEX bindings_live_reference ON bindings (processor_id, reference) WHERE status <> 'revoked';
      ${entityTable('intents')}

      CREATE TABLE authorizations (
        processor_id TEXT NOT NULL,
        authorization_id TEXT NOT NULL,
        org_id TEXT,
        agent_id TEXT,
        status TEXT NOT NULL,
        order_key TEXT NOT NULL,
        hold_open INTEGER NOT NULL,
        hold_expires_at TEXT,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (processor_id, authorization_id)
      ) STRICT;
      CREATE INDEX authorizations_org ON authorizations (org_id, order_key);
      CREATE INDEX authorizations_processor ON authorizations (processor_id, order_key);
      CREATE INDEX authorizations_holds ON authorizations (hold_open, hold_expires_at) WHERE hold_open = 1;

      CREATE TABLE usage (
        org_id TEXT NOT NULL,
        authority_id TEXT NOT NULL,
        windows TEXT NOT NULL,
        PRIMARY KEY (org_id, authority_id)
      ) STRICT;
      CREATE TABLE usage_holds (
        org_id TEXT NOT NULL,
        authority_id TEXT NOT NULL,
        reservation_id TEXT NOT NULL,
        held INTEGER NOT NULL,
        amount INTEGER NOT NULL,
        periods TEXT,
        PRIMARY KEY (org_id, authority_id, reservation_id)
      ) STRICT;

      CREATE TABLE audit_outbox (id TEXT PRIMARY KEY, at TEXT NOT NULL, doc TEXT NOT NULL) STRICT;
      CREATE INDEX audit_outbox_order ON audit_outbox (at, id);
      CREATE TABLE audit_events (
        org_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (org_id, seq),
        UNIQUE (org_id, id)
      ) STRICT;
    `,
  },
  {
    version: 2,
    description: 'API credentials, issued and revoked agent tokens, webhook endpoints and deliveries, bridges',
    sql: `
      CREATE TABLE credentials (
        key_id TEXT PRIMARY KEY,
        owner_id TEXT,
        status TEXT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
      ) STRICT;
      CREATE INDEX credentials_owner ON credentials (owner_id, key_id);
      CREATE TABLE issued_tokens (
        org_id TEXT NOT NULL,
        jti TEXT NOT NULL,
        exp TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (org_id, jti)
      ) STRICT;
      CREATE INDEX issued_tokens_exp ON issued_tokens (exp);
      CREATE TABLE revoked_tokens (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        identity TEXT NOT NULL UNIQUE,
        exp TEXT NOT NULL,
        doc TEXT NOT NULL
      );
      CREATE INDEX revoked_tokens_exp ON revoked_tokens (exp);

      CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL,
        status TEXT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
      ) STRICT;
      CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, id);
      CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL,
        endpoint_id TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        status TEXT NOT NULL,
        next_attempt_at TEXT,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
      ) STRICT;
      CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (org_id, endpoint_id, event_seq);
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
        WHERE status IN ('pending', 'delivering') AND next_attempt_at IS NOT NULL;

      CREATE TABLE bridges (
        org_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (org_id, kind)
      ) STRICT;
    `,
  },
  {
    version: 3,
    description: 'policy bundles and states, the policy change sequence',
    sql: `
      CREATE TABLE policy_bundles (
        scope TEXT NOT NULL,
        revision TEXT NOT NULL,
        list_key TEXT NOT NULL,
        meta TEXT NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (scope, revision)
      ) STRICT;
      CREATE INDEX policy_bundles_list ON policy_bundles (scope, list_key);
      CREATE TABLE policy_states (scope TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL) STRICT;
      CREATE TABLE policy_change_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL) STRICT;
      INSERT INTO policy_change_sequence (id, seq) VALUES (1, 0);
    `,
  },
  {
    version: 4,
    description: 'shadow statistics and replay jobs',
    sql: `
      CREATE TABLE shadow_stats (
        org_id TEXT NOT NULL,
        revision TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (org_id, revision)
      ) STRICT;
      CREATE TABLE replay_jobs (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 5,
    description: 'org quotas (plans and usage counters, seeded from the agents and webhooks there are) and org domains',
    sql: `
      CREATE TABLE org_quotas (org_id TEXT PRIMARY KEY, doc TEXT NOT NULL) STRICT;
      CREATE TABLE org_domains (org_id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL) STRICT;
      INSERT INTO org_quotas (org_id, doc)
        SELECT org_id, json_object(
          'org_id', org_id,
          'plan', json_object('decisions_per_month', NULL, 'agents', NULL, 'webhooks', NULL),
          'agents', SUM(agents),
          'webhooks', SUM(webhooks),
          'decisions', json_object('cursor_seq', 0, 'months', json_object()),
          'updated_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        FROM (
          SELECT org_id, COUNT(*) AS agents, 0 AS webhooks FROM agents WHERE status != 'revoked' GROUP BY org_id
          UNION ALL
          SELECT org_id, 0 AS agents, COUNT(*) AS webhooks FROM webhook_endpoints GROUP BY org_id
        )
        GROUP BY org_id;
    `,
  },
  {
    version: 6,
    description:
      "authorizations: an org's reads by authorization id, approvals by id and by expiry; holds: transactions counted",
    sql: `
      CREATE INDEX authorizations_authorization_id ON authorizations (authorization_id);
      ALTER TABLE authorizations ADD COLUMN approval_id TEXT;
      ALTER TABLE authorizations ADD COLUMN approval_status TEXT;
      ALTER TABLE authorizations ADD COLUMN approval_expires_at TEXT;
      CREATE INDEX authorizations_approval ON authorizations (approval_id) WHERE approval_id IS NOT NULL;
      CREATE INDEX authorizations_approval_due ON authorizations (approval_expires_at)
        WHERE approval_status IN ('pending', 'approved');
      CREATE INDEX authorizations_org_approvals ON authorizations (org_id, order_key) WHERE approval_id IS NOT NULL;
      ALTER TABLE usage_holds ADD COLUMN transactions INTEGER NOT NULL DEFAULT 1;
    `,
  },
];
