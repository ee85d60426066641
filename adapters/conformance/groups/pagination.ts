import * as assert from 'node:assert/strict';
import type { ListQuery, Page, StorageAdapter } from '../../../src/storage/index.js';
import {
  makeAgent,
  makeAuthority,
  makeAuthorization,
  makeBinding,
  makeIntent,
  makeProcessor,
  timeAt,
} from '../fixtures.js';
import { seedTenant } from '../seed.js';
import type { ConformanceGroup } from '../types.js';

interface Listed {
  status: string;
  agent_id?: string | null;
}

/** One list method with a way to make `n` rows in creation order (agent and status alternating). */
interface ListKind {
  name: string;
  /** Inserts rows oldest first and returns their keys oldest first. */
  seed(adapter: StorageAdapter, orgId: string, agents: [string, string], n: number): Promise<string[]>;
  list(adapter: StorageAdapter, orgId: string, query: ListQuery): Promise<Page<Listed>>;
  key(row: Listed): string;
  /** Rows seeded in runs of this size share a creation time; their order within a run is free. */
  ties?: number;
}

const STATUSES = ['active', 'paused'] as const;

const kinds: ListKind[] = [
  {
    name: 'agents',
    async seed(adapter, orgId, _agents, n) {
      const keys: string[] = [];
      for (let i = 0; i < n; i++) {
        const a = makeAgent(orgId, { status: STATUSES[i % 2] });
        await adapter.insertAgent(a);
        keys.push(a.id);
      }
      return keys;
    },
    list: (adapter, orgId, q) => adapter.listAgents(orgId, q),
    key: (r) => (r as unknown as { id: string }).id,
  },
  {
    name: 'authorities',
    async seed(adapter, orgId, agents, n) {
      const keys: string[] = [];
      for (let i = 0; i < n; i++) {
        const a = makeAuthority(orgId, agents[i % 2] as string, { status: STATUSES[Math.floor(i / 2) % 2] });
        await adapter.insertAuthority(a);
        keys.push(a.id);
      }
      return keys;
    },
    list: (adapter, orgId, q) => adapter.listAuthorities(orgId, q),
    key: (r) => (r as unknown as { id: string }).id,
  },
  {
    name: 'bindings',
    async seed(adapter, orgId, agents, n) {
      const processor = makeProcessor();
      await adapter.insertProcessor(processor);
      const keys: string[] = [];
      for (let i = 0; i < n; i++) {
        const b = makeBinding(orgId, agents[i % 2] as string, 'sa_x', processor.id, {
          status: Math.floor(i / 2) % 2 ? 'suspended' : 'active',
        });
        await adapter.insertBinding(b);
        keys.push(b.id);
      }
      return keys;
    },
    list: (adapter, orgId, q) => adapter.listBindings(orgId, q),
    key: (r) => (r as unknown as { id: string }).id,
  },
  {
    name: 'intents',
    async seed(adapter, orgId, agents, n) {
      const keys: string[] = [];
      for (let i = 0; i < n; i++) {
        const it = makeIntent(orgId, agents[i % 2] as string, {
          status: Math.floor(i / 2) % 2 ? 'cancelled' : 'approved',
        });
        await adapter.insertIntent(it);
        keys.push(it.id);
      }
      return keys;
    },
    list: (adapter, orgId, q) => adapter.listIntents(orgId, q),
    key: (r) => (r as unknown as { id: string }).id,
  },
  {
    name: 'authorizations',
    async seed(adapter, orgId, agents, n) {
      const processors = [makeProcessor(), makeProcessor()];
      for (const p of processors) await adapter.insertProcessor(p);
      const keys: string[] = [];
      for (let i = 0; i < n; i++) {
        // Pairs share a creation time and an authorization id under two processors: ties must not lose rows.
        const processor = processors[i % 2] as { id: string };
        const r = makeAuthorization(processor.id, orgId, {
          authorization_id: `pa_${String(Math.floor(i / 2)).padStart(4, '0')}`,
          agent_id: agents[i % 2] as string,
          status: Math.floor(i / 2) % 2 ? 'declined' : 'approved',
          created_at: timeAt(Math.floor(i / 2) * 1000),
        });
        await adapter.claimAuthorization(r);
        keys.push(`${r.processor_id}/${r.authorization_id}`);
      }
      return keys;
    },
    list: (adapter, orgId, q) => adapter.listAuthorizations(orgId, q),
    ties: 2,
    key: (r) => {
      const rec = r as unknown as { processor_id: string; authorization_id: string };
      return `${rec.processor_id}/${rec.authorization_id}`;
    },
  },
  {
    // Listed by processor: the processor of the case is `processorOf(orgId)`, its records span orgs.
    name: 'processor authorizations',
    async seed(adapter, orgId, agents, n) {
      const processor = makeProcessor({ id: processorOf(orgId) });
      const other = makeProcessor();
      await adapter.insertProcessor(processor);
      await adapter.insertProcessor(other);
      const keys: string[] = [];
      for (let i = 0; i < n; i++) {
        // Pairs share a creation time; every third record is of no org or of another org.
        const pair = Math.floor(i / 2);
        const r = makeAuthorization(processor.id, i % 3 === 2 ? (i % 2 ? null : 'org_other') : orgId, {
          agent_id: agents[i % 2] as string,
          status: pair % 2 ? 'declined' : 'approved',
          created_at: timeAt(pair * 1000),
        });
        await adapter.claimAuthorization(r);
        keys.push(r.authorization_id);
        // The same authorization id and time under another processor: never listed.
        await adapter.claimAuthorization({ ...r, processor_id: other.id });
      }
      return keys;
    },
    async list(adapter, orgId, q) {
      const page = await adapter.listProcessorAuthorizations(processorOf(orgId), q);
      for (const r of page.items)
        assert.strictEqual(r.processor_id, processorOf(orgId), 'another processor’s record listed');
      return page;
    },
    ties: 2,
    key: (r) => (r as unknown as { authorization_id: string }).authorization_id,
  },
];

/** The processor whose list the `processor authorizations` kind reads in the case of `orgId`. */
function processorOf(orgId: string): string {
  return `prc_of_${orgId}`;
}

async function walk(kind: ListKind, adapter: StorageAdapter, orgId: string, query: Omit<ListQuery, 'cursor'>) {
  const seen: Listed[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await kind.list(adapter, orgId, cursor === undefined ? query : { ...query, cursor });
    assert.ok(page.items.length <= query.limit, `${kind.name}: page longer than limit`);
    seen.push(...page.items);
    if (page.next_cursor === null) return seen;
    assert.ok(page.items.length > 0, `${kind.name}: empty page with a cursor`);
    cursor = page.next_cursor;
  }
  throw new Error(`${kind.name}: pagination did not end`);
}

/** `listed` holds exactly `expected` (keys of `keys`), newest first; rows of one tie run in any order. */
function assertNewestFirst(kind: ListKind, keys: string[], listed: string[], expected: string[]): void {
  const rank = (k: string) => Math.floor(keys.indexOf(k) / (kind.ties ?? 1));
  assert.deepStrictEqual([...listed].sort(), [...expected].sort(), `${kind.name}: rows listed`);
  for (let i = 1; i < listed.length; i++) {
    assert.ok(rank(listed[i - 1] as string) >= rank(listed[i] as string), `${kind.name}: not newest first`);
  }
}

async function seeded(adapter: StorageAdapter, kind: ListKind, n: number) {
  const tenant = await seedTenant(adapter);
  const second = makeAgent(tenant.org.id);
  await adapter.insertAgent(second);
  const agents: [string, string] = [tenant.agent.id, second.id];
  const keys = await kind.seed(adapter, tenant.org.id, agents, n);
  return { orgId: tenant.org.id, agents, keys };
}

/** Newest-first keyset pagination with filters over every list method. */
export const paginationGroup: ConformanceGroup = (g) => {
  for (const kind of kinds) {
    g.it(`${kind.name}: newest first, limited, every row once across pages`, async ({ adapter }) => {
      const { orgId, keys } = await seeded(adapter, kind, 12);
      const own = (rows: Listed[]) => rows.map(kind.key).filter((k) => keys.includes(k));
      const first = await kind.list(adapter, orgId, { limit: 4 });
      assert.strictEqual(first.items.length, 4);
      assert.ok(first.next_cursor !== null);
      assertNewestFirst(kind, keys, own(first.items), keys.slice(-4));
      for (const limit of [1, 3, 4, 100]) {
        const all = await walk(kind, adapter, orgId, { limit });
        assert.strictEqual(new Set(all.map(kind.key)).size, all.length, `${kind.name}: a row listed twice`);
        assertNewestFirst(kind, keys, own(all), keys);
      }
    });

    g.it(`${kind.name}: status and agent filters hold on every page`, async ({ adapter }) => {
      const { orgId, agents, keys } = await seeded(adapter, kind, 12);
      const all = await walk(kind, adapter, orgId, { limit: 100 });
      const rowsByKey = new Map(all.map((r) => [kind.key(r), r]));
      const rows = keys.map((k) => rowsByKey.get(k) as Listed);
      const status = rows[0]?.status as string;
      const agentId = agents[1];
      const filters: Omit<ListQuery, 'cursor' | 'limit'>[] = [
        { status },
        { agent_id: agentId },
        { status, agent_id: agentId },
      ];
      if (kind.name === 'agents') filters.splice(1);
      for (const filter of filters) {
        const got = await walk(kind, adapter, orgId, { limit: 2, ...filter });
        const expected = [...keys].reverse().filter((k) => {
          const r = rowsByKey.get(k) as Listed;
          return (
            (filter.status === undefined || r.status === filter.status) &&
            (filter.agent_id === undefined || r.agent_id === filter.agent_id)
          );
        });
        assert.ok(expected.length > 0);
        assertNewestFirst(
          kind,
          keys,
          got.map(kind.key).filter((k) => keys.includes(k)),
          expected,
        );
        for (const r of got) {
          if (filter.status !== undefined) assert.strictEqual(r.status, filter.status);
          if (filter.agent_id !== undefined) assert.strictEqual(r.agent_id, filter.agent_id);
        }
      }
    });
  }

  g.it('an exact last page has no cursor; an empty org lists nothing', async ({ adapter }) => {
    const { org } = await seedTenant(adapter);
    for (let i = 0; i < 3; i++) await adapter.insertIntent(makeIntent(org.id, 'agt_x'));
    const page = await adapter.listIntents(org.id, { limit: 3 });
    assert.strictEqual(page.items.length, 3);
    assert.strictEqual(page.next_cursor, null);
    const { org: empty } = await seedTenant(adapter);
    for (const list of [
      adapter.listIntents(empty.id, { limit: 5 }),
      adapter.listBindings(empty.id, { limit: 5 }),
      adapter.listAuthorizations(empty.id, { limit: 5 }),
      adapter.listProcessorAuthorizations('prc_missing', { limit: 5 }),
    ]) {
      assert.deepStrictEqual(await list, { items: [], next_cursor: null });
    }
  });
};
