import { type CommandStartedEvent, MongoClient } from 'mongodb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { makeOrg, makeReservation, periodsOf } from '../../adapters/conformance/index.js';
import { COLLECTION_NAMES, createMongoAdapter, MOVE_AT, usageKey } from '../../adapters/mongodb/index.js';
import { UsageLedger } from '../../adapters/mongodb/usage-ledger.js';
import { createEngine } from '../../src/engine/index.js';
import { defaultPolicy, makeFixture } from '../support/engine-fixture.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';

/**
 * Round trips of the driver, counted with its command monitoring: a command started while none is in
 * flight opens a round trip; commands started while another is in flight share it (sent in parallel).
 */
async function monitored() {
  const { uri } = await testMongoServer();
  const client = new MongoClient(uri, { monitorCommands: true });
  await client.connect();
  let inFlight = 0;
  let trips = 0;
  let commands: string[] = [];
  let recording = false;
  client.on('commandStarted', (e: CommandStartedEvent) => {
    if (!recording) return;
    if (inFlight === 0) trips++;
    inFlight++;
    started.add(e.requestId);
    commands.push(`${e.commandName}:${String((e.command as Record<string, unknown>)[e.commandName])}`);
  });
  // Only commands started while counting: a read an earlier call left running (a replay answers before
  // the resolution reads sent beside its record read are back) must not end a round trip of this one.
  const started = new Set<number>();
  const settled = (e: { requestId: number }) => {
    if (started.delete(e.requestId)) inFlight--;
  };
  client.on('commandSucceeded', settled);
  client.on('commandFailed', settled);
  const dbName = freshDbName();
  const store = createMongoAdapter({ client, dbName });
  return {
    client,
    dbName,
    store,
    async count<T>(fn: () => Promise<T>): Promise<{ value: T; trips: number; commands: string[] }> {
      trips = 0;
      inFlight = 0;
      started.clear();
      commands = [];
      recording = true;
      try {
        const value = await fn();
        return { value, trips, commands };
      } finally {
        recording = false;
      }
    },
    async cleanup() {
      await client
        .db(dbName)
        .dropDatabase()
        .catch(() => {});
      await store.close();
      await client.close();
    },
  };
}

const trips = suite('MongoDB round trips of authorize');

trips('an ALLOW takes 3 round trips, a DENY 2, a replay 1, also once holds were moved out', async () => {
  const m = await monitored();
  try {
    const f = await makeFixture({ store: m.store });
    // More than MOVE_AT approvals: the usage document has moved holds out (release_seq > 0), so a reserve
    // that did not know its id unused would look for a hold record first (one more round trip).
    for (let i = 0; i <= MOVE_AT; i++) {
      assert.is((await f.engine.authorize(f.processor.id, f.request({ amount: 100 }))).action, 'ALLOW');
    }
    const req = f.request();
    const allow = await m.count(() => f.engine.authorize(f.processor.id, req));
    assert.is(allow.value.action, 'ALLOW');
    assert.is(allow.trips, 3, allow.commands.join(', '));
    const replay = await m.count(() => f.engine.authorize(f.processor.id, { ...req }));
    assert.equal(replay.value, allow.value);
    assert.is(replay.trips, 1, replay.commands.join(', '));
    const deny = await m.count(() => f.engine.authorize(f.processor.id, f.request({ amount: 999_999 })));
    assert.is(deny.value.action, 'DENY');
    assert.is(deny.trips, 2, deny.commands.join(', '));
  } finally {
    await m.cleanup();
  }
});

trips('a change made through another engine is seen by the very next authorize', async () => {
  const m = await monitored();
  try {
    const f = await makeFixture({ store: m.store });
    const other = createEngine({ store: m.store, clock: f.clock, policy: await defaultPolicy() });
    await other.init();
    assert.is((await f.engine.authorize(f.processor.id, f.request())).action, 'ALLOW');

    // Another server lowers the per-transaction limit: the next authorize here decides on it.
    await other.updateAuthority(f.org.id, f.authority.id, {
      limits: { per_transaction: 1_000, daily: 100_000, weekly: 300_000, monthly: 1_000_000, total: 5_000_000 },
    });
    const lowered = await f.engine.authorize(f.processor.id, f.request({ amount: 1_850 }));
    assert.is(lowered.action, 'DENY');
    assert.ok(lowered.reason_codes.includes('per_transaction_limit_exceeded'), lowered.reason_codes.join());

    // Another server suspends the binding and binds a new credential to a new authority of the same agent:
    // the next authorizes decide on both.
    const second = await other.createAuthority(f.org.id, {
      agent_id: f.agent.id,
      currency: 'USD',
      limits: { per_transaction: 50_000, daily: 100_000, weekly: 300_000, monthly: 1_000_000, total: 5_000_000 },
    });
    await other.suspendBinding(f.org.id, f.binding.id);
    const reference = `tok_moved_${Date.now()}`;
    await other.createBinding(f.org.id, {
      agent_id: f.agent.id,
      authority_id: second.id,
      processor_id: f.processor.id,
      credential: { type: 'network_token', reference, last4: '4242' },
    });
    const moved = await f.engine.authorize(f.processor.id, f.request({ credential_reference: reference }));
    assert.is(moved.action, 'ALLOW');
    assert.is(moved.authority_id, second.id);
    const record = await m.store.getAuthorization(f.processor.id, moved.authorization_id);
    assert.is(record?.authority_id, second.id);
    const suspended = await f.engine.authorize(f.processor.id, f.request());
    assert.is(suspended.action, 'DENY');
    assert.ok(suspended.reason_codes.includes('binding_not_active'), suspended.reason_codes.join());
    const usage = await other.getAuthorityUsage(f.org.id, second.id);
    assert.is((usage as { windows: { daily: { spent: number } } }).windows.daily.spent, 1_850);
  } finally {
    await m.cleanup();
  }
});

const ledger = suite('MongoDB reserve from the decision read');

ledger('a reserve following its snapshot sends one update, and an old snapshot never passes a limit', async () => {
  const m = await monitored();
  try {
    await m.store.init();
    const org = makeOrg();
    await m.store.insertOrg(org);
    const periods = periodsOf();
    const limits = { daily: { amount: 1_000 } };
    // The document exists (a first reserve creates it).
    assert.is((await m.store.reserveUsage(org.id, 'sa_1', makeReservation(100, limits, periods))).status, 'reserved');

    const basis = await m.store.getUsage(org.id, 'sa_1', periods);
    const one = await m.count(() =>
      m.store.reserveUsage(org.id, 'sa_1', makeReservation(100, limits, periods), { basis, unused: true }),
    );
    assert.is(one.value.status, 'reserved');
    assert.equal(one.commands, ['update:usage']);

    // The snapshot is now old: 200 spent when read, filled to 1,000 since. A reserve starting from it must
    // still see the limit.
    const old = await m.store.getUsage(org.id, 'sa_1', periods);
    assert.is(old.daily.spent, 200);
    assert.is((await m.store.reserveUsage(org.id, 'sa_1', makeReservation(800, limits, periods))).status, 'reserved');
    const late = await m.store.reserveUsage(org.id, 'sa_1', makeReservation(100, limits, periods), {
      basis: old,
      unused: true,
    });
    assert.is(late.status, 'limit_exceeded');
    const now = await m.store.getUsage(org.id, 'sa_1', periods);
    assert.is(now.daily.spent, 1_000);
    assert.is(now.daily.count, 3);
  } finally {
    await m.cleanup();
  }
});

ledger(
  'a first attempt ended by a take-over after the snapshot is never applied, its marker swept or not',
  async () => {
    const m = await monitored();
    try {
      await m.store.init();
      const org = makeOrg();
      await m.store.insertOrg(org);
      const periods = periodsOf();
      const limits = { daily: { amount: 10_000 } };
      assert.is((await m.store.reserveUsage(org.id, 'sa_1', makeReservation(100, limits, periods))).status, 'reserved');
      const db = m.client.db(m.dbName);
      const ledger = new UsageLedger(
        db.collection(COLLECTION_NAMES.usage),
        db.collection(COLLECTION_NAMES.reservationEnds),
        10,
      );
      for (const sweep of [false, true]) {
        const late = makeReservation(500, limits, periods);
        const basis = await m.store.getUsage(org.id, 'sa_1', periods);
        // A taker gives back what the first attempt may hold before that attempt reserves: the id is ended.
        assert.is((await m.store.releaseUsage(org.id, 'sa_1', late.reservation_id)).status, 'not_held');
        if (sweep) await ledger.sweep(usageKey(org.id, 'sa_1'));
        const res = await m.store.reserveUsage(org.id, 'sa_1', late, { basis, unused: true });
        assert.is(res.status, 'already_applied', `swept: ${sweep}`);
        const now = await m.store.getUsage(org.id, 'sa_1', periods);
        assert.is(now.daily.spent, 100, `nothing held (swept: ${sweep})`);
        assert.is(now.daily.count, 1);
      }
    } finally {
      await m.cleanup();
    }
  },
);

ledger('a snapshot that looked the reservation id up: one update, and an application moved out is found', async () => {
  const m = await monitored();
  try {
    await m.store.init();
    const org = makeOrg();
    await m.store.insertOrg(org);
    const periods = periodsOf();
    const limits = { daily: { amount: 100_000 } };
    const db = m.client.db(m.dbName);
    const ledger = new UsageLedger(
      db.collection(COLLECTION_NAMES.usage),
      db.collection(COLLECTION_NAMES.reservationEnds),
      10,
    );
    const key = usageKey(org.id, 'sa_1');
    const applied = makeReservation(100, limits, periods);
    assert.is((await m.store.reserveUsage(org.id, 'sa_1', applied)).status, 'reserved');
    // Its hold leaves the document for a hold record: only a look-up of the record can find it now.
    await ledger.moveOut(key);

    const hints: { reservationId?: string; applied?: boolean } = { reservationId: applied.reservation_id };
    const again = await m.count(async () => {
      const basis = await m.store.getUsage(org.id, 'sa_1', periods, hints);
      return m.store.reserveUsage(org.id, 'sa_1', applied, { basis });
    });
    assert.is(again.value.status, 'already_applied');
    assert.is(again.trips, 1, again.commands.join(', '));
    assert.is(hints.applied, true);

    const fresh = makeReservation(100, limits, periods);
    const freshHints: { reservationId?: string; applied?: boolean } = { reservationId: fresh.reservation_id };
    const once = await m.count(async () => {
      const basis = await m.store.getUsage(org.id, 'sa_1', periods, freshHints);
      return m.store.reserveUsage(org.id, 'sa_1', fresh, { basis });
    });
    assert.is(once.value.status, 'reserved');
    assert.equal(once.commands, ['aggregate:usage', 'update:usage']);
    assert.is(freshHints.applied, false);

    // Applied by someone else and moved out after the snapshot: the pinned update misses, the reserve
    // reads again and finds the record.
    const late = makeReservation(100, limits, periods);
    const basis = await m.store.getUsage(org.id, 'sa_1', periods, { reservationId: late.reservation_id });
    assert.is((await m.store.reserveUsage(org.id, 'sa_1', late)).status, 'reserved');
    await ledger.moveOut(key);
    assert.is((await m.store.reserveUsage(org.id, 'sa_1', late, { basis })).status, 'already_applied');
    const now = await m.store.getUsage(org.id, 'sa_1', periods);
    assert.equal([now.daily.spent, now.daily.count], [300, 3], 'each id held once');
  } finally {
    await m.cleanup();
  }
});

trips.run();
ledger.run();
