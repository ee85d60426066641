/**
 * Fault run: a real server on the test MongoDB server, under keep-alive authorize load, gets SIGTERM.
 * Prints one JSON line; exits non-zero when a request is reset (any failure but a refused connection
 * after the listener closed), answered other than 200, a claim is left pending, or the exit code is not 0.
 *
 * Run: node build/test/faults/sigterm-keepalive.js (after npm run build).
 */
import { performance } from 'node:perf_hooks';
import { MongoClient } from 'mongodb';
import {
  keepAliveAuthorizeLoad,
  requestsReset,
  setupCliWorld,
  sharedServerEnv,
  startCli,
} from '../support/cli-server.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';

const CONNECTIONS = 16;
/** Answered requests before the signal, so every connection is busy when it arrives. */
const WARM_UP = 200;

const mongo = await testMongoServer();
const dbName = freshDbName('allowance_sigterm');
const { env, operator } = await sharedServerEnv(mongo.uri, dbName);
const server = await startCli(env);
const client = new MongoClient(mongo.uri);
let failed = true;
try {
  const world = await setupCliWorld(server.url, operator, { per_transaction: 50_000, daily: 1_000_000_000 });
  const load = keepAliveAuthorizeLoad({
    url: server.url,
    processor: world.processor,
    reference: world.reference,
    connections: CONNECTIONS,
  });
  while (load.results.length < WARM_UP) await new Promise<void>((r) => setImmediate(r));
  const cutoff = performance.now();
  server.child.kill('SIGTERM');
  const exit = await server.exited;
  const exitMs = performance.now() - cutoff;
  await load.stop();
  const results = load.results;

  const reset = requestsReset(results);
  // Of those, the ones the server logged, or sent before the signal: certainly taken.
  const takenAndReset = reset.filter((r) => r.startedAt < cutoff || server.loggedRequestIds.has(r.requestId));
  const notOk = results.filter((r) => r.status !== null && r.status !== 200);
  const inFlight = results.filter((r) => r.startedAt < cutoff && r.finishedAt > cutoff);
  const pendingClaims = await client.db(dbName).collection('authorizations').countDocuments({ status: 'pending' });
  const figures = {
    fault: 'sigterm-keepalive',
    connections: CONNECTIONS,
    requests: results.length,
    answered: results.filter((r) => r.status !== null).length,
    in_flight_at_sigterm: inFlight.length,
    answered_after_sigterm: results.filter((r) => r.startedAt >= cutoff && r.status !== null).length,
    refused_after_close: results.filter((r) => r.error === 'ECONNREFUSED').length,
    requests_reset: reset.length,
    taken_and_reset: takenAndReset.length,
    non_200: notOk.length,
    pending_claims_left: pendingClaims,
    exit_code: exit.code,
    exit_signal: exit.signal,
    exit_ms: Math.round(exitMs),
  };
  console.log(JSON.stringify(figures));
  failed = reset.length > 0 || notOk.length > 0 || pendingClaims > 0 || exit.code !== 0 || inFlight.length === 0;
  if (failed) {
    console.error(JSON.stringify({ reset: reset.slice(0, 3), not_ok: notOk.slice(0, 3) }));
  }
} finally {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  await client.close();
  await mongo.stop();
}
process.exit(failed ? 1 : 0);
