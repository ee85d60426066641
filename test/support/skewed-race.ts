/**
 * The skewed-clock race: two engine processes on one MongoDB database decide the same authorization ids
 * at once while one process's clock runs ahead of the other's. Shared by the unit test (small) and the
 * fault script (test/faults/skewed-clock.ts, larger). Every figure is read back from the store: what the
 * processes answered, the stored records, and the holds of the authority.
 */
import { MongoClient } from 'mongodb';
import { createMongoAdapter } from '../../adapters/mongodb/index.js';
import { createEngine } from '../../src/engine/index.js';
import type { AuthorizationRecord } from '../../src/types.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultPolicy } from './engine-fixture.js';
import { freshDbName, mongoInspector } from './mongo-target.js';
import { startWorker } from './race-process.js';
import type { RaceOutcome } from './race-worker.js';

const NOW = '2026-11-23T10:00:00.000Z';

export interface SkewedRaceOptions {
  uri: string;
  /** Authorizations each process sends, `shared` of them sent by both. */
  perProcess: number;
  shared: number;
  /** How far the second process's clock runs ahead of the first's. */
  skewMs: number;
  /** The claim lease of both processes; the engine default when undefined. */
  leaseMs?: number;
}

export interface SkewedRaceFigures {
  requests: number;
  authorizations: number;
  /** Stored decisions by action. */
  decisions: Record<string, number>;
  /** Failed requests by error code. */
  errors: Record<string, number>;
  /** Authorizations that named the intent (decided through a pending claim), and how many of them were approved. */
  claim_path: number;
  claim_path_approved: number;
  /** Records decided by a later attempt than the first (a take-over). */
  take_overs: number;
  /** Stored ALLOWs whose reservation holds nothing. */
  allow_without_hold: number;
  /** ALLOWs a process answered that are not the stored decision of their id. */
  allow_not_stored: number;
  /** Ids for which the two processes answered different decisions. */
  split_decisions: number;
  /** Holds that belong to no stored ALLOW. */
  orphan_holds: number;
  /** Windows whose recorded spend or count differs from the stored approvals. */
  ledger_mismatch: number;
  /** Windows where the stored approvals exceed the limit. */
  over_limit: number;
  /** Approvals not covered by held spend: allow_without_hold + allow_not_stored + over_limit. */
  overspend_count: number;
  approved_amount: number;
  daily_limit: number;
  elapsed_ms: number;
}

function tally(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

export async function runSkewedRace(opts: SkewedRaceOptions): Promise<SkewedRaceFigures> {
  const { uri, perProcess, shared } = opts;
  const ids = 2 * perProcess - shared;
  // Room for about 40 % of what is asked (amounts are 1,000 to 2,999), so the limit is contested.
  const daily = Math.floor(ids * 800) + 457;
  const limits = { per_transaction: null, daily, weekly: daily * 2, monthly: daily * 4, total: daily * 8 };
  const dbName = freshDbName('allowance_skew');
  const store = createMongoAdapter({ uri, dbName });
  const engine = createEngine({ store, clock: new ManualClock(NOW), policy: await defaultPolicy() });
  const inspector = new MongoClient(uri);
  try {
    await engine.init();
    const org = await engine.createOrg({ name: 'Acme' });
    const processor = await engine.createProcessor({ name: 'Processor One' });
    const agent = await engine.createAgent(org.id, { name: 'buyer' });
    const authority = await engine.createAuthority(org.id, { agent_id: agent.id, currency: 'USD', limits });
    const reference = `tok_skew_${Date.now()}`;
    await engine.createBinding(org.id, {
      agent_id: agent.id,
      authority_id: authority.id,
      processor_id: processor.id,
      credential: { type: 'network_token', reference, last4: '4242' },
    });
    // Every other request names this intent: it decides through a pending claim, which the 2 ms lease
    // makes the processes take over; the others reserve first and then insert their final record.
    const { intent } = await engine.validateIntent(org.id, {
      agent_id: agent.id,
      description: 'Race supplies',
      max_amount: daily,
      currency: 'USD',
      merchant: { id: 'mer_3c7a1b9f', mcc: '5734', country: 'US' },
      expires_at: '2026-11-24T10:00:00Z',
      single_use: false,
    });
    const env: Record<string, string> = {
      RACE_INTENT: intent.id,
      MONGODB_URI: uri,
      RACE_DB: dbName,
      RACE_PROCESSOR: processor.id,
      RACE_REFERENCE: reference,
      RACE_NOW: NOW,
      RACE_SHARED: String(shared),
      RACE_OWN: String(perProcess - shared),
      ...(opts.leaseMs === undefined ? {} : { RACE_LEASE_MS: String(opts.leaseMs) }),
    };
    const workers = [
      startWorker('w1', env),
      startWorker('w2', { ...env, RACE_SKEW_MS: String(opts.skewMs), RACE_SHARED_LAST: '1' }),
    ];
    await Promise.all(workers.map((w) => w.ready));
    const started = performance.now();
    for (const w of workers) w.go();
    const outcomes: RaceOutcome[] = (await Promise.all(workers.map((w) => w.result))).flat();
    const elapsed = performance.now() - started;

    const records: AuthorizationRecord[] = [];
    for (let cursor: string | undefined; ; ) {
      const page = await store.listProcessorAuthorizations(processor.id, { limit: 100, cursor });
      records.push(...page.items);
      if (page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    const byId = new Map(records.map((r) => [r.authorization_id, r]));
    const holds = new Set((await mongoInspector(inspector, dbName).usage(org.id, authority.id)).holds);
    const approved = records.filter((r) => r.status === 'approved');
    const approvedIds = new Set(approved.map((r) => r.reservation_id));
    const sum = approved.reduce((s, r) => s + r.approved_amount, 0);
    const usage = await engine.getAuthorityUsage(org.id, authority.id);

    const answered = new Map<string, string>();
    let split = 0;
    for (const o of outcomes) {
      if (o.decision_id === null) continue;
      const twin = answered.get(o.authorization_id);
      if (twin === undefined) answered.set(o.authorization_id, o.decision_id);
      else if (twin !== o.decision_id) split++;
    }
    const allowWithoutHold = approved.filter((r) => !holds.has(r.reservation_id)).length;
    const allowNotStored = outcomes.filter(
      (o) => o.allowed && byId.get(o.authorization_id)?.decision?.decision_id !== o.decision_id,
    ).length;
    let ledgerMismatch = 0;
    let overLimit = 0;
    for (const w of ['daily', 'weekly', 'monthly', 'total'] as const) {
      if (usage.windows[w].spent !== sum || usage.windows[w].count !== approved.length) ledgerMismatch++;
      const limit = limits[w];
      if (sum > limit) overLimit++;
    }
    return {
      requests: outcomes.length,
      authorizations: ids,
      decisions: tally(records.map((r) => (r.status === 'pending' ? 'PENDING' : (r.decision?.action ?? 'NONE')))),
      errors: tally(outcomes.filter((o) => o.error !== null).map((o) => o.error as string)),
      claim_path: records.filter((r) => r.intent_id !== null).length,
      claim_path_approved: approved.filter((r) => r.intent_id !== null).length,
      take_overs: records.filter((r) => r.attempt > 1).length,
      allow_without_hold: allowWithoutHold,
      allow_not_stored: allowNotStored,
      split_decisions: split,
      orphan_holds: [...holds].filter((h) => !approvedIds.has(h)).length,
      ledger_mismatch: ledgerMismatch,
      over_limit: overLimit,
      overspend_count: allowWithoutHold + allowNotStored + overLimit,
      approved_amount: sum,
      daily_limit: daily,
      elapsed_ms: Math.round(elapsed),
    };
  } finally {
    await engine.close();
    await inspector
      .db(dbName)
      .dropDatabase()
      .catch(() => {});
    await inspector.close();
  }
}
