import * as assert from 'node:assert/strict';
import type { DomainStorage, OrgDomainsRecord } from '../../../src/storage/index.js';
import { inParallel } from '../assertions.js';
import { makeAuditDraft, NOW, orderedId } from '../fixtures.js';
import type { ConformanceGroup, ConformanceTarget } from '../types.js';

function storageOf(target: ConformanceTarget): DomainStorage {
  if (!target.domains) throw new Error('the domains group needs target.domains');
  return target.domains;
}

function record(orgId: string, version: number, domains: string[] = ['example.com']): OrgDomainsRecord {
  return {
    org_id: orgId,
    domains: domains.map((domain, i) => ({
      id: `dom_${String(i).padStart(4, '0')}`,
      domain,
      status: 'pending',
      token: `tok${i}`,
      verified_at: null,
      last_checked_at: null,
      created_at: NOW,
    })),
    webhooks_verified_domains_only: false,
    updated_at: NOW,
    version,
  };
}

/** DomainStorage: one record per org, saved by compare-and-set with its audit drafts. */
export const domainsGroup: ConformanceGroup = ({ it, concurrency }) => {
  it('a first save inserts, later saves are compare-and-set on version; tenancy', async (t) => {
    const d = storageOf(t);
    const org = orderedId('org');
    const other = orderedId('org');
    assert.strictEqual(await d.get(org), null);
    assert.strictEqual(await d.save(record(org, 1), null), true);
    assert.strictEqual(await d.save(record(org, 1, ['other.example']), null), false);
    assert.deepStrictEqual(
      (await d.get(org))?.domains.map((x) => x.domain),
      ['example.com'],
    );
    assert.strictEqual(await d.save(record(org, 3, ['a.example']), 2), false);
    const next = { ...record(org, 2, ['example.com', 'b.example']), webhooks_verified_domains_only: true };
    assert.strictEqual(await d.save(next, 1), true);
    assert.deepStrictEqual(await d.get(org), next);
    assert.strictEqual(await d.get(other), null);
  });

  it('the drafts of a save are in the outbox; a lost save stores none', async (t) => {
    const d = storageOf(t);
    const org = orderedId('org');
    const won = makeAuditDraft(org, {
      type: 'domain.added',
      subject: { kind: 'domain', id: 'dom_0000' },
      agent_id: null,
    });
    const lost = makeAuditDraft(org, {
      type: 'domain.added',
      subject: { kind: 'domain', id: 'dom_0001' },
      agent_id: null,
    });
    assert.strictEqual(await d.save(record(org, 1), null, [won]), true);
    assert.strictEqual(await d.save(record(org, 2), 7, [lost]), false);
    const second = makeAuditDraft(org, {
      type: 'domain.verified',
      subject: { kind: 'domain', id: 'dom_0000' },
      agent_id: null,
    });
    assert.strictEqual(await d.save(record(org, 2), 1, [second]), true);
    const ids = (await t.adapter.listAuditOutbox(100)).map((x) => x.id);
    assert.ok(ids.includes(won.id));
    assert.ok(ids.includes(second.id));
    assert.ok(!ids.includes(lost.id));
    assert.strictEqual((await d.get(org))?.version, 2);
  });

  it('concurrent saves on one version: exactly one wins', async (t) => {
    const d = storageOf(t);
    const org = orderedId('org');
    await d.save(record(org, 1), null);
    const results = await inParallel(Math.min(concurrency, 20), (i) => d.save(record(org, 2, [`d${i}.example`]), 1));
    assert.strictEqual(results.filter(Boolean).length, 1);
    const firsts = await inParallel(Math.min(concurrency, 20), () => d.save(record(orderedId('org'), 1), null));
    assert.strictEqual(firsts.filter(Boolean).length, firsts.length);
  });
};
