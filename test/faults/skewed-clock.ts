/**
 * Fault: two engine processes on one MongoDB database (the test wire server) race on the same
 * authorization ids while the second process's clock runs 60 s ahead of the first's, in rounds on fresh
 * databases: half with the default claim lease, half with a 2 ms lease that makes the processes take
 * over each other's live (only slow) claims. Every other request names an intent and so decides through a
 * pending claim; the others reserve first and then insert their final record. Each round is sized so that the processes meet on the
 * shared ids while both are still deciding them (the second sends them after its own); more rounds, not
 * larger ones, make the run larger. Prints one JSON line with the figures of every round and their
 * totals; exits non-zero unless every round shows zero overspend, no ALLOW without a live hold, one
 * decision per id, no orphan hold, usage equal to the stored approvals and no undecided id.
 *
 * Size: FAULT_SKEW_ROUNDS (default 10), FAULT_SKEW_PER_PROCESS (default 100 requests per process),
 * FAULT_SKEW_SHARED (default 60 of them sent by both).
 */
import { startMongoServer } from '../support/mongo-server.js';
import { runSkewedRace, type SkewedRaceFigures } from '../support/skewed-race.js';

const roundCount = Number(process.env.FAULT_SKEW_ROUNDS ?? 10);
const perProcess = Number(process.env.FAULT_SKEW_PER_PROCESS ?? 100);
const shared = Number(process.env.FAULT_SKEW_SHARED ?? 60);
const SKEW_MS = 60_000;

const server = await startMongoServer();
const rounds: Array<{ lease_ms: number | 'default' } & SkewedRaceFigures> = [];
try {
  for (let i = 0; i < roundCount; i++) {
    const leaseMs = i % 2 === 0 ? undefined : 2;
    const figures = await runSkewedRace({ uri: server.uri, perProcess, shared, skewMs: SKEW_MS, leaseMs });
    rounds.push({ lease_ms: leaseMs ?? 'default', ...figures });
  }
} finally {
  await server.stop();
}

const sum = (key: keyof SkewedRaceFigures) => rounds.reduce((s, r) => s + (r[key] as number), 0);
const decisions: Record<string, number> = {};
for (const r of rounds) for (const [k, v] of Object.entries(r.decisions)) decisions[k] = (decisions[k] ?? 0) + v;
const errors: Record<string, number> = {};
for (const r of rounds) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
const summary = {
  fault: 'skewed_clock',
  skew_ms: SKEW_MS,
  overspend_count: sum('overspend_count'),
  allow_without_hold: sum('allow_without_hold'),
  allow_not_stored: sum('allow_not_stored'),
  split_decisions: sum('split_decisions'),
  orphan_holds: sum('orphan_holds'),
  ledger_mismatch: sum('ledger_mismatch'),
  undecided: decisions.PENDING ?? 0,
  claim_path: sum('claim_path'),
  claim_path_approved: sum('claim_path_approved'),
  take_overs: sum('take_overs'),
  requests: sum('requests'),
  decisions,
  errors,
  rounds,
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
const failed =
  summary.overspend_count +
  summary.allow_without_hold +
  summary.allow_not_stored +
  summary.split_decisions +
  summary.orphan_holds +
  summary.ledger_mismatch +
  summary.undecided;
process.exitCode = failed === 0 ? 0 : 1;
