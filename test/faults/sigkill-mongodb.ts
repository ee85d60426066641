/**
 * Fault run: two real servers on one test MongoDB server under authorize load; one is killed with SIGKILL
 * mid-load and started again. The requests the killed server never answered are retried, as a processor
 * would (same body, backing off while the claim is in progress), until each has its decision.
 *
 * Prints one JSON line: lost decisions (a 200 answered with a decision the store does not hold), the
 * ledger (the authority's total usage) against the sum of approved amounts stored, overspend against the
 * limit, claims left pending and the audit chain verification. Exits non-zero on any loss, overspend,
 * ledger difference, pending claim or broken chain.
 *
 * Run: node build/test/faults/sigkill-mongodb.js (after npm run build).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { MongoClient } from 'mongodb';
import {
  type CliServer,
  callJson,
  keepAliveAuthorizeLoad,
  type LoadResult,
  setupCliWorld,
  sharedServerEnv,
  startCli,
} from '../support/cli-server.js';
import { authorizeBody } from '../support/http-app.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';

/** The authority's total limit: the load asks for more, so the limit is reached under the race. */
const TOTAL_LIMIT = 400_000;
const AMOUNT = 1850;
const CONNECTIONS = 8;
/** Answered requests of the doomed server before it is killed. */
const BEFORE_KILL = 80;
/** Answered requests of the restarted server before the load stops. */
const AFTER_RESTART = 80;
/** How long the retries of unanswered requests may take (the claim lease, then recovery). */
const RETRY_BUDGET_MS = 120_000;

const mongo = await testMongoServer();
const dbName = freshDbName('allowance_sigkill');
const { env, operator } = await sharedServerEnv(mongo.uri, dbName);
const client = new MongoClient(mongo.uri);
const servers: CliServer[] = [];
let failed = true;

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await delay(20);
}

try {
  const a = await startCli(env);
  servers.push(a);
  const b = await startCli(env);
  servers.push(b);
  const world = await setupCliWorld(a.url, operator, { per_transaction: 50_000, total: TOTAL_LIMIT });
  const loadOf = (url: string) =>
    keepAliveAuthorizeLoad({
      url,
      processor: world.processor,
      reference: world.reference,
      connections: CONNECTIONS,
      amount: AMOUNT,
    });

  const onA = loadOf(a.url);
  const onB = loadOf(b.url);
  await until(() => onB.results.filter((r) => r.status !== null).length >= BEFORE_KILL);
  b.child.kill('SIGKILL');
  const killed = await b.exited;
  await onB.stop();
  // In the killed server's place, on its spool: it takes over the lock the killed one left (once that lock
  // has gone unrefreshed for its stale time) and drains whatever it had spooled.
  const restarted = await startCli({ ...env, ALLOWANCE_SPOOL_DIR: b.spoolDir });
  servers.push(restarted);
  const onRestarted = loadOf(restarted.url);
  await until(() => onRestarted.results.filter((r) => r.status !== null).length >= AFTER_RESTART);
  await Promise.all([onA.stop(), onRestarted.stop()]);

  const results: LoadResult[] = [...onA.results, ...onB.results, ...onRestarted.results];
  // A refused connection never reached a server: nothing to retry. Every other failure is retried.
  const unanswered = results.filter((r) => r.status === null && r.error !== 'ECONNREFUSED');
  const retryDeadline = Date.now() + RETRY_BUDGET_MS;
  let retriesInProgress = 0;
  for (const r of unanswered) {
    const body = authorizeBody(world.reference, { authorization_id: r.authorizationId, amount: r.amount });
    for (;;) {
      const res = await callJson(a.url, 'POST', '/v1/authorize', world.processor, body);
      if (res.status === 409 && res.body?.error?.code === 'idempotency_in_progress') {
        retriesInProgress++;
        if (Date.now() > retryDeadline) throw new Error(`claim of ${r.authorizationId} still in progress`);
        await delay(500);
        continue;
      }
      r.status = res.status;
      r.body = res.body;
      r.error = null;
      break;
    }
  }

  const authorizations = await client
    .db(dbName)
    .collection('authorizations')
    .find({ processor_id: world.processorId })
    .toArray();
  const stored = new Map(authorizations.map((d) => [d.authorization_id as string, d]));
  const answered = results.filter((r) => r.status === 200 && typeof r.body?.decision_id === 'string');
  const lost = answered.filter((r) => {
    const doc = stored.get(r.authorizationId);
    return !doc || (doc.decision as { decision_id?: string } | null)?.decision_id !== r.body.decision_id;
  });
  const approvals = authorizations.filter(
    (d) => (d.status === 'approved' || d.status === 'captured') && (d.approved_amount as number) > 0,
  );
  const sumApprovals = approvals.reduce((s, d) => s + (d.approved_amount as number), 0);
  const pending = authorizations.filter((d) => d.status === 'pending').length;
  const usage = await callJson(a.url, 'GET', `/v1/authorities/${world.authorityId}/usage`, world.enterprise);
  const ledger = usage.body.windows.total.spent as number;
  const verify = await callJson(a.url, 'GET', '/v1/audit/verify', world.enterprise);
  // Refused connections never reached a server (the killed one's listener was gone): not requests.
  const non2xx = results.filter((r) => r.error !== 'ECONNREFUSED' && r.status !== 200);

  const figures = {
    fault: 'sigkill-mongodb',
    requests: results.filter((r) => r.error !== 'ECONNREFUSED').length,
    refused_connections: results.filter((r) => r.error === 'ECONNREFUSED').length,
    killed_signal: killed.signal,
    unanswered_by_the_killed_server: unanswered.length,
    retries_while_claim_in_progress: retriesInProgress,
    answered_decisions: answered.length,
    lost_decisions: lost.length,
    approvals: approvals.length,
    sum_of_approvals: sumApprovals,
    ledger_total_spent: ledger,
    ledger_minus_approvals: ledger - sumApprovals,
    limit: TOTAL_LIMIT,
    overspend: Math.max(0, ledger - TOTAL_LIMIT, sumApprovals - TOTAL_LIMIT),
    pending_claims_left: pending,
    non_200_answers: non2xx.length,
    audit_chain_ok: verify.body?.ok === true,
    audit_events_checked: verify.body?.checked ?? null,
  };
  console.log(JSON.stringify(figures));
  failed =
    lost.length > 0 ||
    ledger !== sumApprovals ||
    figures.overspend > 0 ||
    pending > 0 ||
    non2xx.length > 0 ||
    !figures.audit_chain_ok ||
    killed.signal !== 'SIGKILL';
  if (failed)
    console.error(JSON.stringify({ lost: lost.slice(0, 3), non_200: non2xx.slice(0, 3), verify: verify.body }));
} finally {
  for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  await client.close();
  await mongo.stop();
}
process.exit(failed ? 1 : 0);
