import * as assert from 'node:assert/strict';
import { isKnownStorageError } from '../assertions.js';
import { linkAuditEvents, makeAuditDraft, makeReservation } from '../fixtures.js';
import { seedTenant } from '../seed.js';
import type { ConformanceGroup } from '../types.js';

/** What an adapter throws: only StorageError with a contract code. */
export const errorsGroup: ConformanceGroup = (g) => {
  g.it('init is idempotent and ping answers', async ({ adapter }) => {
    await adapter.init();
    await adapter.init();
    await adapter.ping();
  });

  g.it('refusals are StorageError with a known code', async ({ adapter }) => {
    const { org, agent } = await seedTenant(adapter);
    const failures: unknown[] = [];
    const attempt = (p: Promise<unknown>) => p.catch((err) => failures.push(err));
    await attempt(adapter.insertOrg(org));
    await attempt(adapter.insertAgent(agent));
    await attempt(adapter.updateAgent(org.id, agent.id, 41, { name: 'x' }));
    assert.strictEqual(failures.length, 3);
    for (const err of failures) assert.ok(isKnownStorageError(err) && err.code === 'conflict', String(err));
  });

  g.it('after close, every call succeeds or throws a StorageError with a known code', async ({ adapter }) => {
    const { org, agent, authority } = await seedTenant(adapter);
    await adapter.close();
    const calls: (() => Promise<unknown>)[] = [
      () => adapter.ping(),
      () => adapter.getOrg(org.id),
      () => adapter.getAgent(org.id, agent.id),
      () => adapter.listAgents(org.id, { limit: 5 }),
      () => adapter.updateAgent(org.id, agent.id, 0, { name: 'x' }),
      () => adapter.findBinding('prc_x', { reference: 'tok_x' }),
      () => adapter.listAuthorizations(org.id, { limit: 5 }),
      () => adapter.listProcessorAuthorizations('prc_x', { limit: 5 }),
      () => adapter.listOpenHolds('2030-01-01T00:00:00.000Z', 5),
      () => adapter.reserveUsage(org.id, authority.id, makeReservation(1)),
      () => adapter.releaseUsage(org.id, authority.id, 'rsv_x'),
      () => adapter.consumeIntent(org.id, 'int_x', 'rsv_x', 1),
      () => adapter.appendAuditDrafts([makeAuditDraft(org.id)]),
      () => adapter.listAuditOutbox(5),
      () => adapter.ackAuditOutbox([makeAuditDraft(org.id)]),
      () => adapter.getAuditHead(org.id),
      () => adapter.appendAuditEvents(org.id, linkAuditEvents([makeAuditDraft(org.id)], null)),
      () => adapter.findLinkedAuditIds(org.id, ['evt_x']),
      () => adapter.listAuditEvents(org.id, { limit: 5 }),
    ];
    for (const call of calls) {
      try {
        await call();
      } catch (err) {
        assert.ok(isKnownStorageError(err), `not a StorageError: ${String(err)}`);
      }
    }
    await adapter.close();
  });
};
