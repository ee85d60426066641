import { type Collection, type Document, MongoClient } from 'mongodb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { makeReservation, periodsOf } from '../../adapters/conformance/index.js';
import { COLLECTION_NAMES, usageKey } from '../../adapters/mongodb/index.js';
import { UsageLedger } from '../../adapters/mongodb/usage-ledger.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';

const test = suite('mongodb usage adjustments: a slow call of the same id');

/**
 * Wraps the collections one ledger reads through so that, within one attempt, its first read answers at
 * once and its second waits until `gate` opens: the widest window another call of the same id can fit
 * into, whichever of the usage document and the marker the ledger reads first.
 */
function gatedReads(usage: Collection<Document>, markers: Collection<Document>, gate: Promise<void>) {
  let reads = 0;
  let secondStarted!: () => void;
  const atSecond = new Promise<void>((resolve) => {
    secondStarted = resolve;
  });
  const wrap = (c: Collection<Document>) =>
    new Proxy(c, {
      get(target, prop, receiver) {
        if (prop !== 'findOne') return Reflect.get(target, prop, receiver);
        return async (...args: unknown[]) => {
          reads++;
          if (reads === 2) {
            secondStarted();
            await gate;
          }
          return (target.findOne as (...a: unknown[]) => Promise<Document | null>).apply(target, args);
        };
      },
    });
  return { usage: wrap(usage), markers: wrap(markers), atSecond };
}

test('an adjustment finished by another call between a slow call’s two reads is applied once', async () => {
  const { uri } = await testMongoServer();
  const client = new MongoClient(uri);
  await client.connect();
  try {
    const db = client.db(freshDbName());
    const usage = db.collection(COLLECTION_NAMES.usage);
    const ends = db.collection(COLLECTION_NAMES.reservationEnds);
    const markers = db.collection(COLLECTION_NAMES.usageAdjustments);
    const periods = periodsOf();
    const fast = new UsageLedger(usage, ends, 10, markers);
    assert.equal(await fast.reserve('org_1', 'aut_1', makeReservation(5000, undefined, periods)), {
      status: 'reserved',
    });
    const adjustment = { adjustment_id: 'adj_race', amount: -700, periods };
    // The slow call's first attempt only inserts the marker; the race is in its second attempt.
    await markers.insertOne({
      _id: `${usageKey('org_1', 'aut_1')}\u0000adj_race`,
      state: 'applying',
      amount: -700,
      periods,
    } as Document);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const gated = gatedReads(usage, markers, gate);
    const slow = new UsageLedger(gated.usage, ends, 10, gated.markers);
    const slowCall = slow.adjust('org_1', 'aut_1', adjustment);
    await gated.atSecond;
    const fastResult = await fast.adjust('org_1', 'aut_1', adjustment);
    open();
    const slowResult = await slowCall;
    assert.equal([fastResult.status, slowResult.status].sort(), ['adjusted', 'already_applied']);
    const doc = await usage.findOne({ _id: usageKey('org_1', 'aut_1') } as Document);
    assert.is(doc?.windows.daily.spent, 5000 - 700, 'applied once');
  } finally {
    await client.close();
  }
});

test.run();
