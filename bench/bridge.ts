import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Lithic from 'lithic';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { MemoryBridgeStorage } from '../adapters/memory/index.js';
import {
  type BridgeKind,
  type BridgeRecord,
  BridgeService,
  type LithicSignatureHeaders,
  stripeAuthorizeBody,
  verifyLithicSignature,
} from '../src/bridges/index.js';
import { createSecretBox } from '../src/crypto/index.js';
import { createEngine, type Engine } from '../src/engine/index.js';
import type { StorageAdapter } from '../src/storage/index.js';
import { ManualClock } from '../src/util/clock.js';
import { defaultPolicy } from '../test/support/engine-fixture.js';
import { faultyStore } from '../test/support/faulty-store.js';
import { asaRequest, lithicSecret } from '../test/support/lithic-asa.js';
import { issuingAuthorization, stripeEvent, stripeSecret } from '../test/support/stripe-events.js';
import { printTable, summarize } from './stats.js';

/**
 * The Stripe Issuing bridge in-process beside `engine.authorize` in the same run: the bridge's own cost is
 * the signature check (Stripe's helper), mapping and answer on top of the same authorize. Then the answer
 * time of the bridge when every store call hangs (stand-in), which must stay under Stripe's 2 s. The Lithic
 * ASA bridge is measured the same way (requests signed by the Standard Webhooks signer, verified by the
 * bridge's own check on the injected clock), interleaved in the same rounds; then that signature check alone
 * beside the `lithic` package's helper on the same signed requests, interleaved too.
 */
const N = Number(process.env.BENCH_N ?? 4_000);
const ROUNDS = 4;
const FROZEN_N = Number(process.env.BENCH_FROZEN_N ?? 5);

async function world(store: StorageAdapter, config: Parameters<typeof createEngine>[0]['config'] = {}) {
  const engine = createEngine({ store, policy: await defaultPolicy(), config });
  await engine.init();
  const org = await engine.createOrg({ name: 'Bench Org' });
  const processor = await engine.createProcessor({ name: 'Bench Processor' });
  const agent = await engine.createAgent(org.id, { name: 'bench-agent' });
  const authority = await engine.createAuthority(org.id, {
    agent_id: agent.id,
    currency: 'USD',
    limits: { per_transaction: 100_000, daily: 1e12, weekly: 1e12, monthly: 1e12, total: 1e13 },
    velocity: { daily: 1e9 },
    stand_in: { action: 'ALLOW_UP_TO', max_amount: 5_000 },
  });
  const cardId = `ic_${randomBytes(8).toString('hex')}`;
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'card', reference: cardId, last4: '4242' },
  });
  return { engine, orgId: org.id, processorId: processor.id, cardId };
}

/** A memory bridge storage whose reads hang once frozen. */
class FreezableBridges extends MemoryBridgeStorage {
  frozen = false;
  override get(orgId: string, kind: BridgeKind): Promise<BridgeRecord | null> {
    return this.frozen ? new Promise<never>(() => {}) : super.get(orgId, kind);
  }
}

async function bridgeOf(
  engine: Engine,
  orgId: string,
  processorId: string,
  clock: ManualClock,
  storage = new FreezableBridges(),
) {
  const secret = stripeSecret();
  const bridges = new BridgeService(engine, storage, createSecretBox(randomBytes(32)), clock);
  await bridges.register(orgId, { processor_id: processorId, signing_secret: secret });
  const lithic = lithicSecret();
  await bridges.register(orgId, { processor_id: processorId, signing_secret: lithic }, 'lithic_asa');
  return { bridges, secret, lithic };
}

function signedLithic(cardToken: string, secret: string, nowMs: number, amount = 1850) {
  const payload = JSON.stringify(asaRequest(cardToken, { amount }));
  const id = `msg_${randomBytes(12).toString('hex')}`;
  const at = new Date(Math.floor(nowMs / 1000) * 1000);
  const headers: LithicSignatureHeaders = {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(nowMs / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, payload),
  };
  return { payload: Buffer.from(payload), headers };
}

function signed(cardId: string, secret: string, nowMs: number, amount = 1850) {
  const payload = JSON.stringify(
    stripeEvent('issuing_authorization.request', issuingAuthorization(cardId, { amount })),
  );
  const header = Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: Math.floor(nowMs / 1000) });
  return { payload: Buffer.from(payload), header };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0);
}

async function main(): Promise<void> {
  const clock = new ManualClock(Date.now());
  const { MemoryAdapter } = await import('../adapters/memory/index.js');
  const w = await world(new MemoryAdapter());
  const { bridges, secret, lithic } = await bridgeOf(w.engine, w.orgId, w.processorId, clock);

  // Inputs prepared outside the timed calls: events signed by Stripe's helper, and the same requests for the
  // engine (fresh authorization ids, so both paths decide and hold every time).
  const per = Math.ceil(N / ROUNDS);
  const engineNs: number[] = [];
  const bridgeNs: number[] = [];
  const lithicNs: number[] = [];
  const warm = Math.min(500, per);
  for (let i = 0; i < warm; i++) {
    const e = signed(w.cardId, secret, clock.now());
    await bridges.handleStripe(w.orgId, e.payload, e.header);
    const l = signedLithic(w.cardId, lithic, clock.now());
    await bridges.handleLithic(w.orgId, l.payload, l.headers);
    await w.engine.authorize(w.processorId, stripeAuthorizeBody(issuingAuthorization(w.cardId) as never));
  }
  for (let r = 0; r < ROUNDS; r++) {
    const events = Array.from({ length: per }, () => signed(w.cardId, secret, clock.now()));
    const bodies = Array.from({ length: per }, () => stripeAuthorizeBody(issuingAuthorization(w.cardId) as never));
    for (const body of bodies) engineNs.push(await timed(() => w.engine.authorize(w.processorId, body)));
    for (const e of events) bridgeNs.push(await timed(() => bridges.handleStripe(w.orgId, e.payload, e.header)));
    const asa = Array.from({ length: per }, () => signedLithic(w.cardId, lithic, clock.now()));
    for (const l of asa) lithicNs.push(await timed(() => bridges.handleLithic(w.orgId, l.payload, l.headers)));
  }
  const engineStats = summarize(engineNs);
  const bridgeStats = summarize(bridgeNs);
  const lithicStats = summarize(lithicNs);

  // The Lithic signature check alone: the bridge's (node:crypto HMAC, injected clock) beside the official
  // helper (Standard Webhooks with fast-sha256, wall clock) on the same signed requests.
  const helper = new Lithic({ apiKey: 'unused', webhookSecret: null });
  const oursNs: number[] = [];
  const helperNs: number[] = [];
  const syncTimed = (fn: () => unknown): number => {
    const t0 = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t0);
  };
  for (let r = 0; r < ROUNDS; r++) {
    const asa = Array.from({ length: per }, () => signedLithic(w.cardId, lithic, Date.now()));
    for (const l of asa) {
      oursNs.push(
        syncTimed(() => {
          if (!verifyLithicSignature(l.payload, l.headers, [lithic], Date.now())) throw new Error('ours refused');
        }),
      );
    }
    for (const l of asa) {
      const body = l.payload.toString('utf8');
      const headers = l.headers as Record<string, string>;
      helperNs.push(syncTimed(() => helper.webhooks.verifySignature(body, headers, lithic)));
    }
  }
  const oursStats = summarize(oursNs);
  const helperStats = summarize(helperNs);

  // A frozen store: every engine store call and the bridge storage hang; the bridge answers by stand-in.
  const faulty = faultyStore();
  const spool = await mkdtemp(join(tmpdir(), 'allowance-bench-spool-'));
  const fw = await world(faulty.store, { authorizeDeadlineMs: 1500, standInSpoolDir: spool });
  const frozenClock = new ManualClock(Date.now());
  const frozenBridges = new FreezableBridges();
  const fb = await bridgeOf(fw.engine, fw.orgId, fw.processorId, frozenClock, frozenBridges);
  const first = signed(fw.cardId, fb.secret, frozenClock.now());
  await fb.bridges.handleStripe(fw.orgId, first.payload, first.header);
  const firstAsa = signedLithic(fw.cardId, fb.lithic, frozenClock.now());
  await fb.bridges.handleLithic(fw.orgId, firstAsa.payload, firstAsa.headers);
  const never = new Promise<never>(() => {});
  for (const m of [
    'getProcessor',
    'findBinding',
    'getAgent',
    'getAuthority',
    'getUsage',
    'claimAuthorization',
    'getAuthorization',
    'updateAuthorization',
    'reserveUsage',
    'releaseUsage',
  ] as const) {
    faulty.wrap(m, () => never);
  }
  frozenBridges.frozen = true;
  const frozenMs: number[] = [];
  let standIns = 0;
  for (let i = 0; i < FROZEN_N; i++) {
    frozenClock.advance(6_000); // past the cached bridge's freshness: its read is tried and abandoned
    const e = signed(fw.cardId, fb.secret, frozenClock.now(), 2_000);
    let answer: { body: { metadata?: Record<string, string> } } | undefined;
    frozenMs.push(
      (await timed(async () => {
        answer = (await fb.bridges.handleStripe(fw.orgId, e.payload, e.header)) as typeof answer;
      })) / 1e6,
    );
    if (answer?.body.metadata?.allowance_stand_in === 'true') standIns++;
  }
  const lithicFrozenMs: number[] = [];
  let lithicStandIns = 0;
  for (let i = 0; i < FROZEN_N; i++) {
    frozenClock.advance(6_000);
    const l = signedLithic(fw.cardId, fb.lithic, frozenClock.now(), 2_000);
    let answer: Awaited<ReturnType<BridgeService['handleLithic']>> | undefined;
    lithicFrozenMs.push(
      (await timed(async () => {
        answer = await fb.bridges.handleLithic(fw.orgId, l.payload, l.headers);
      })) / 1e6,
    );
    if (answer?.body.allowance?.stand_in === true) lithicStandIns++;
  }
  const frozen = {
    n: FROZEN_N,
    stand_in_answers: standIns,
    p50_ms: Math.round(([...frozenMs].sort((a, b) => a - b)[Math.floor(FROZEN_N / 2)] ?? 0) * 10) / 10,
    max_ms: Math.round(Math.max(...frozenMs) * 10) / 10,
  };
  const lithicFrozen = {
    n: FROZEN_N,
    stand_in_answers: lithicStandIns,
    p50_ms: Math.round(([...lithicFrozenMs].sort((a, b) => a - b)[Math.floor(FROZEN_N / 2)] ?? 0) * 10) / 10,
    max_ms: Math.round(Math.max(...lithicFrozenMs) * 10) / 10,
  };

  console.log(
    `bridge benchmark: node ${process.version}, memory store, ${engineNs.length} calls per path in ${ROUNDS} alternating rounds`,
  );
  printTable([
    { path: 'engine.authorize', ...engineStats },
    { path: 'stripe bridge (verify + map + authorize + answer)', ...bridgeStats },
    { path: 'lithic ASA bridge (verify + map + authorize + answer)', ...lithicStats },
    { path: 'lithic signature check: the bridge (node:crypto)', ...oursStats },
    { path: 'lithic signature check: the lithic package helper', ...helperStats },
  ]);
  console.log(
    `frozen store: ${frozen.stand_in_answers}/${frozen.n} stand-in answers, p50 ${frozen.p50_ms} ms, max ${frozen.max_ms} ms`,
  );
  console.log(
    `lithic frozen store: ${lithicFrozen.stand_in_answers}/${lithicFrozen.n} stand-in answers, p50 ${lithicFrozen.p50_ms} ms, max ${lithicFrozen.max_ms} ms`,
  );
  console.log(
    JSON.stringify({
      bench: 'bridge',
      node: process.version,
      engine_authorize: { p50_us: engineStats.p50_us, p99_us: engineStats.p99_us, n: engineStats.n },
      stripe_bridge: { p50_us: bridgeStats.p50_us, p99_us: bridgeStats.p99_us, n: bridgeStats.n },
      bridge_overhead_p50_us: Math.round((bridgeStats.p50_us - engineStats.p50_us) * 10) / 10,
      lithic_bridge: { p50_us: lithicStats.p50_us, p99_us: lithicStats.p99_us, n: lithicStats.n },
      lithic_overhead_p50_us: Math.round((lithicStats.p50_us - engineStats.p50_us) * 10) / 10,
      lithic_verify: { p50_us: oursStats.p50_us, p99_us: oursStats.p99_us, n: oursStats.n },
      lithic_helper_verify: { p50_us: helperStats.p50_us, p99_us: helperStats.p99_us, n: helperStats.n },
      frozen_store: frozen,
      lithic_frozen_store: lithicFrozen,
    }),
  );
  process.exit(0);
}

await main();
