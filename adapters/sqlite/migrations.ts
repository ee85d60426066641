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
];
