import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { linkAuditEvents, makeAuditDraft, makeAuthorization, makeOrg } from '../../adapters/conformance/index.js';
import { MemoryAdapter, type MemoryAdapterOptions } from '../../adapters/memory/index.js';
import type { AuditEvent } from '../../src/audit/types.js';

type Drop = Parameters<NonNullable<MemoryAdapterOptions['onDrop']>>[0];

const bounded = suite('memory adapter: bounded history');

bounded('keeps the newest authorizations past the bound, never one that holds usage or is pending', async () => {
  const drops: Drop[] = [];
  const adapter = new MemoryAdapter({ maxAuthorizations: 10, onDrop: (d) => drops.push(d) });
  const org = makeOrg();
  const holding = makeAuthorization('prc_1', org.id, { status: 'approved', hold_open: true });
  const pending = makeAuthorization('prc_1', org.id);
  await adapter.claimAuthorization(holding);
  await adapter.claimAuthorization(pending);
  const final = Array.from({ length: 30 }, () =>
    makeAuthorization('prc_1', org.id, { status: 'declined', hold_open: false }),
  );
  for (const r of final) await adapter.claimAuthorization(r);
  assert.ok(adapter.inspectAuthorization('prc_1', holding.authorization_id), 'a held authorization stays');
  assert.ok(adapter.inspectAuthorization('prc_1', pending.authorization_id), 'a pending claim stays');
  const kept = final.filter((r) => adapter.inspectAuthorization('prc_1', r.authorization_id) !== null);
  assert.equal(kept, final.slice(-8), 'the newest final ones');
  assert.is(drops.at(-1)?.total_dropped, 22);
  assert.ok(drops.every((d) => d.kind === 'authorizations'));
  // Lists and scans see exactly what is kept.
  const page = await adapter.listAuthorizations(org.id, { limit: 100 });
  assert.is(page.items.length, 10);
});

bounded('keeps the newest audit events per org; the head and appends go on', async () => {
  const drops: Drop[] = [];
  const adapter = new MemoryAdapter({ maxAuditEvents: 5, onDrop: (d) => drops.push(d) });
  const org = makeOrg();
  let head: AuditEvent | null = null;
  for (let i = 0; i < 4; i++) {
    const batch = linkAuditEvents([makeAuditDraft(org.id), makeAuditDraft(org.id), makeAuditDraft(org.id)], head);
    await adapter.appendAuditEvents(org.id, batch);
    head = batch[batch.length - 1] as AuditEvent;
  }
  const left = await adapter.listAuditEvents(org.id, { limit: 100 });
  assert.equal(
    left.map((e) => e.seq),
    [8, 9, 10, 11, 12],
  );
  assert.equal(await adapter.getAuditHead(org.id), head);
  assert.is(
    drops.reduce((n, d) => n + d.dropped, 0),
    7,
  );
  assert.is(drops.at(-1)?.total_dropped, 7);
  // Unbounded by default for a small chain: nothing dropped.
  const plain = new MemoryAdapter();
  await plain.appendAuditEvents(org.id, linkAuditEvents([makeAuditDraft(org.id), makeAuditDraft(org.id)], null));
  assert.is((await plain.listAuditEvents(org.id, { limit: 10 })).length, 2);
});

bounded.run();
