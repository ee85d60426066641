/**
 * One server process of the two-process race (test/adapters/two-processes.test.ts): builds an engine
 * over the MongoDB database named in its environment, prints `ready`, waits for a line on stdin, fires
 * its authorizations at once and prints one JSON line with every decision.
 *
 * Environment: MONGODB_URI and RACE_DB, or RACE_SQLITE (a database file) instead, RACE_PROCESSOR, RACE_REFERENCE, RACE_NOW (the clock both
 * processes share), RACE_WORKER (its name), RACE_OWN (own requests), RACE_SHARED (requests both send).
 * Optional: RACE_SKEW_MS (added to this process's clock), RACE_LEASE_MS (the claim lease),
 * RACE_WAIT_MS (how long a twin waits, default 30 s), RACE_SHARED_LAST (send the shared ids after its own),
 * RACE_INTENT (an intent every other request names, so that it decides through a pending claim).
 */
import { createInterface } from 'node:readline';
import { createMongoAdapter } from '../../adapters/mongodb/index.js';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { createEngine } from '../../src/engine/index.js';
import { isAppError } from '../../src/errors/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultPolicy } from './engine-fixture.js';
import { raceRequest } from './race-requests.js';

/** What a worker reports per authorization. */
export interface RaceOutcome {
  authorization_id: string;
  decision_id: string | null;
  audit_event_id: string | null;
  allowed: boolean;
  approved_amount: number;
  reason_codes: string[];
  error: string | null;
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`race-worker: ${name} is not set`);
  return value;
}

const worker = env('RACE_WORKER');
const reference = env('RACE_REFERENCE');
const processorId = env('RACE_PROCESSOR');
const sqlitePath = process.env.RACE_SQLITE;
// On SQLite, a writer waits for the other process's lock as long as the authorize budget below.
const store = sqlitePath
  ? new SqliteAdapter({ path: sqlitePath, busyTimeoutMs: Number(process.env.RACE_WAIT_MS ?? 30_000) })
  : createMongoAdapter({ uri: env('MONGODB_URI'), dbName: env('RACE_DB') });
const lease = process.env.RACE_LEASE_MS;
const engine = createEngine({
  store,
  clock: new ManualClock(Date.parse(env('RACE_NOW')) + Number(process.env.RACE_SKEW_MS ?? 0)),
  policy: await defaultPolicy(),
  // Twins in the other process may take a while under this load; a processor would retry too. The race
  // is about money, not latency: the slow test server gets an authorize budget as long as that wait.
  config: {
    duplicateWaitMs: Number(process.env.RACE_WAIT_MS ?? 30_000),
    authorizeDeadlineMs: Number(process.env.RACE_WAIT_MS ?? 30_000),
    ...(lease ? { claimLeaseMs: Number(lease) } : {}),
  },
  audit: { chainIntervalMs: 5 },
});
await engine.init();
// Both processes link the one audit chain of the org while deciding.
engine.startBackground();

const shared = Array.from({ length: Number(env('RACE_SHARED')) }, (_, i): number | string => i);
const own = Array.from({ length: Number(env('RACE_OWN')) }, (_, i) => `${worker}_${i}`);
// Shared ids last: this process reaches them while the other one is still deciding them.
const ids = process.env.RACE_SHARED_LAST ? [...own, ...shared] : [...shared, ...own];

async function authorize(key: number | string): Promise<RaceOutcome> {
  const body = raceRequest(key, reference, process.env.RACE_INTENT);
  try {
    const d = await engine.authorize(processorId, body);
    return {
      authorization_id: d.authorization_id,
      decision_id: d.decision_id,
      audit_event_id: d.audit_event_id,
      allowed: d.allowed,
      approved_amount: d.approved_amount,
      reason_codes: d.reason_codes,
      error: null,
    };
  } catch (err) {
    const code = isAppError(err) ? err.code : String(err);
    return {
      authorization_id: body.authorization_id,
      decision_id: null,
      audit_event_id: null,
      allowed: false,
      approved_amount: 0,
      reason_codes: [],
      error: code,
    };
  }
}

process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
await new Promise<void>((resolve) => lines.once('line', () => resolve()));
lines.close();
const outcomes = await Promise.all(ids.map(authorize));
await engine.audit.chainer.drain();
process.stdout.write(`${JSON.stringify(outcomes)}\n`);
await engine.close();
