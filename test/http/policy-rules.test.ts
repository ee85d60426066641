import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildPolicyBundle } from '../../src/policy-build/index.js';
import { ManualClock } from '../../src/util/clock.js';
import {
  authorizeBody,
  makeWorld,
  OPERATOR_CRED,
  setupSpending,
  type TestApp,
  type World,
} from '../support/http-app.js';
import { startPolicyApp } from '../support/policy-app.js';
import { vendorPolicy } from '../support/policy-uploads.js';
import { assertMatches } from '../support/response-schemas.js';

type Rule = Record<string, unknown>;

function rule(
  id: string,
  priority: number,
  conditions: Record<string, unknown>,
  action: Record<string, unknown>,
): Rule {
  return { id, priority, conditions, action };
}

async function putRules(w: World, rules: Rule[], expected = 201): Promise<string> {
  const res = await w.t.call('PUT', '/v1/policy-rules', { auth: w.enterprise, body: { rules } });
  assert.is(res.status, expected, res.text);
  assertMatches('RulesRevision', res.body);
  return res.body.revision;
}

/** Puts the rules and promotes their revision (this server applies it before answering). */
async function activate(w: World, rules: Rule[]): Promise<string> {
  const revision = await putRules(w, rules);
  const promoted = await w.t.call('POST', `/v1/policies/${revision}/promote`, { auth: w.enterprise });
  assert.is(promoted.status, 200, promoted.text);
  assert.is(promoted.body.active_revision, revision);
  return revision;
}

async function pay(w: World, reference: string, overrides: Record<string, unknown> = {}) {
  const res = await w.t.call('POST', '/v1/authorize', { auth: w.processor, body: authorizeBody(reference, overrides) });
  assert.is(res.status, 200, res.text);
  return res.body as { action: string; reason_codes: string[]; org_policy_revision: string | null };
}

function merchant(id: string, mcc = '5734', country = 'US') {
  return { merchant: { id, name: 'Shop', mcc, country } };
}

const WINDOW = { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' };

for (const kind of ['memory', 'mongodb'] as const) {
  const test = suite(`rules as data over HTTP (${kind})`);

  test('invalid rules are 422 rules_invalid naming the rule, its index and the path', async () => {
    const t = await startPolicyApp(kind);
    try {
      const w = await makeWorld(t as unknown as TestApp);
      const none = await t.call('GET', '/v1/policy-rules', { auth: w.enterprise });
      assert.is(none.status, 404);
      assert.is(none.body.error.code, 'not_found');
      const ok = rule('a', 1, {}, { type: 'allow' });
      const cases: [Rule[] | unknown, string, number | null, string][] = [
        [[ok, rule('b', 2, {}, { type: 'explode' })], 'schema', 1, '/rules/1/action'],
        [[ok, rule('b', 2, { mcc: { in: ['59'] } }, { type: 'deny' })], 'schema', 1, '/rules/1/conditions/mcc/in/0'],
        [
          [ok, rule('b', 2, { mcc: { in: ['5411'], not_in: ['5812'] } }, { type: 'deny' })],
          'schema',
          1,
          '/rules/1/conditions/mcc',
        ],
        [[rule('b', 2, {}, { type: 'throttle' })], 'schema', 0, '/rules/0/action'],
        [[rule('b', 2, { weekdays: ['funday'] }, { type: 'deny' })], 'schema', 0, '/rules/0/conditions/weekdays/0'],
        [[ok, { ...ok, priority: 3 }], 'duplicate_rule_id', 1, '/rules/1/id'],
        [
          [rule('b', 2, { amount: { gte: 500, lte: 100 } }, { type: 'deny' })],
          'empty_amount_range',
          0,
          '/rules/0/conditions/amount',
        ],
        [
          [ok, rule('c', 2, { time_of_day: { from: '09:00', to: '09:00' } }, { type: 'deny' })],
          'empty_time_window',
          1,
          '/rules/1/conditions/time_of_day',
        ],
        [{ rules: 'all' }, 'schema', null, '/rules'],
      ];
      for (const [rules, problem, index, path] of cases) {
        const body = Array.isArray(rules) ? { rules } : rules;
        const res = await t.call('PUT', '/v1/policy-rules', { auth: w.enterprise, body });
        assert.is(res.status, 422, res.text);
        assert.is(res.body.error.code, 'rules_invalid');
        assert.is(res.body.error.details.problem, problem, res.text);
        assert.is(res.body.error.details.index, index, res.text);
        assert.is(res.body.error.details.path, path, res.text);
      }
      const list = await t.call('GET', '/v1/policies', { auth: w.enterprise });
      assert.equal(list.body.items, [], 'nothing was stored');
      const asProcessor = await t.call('PUT', '/v1/policy-rules', { auth: w.processor, body: { rules: [] } });
      assert.is(asProcessor.status, 403);
    } finally {
      await t.close();
    }
  });

  test('put and get a draft: a revision like any, the same rules again are the same revision', async () => {
    const t = await startPolicyApp(kind);
    try {
      const w = await makeWorld(t as unknown as TestApp);
      const other = await makeWorld(t as unknown as TestApp, 'Other');
      const rules = [rule('no_gambling', 1, { mcc: { in: ['7995'] } }, { type: 'deny', reason: 'no_gambling' })];
      const res = await t.call('PUT', '/v1/policy-rules', { auth: w.enterprise, body: { rules } });
      assert.is(res.status, 201, res.text);
      assert.match(res.body.revision, /^rules-[0-9a-f]{16}$/);
      assert.is(res.body.status, 'inactive', 'a draft until promoted');
      assert.is(res.body.base_revision, t.registry.base().revision);
      assert.equal(res.body.rules, [{ ...rules[0], is_active: true }], 'defaults filled in');
      assert.is(res.body.uploaded_by, w.enterprise.key_id);
      assert.equal([res.body.org_id, res.body.livemode], [w.orgId, true]);
      const again = await t.call('PUT', '/v1/policy-rules', { auth: w.enterprise, body: { rules } });
      assert.is(again.status, 200);
      assert.equal(again.body, res.body);
      const latest = await t.call('GET', '/v1/policy-rules', { auth: w.enterprise });
      assert.equal(latest.body, res.body);
      const byRevision = await t.call('GET', `/v1/policy-rules/${res.body.revision}`, { auth: w.enterprise });
      assert.equal(byRevision.body, res.body);
      const policy = await t.call('GET', `/v1/policies/${res.body.revision}`, { auth: w.enterprise });
      assert.is(policy.status, 200, 'listed with the org’s policy revisions');
      assert.is((await t.call('GET', `/v1/policy-rules/${res.body.revision}`, { auth: other.enterprise })).status, 404);
      // An uploaded Rego bundle is not a rules revision.
      await t.call('POST', '/v1/policies', {
        auth: w.enterprise,
        raw: await vendorPolicy('rules-0123456789abcdef', []),
        headers: { 'content-type': 'application/gzip' },
      });
      assert.is((await t.call('GET', '/v1/policy-rules/rules-0123456789abcdef', { auth: w.enterprise })).status, 404);
      assert.is((await t.call('GET', '/v1/policy-rules', { auth: w.enterprise })).body.revision, res.body.revision);
      // Test mode is a world of its own: a test credential's rules belong to the org's test twin.
      const sandbox = await t.call('POST', `/v1/orgs/${w.orgId}/credentials`, {
        auth: OPERATOR_CRED,
        body: { name: 'sandbox', mode: 'test' },
      });
      assert.is(sandbox.status, 201, sandbox.text);
      assert.is((await t.call('GET', '/v1/policy-rules', { auth: sandbox.body })).status, 404);
      const testRules = await t.call('PUT', '/v1/policy-rules', { auth: sandbox.body, body: { rules } });
      assert.is(testRules.status, 201, testRules.text);
      assert.is(testRules.body.livemode, false);
      assert.is.not(testRules.body.org_id, w.orgId);
      assert.is((await t.call('GET', '/v1/policy-rules', { auth: w.enterprise })).body.revision, res.body.revision);

      const openapi = (await t.call('GET', '/openapi.json')).body;
      assert.ok(openapi.paths['/v1/policy-rules'].put, 'in the OpenAPI document');
      assert.ok(openapi.paths['/v1/policy-rules'].get);
      assert.ok(openapi.paths['/v1/policy-rules/{revision}'].get);
      assert.ok(openapi.components.schemas.Rule && openapi.components.schemas.RulesInput);
      const audit = (await t.trail(w.orgId)).filter((e) => e.type === 'policy.uploaded');
      assert.is(audit.length, 2);
      assert.is(audit[0]?.subject.id, res.body.revision);
    } finally {
      await t.close();
    }
  });

  test('each condition and action, priority order, inactive rules skipped; never past the engine checks', async () => {
    const t = await startPolicyApp(kind);
    try {
      const w = await makeWorld(t as unknown as TestApp);
      const { reference } = await setupSpending(w);
      const second = await setupSpending(w);
      const rules = [
        rule('vip', 1, { merchant: { in: ['mer_vip'] } }, { type: 'allow' }),
        { ...rule('off', 0, {}, { type: 'deny', reason: 'switched_off' }), is_active: false },
        rule('no_gambling', 5, { mcc: { in: ['7995'] } }, { type: 'deny', reason: 'no_gambling' }),
        rule('abroad', 10, { country: { not_in: ['US', 'CA'] } }, { type: 'deny' }),
        rule('big', 20, { amount: { gte: 20_000 } }, { type: 'require_approval' }),
        rule(
          'food',
          30,
          { currency: { in: ['USD'] }, mcc: { in: ['5812'] } },
          { type: 'require_approval', reason: 'food_review' },
        ),
        rule('second_bot', 40, { agent: { in: [second.agentId] } }, { type: 'deny', reason: 'agent_blocked' }),
        rule('eur_only', 50, { currency: { not_in: ['USD'] } }, { type: 'deny', reason: 'not_usd' }),
      ];
      const revision = await activate(w, rules);
      const plain = await pay(w, reference);
      assert.is(plain.action, 'ALLOW', 'no rule decides');
      assert.is(plain.org_policy_revision, revision);
      assert.equal((await pay(w, reference, merchant('mer_1', '7995'))).reason_codes, ['policy:no_gambling']);
      assert.is((await pay(w, reference, merchant('mer_vip', '7995'))).action, 'ALLOW', 'priority 1 allows first');
      const abroad = await pay(w, reference, merchant('mer_1', '5734', 'DE'));
      assert.equal([abroad.action, abroad.reason_codes], ['DENY', ['policy:rule_denied']]);
      const big = await pay(w, reference, { amount: 25_000 });
      assert.equal([big.action, big.reason_codes], ['STEP_UP', ['policy:rule_requires_approval']]);
      const food = await pay(w, reference, merchant('mer_1', '5812'));
      assert.equal([food.action, food.reason_codes], ['STEP_UP', ['policy:food_review']]);
      const bot = await pay(w, second.reference);
      assert.equal([bot.action, bot.reason_codes], ['DENY', ['policy:agent_blocked']]);
      // An allow rule never lifts what the engine denies: over the per-transaction limit of 50,000.
      const over = await pay(w, reference, { amount: 60_000, ...merchant('mer_vip') });
      assert.is(over.action, 'DENY');
      assert.ok(over.reason_codes.includes('per_transaction_limit_exceeded'), over.reason_codes.join());
    } finally {
      await t.close();
    }
  });

  test('velocity conditions and throttle rates read the usage the engine passes', async () => {
    const t = await startPolicyApp(kind);
    try {
      const w = await makeWorld(t as unknown as TestApp);
      const { reference } = await setupSpending(w);
      await activate(w, [
        rule('groceries', 1, { mcc: { in: ['5411'] } }, { type: 'throttle', rate: { count: 2, window: 'daily' } }),
        rule(
          'daily_cap',
          2,
          { velocity: { window: 'daily', spent_above: 5_000 } },
          { type: 'deny', reason: 'daily_cap' },
        ),
      ]);
      const grocery = { amount: 1_000, ...merchant('mer_g', '5411') };
      assert.is((await pay(w, reference, grocery)).action, 'ALLOW');
      assert.is((await pay(w, reference, grocery)).action, 'ALLOW');
      const third = await pay(w, reference, grocery);
      assert.equal([third.action, third.reason_codes], ['DENY', ['policy:rule_throttled']]);
      // 2,000 spent today: 2,000 more stays within 5,000, then 1,500 more would pass it.
      assert.is((await pay(w, reference, { amount: 2_000 })).action, 'ALLOW');
      const capped = await pay(w, reference, { amount: 1_500 });
      assert.equal([capped.action, capped.reason_codes], ['DENY', ['policy:daily_cap']]);
    } finally {
      await t.close();
    }
  });

  test("weekday and time of day on the authority's wall clock, across its midnight", async () => {
    // Monday 2026-11-30 04:30Z is still Sunday 23:30 in New York.
    const clock = new ManualClock('2026-11-30T04:30:00Z');
    const t = await startPolicyApp(kind, clock);
    try {
      const w = await makeWorld(t as unknown as TestApp);
      const agent = await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'night-owl' } });
      const authority = await t.call('POST', '/v1/authorities', {
        auth: w.enterprise,
        body: { agent_id: agent.body.id, currency: 'USD', time_zone: 'America/New_York', limits: {} },
      });
      assert.is(authority.status, 201, authority.text);
      const reference = `tok_${randomBytes(6).toString('hex')}`;
      const binding = await t.call('POST', '/v1/bindings', {
        auth: w.enterprise,
        body: {
          agent_id: agent.body.id,
          authority_id: authority.body.id,
          processor_id: w.processorId,
          credential: { type: 'network_token', reference },
        },
      });
      assert.is(binding.status, 201, binding.text);
      await activate(w, [
        rule('weekend', 1, { weekdays: ['sat', 'sun'] }, { type: 'deny', reason: 'weekend' }),
        rule('night', 2, { time_of_day: { from: '22:00', to: '06:00' } }, { type: 'require_approval' }),
      ]);
      assert.equal((await pay(w, reference)).reason_codes, ['policy:weekend'], 'Sunday 23:30 local');
      clock.set('2026-11-30T05:00:00Z');
      const night = await pay(w, reference);
      assert.equal([night.action, night.reason_codes], ['STEP_UP', ['policy:rule_requires_approval']], 'Monday 00:00');
      clock.set('2026-11-30T10:59:00Z');
      assert.is((await pay(w, reference)).action, 'STEP_UP', 'Monday 05:59');
      clock.set('2026-11-30T11:00:00Z');
      assert.is((await pay(w, reference)).action, 'ALLOW', 'Monday 06:00');
    } finally {
      await t.close();
    }
  });

  test('a rules revision is shadowed, replayed against past decisions, promoted and rolled back', async () => {
    const t = await startPolicyApp(kind);
    try {
      const w = await makeWorld(t as unknown as TestApp);
      const { reference } = await setupSpending(w);
      const gambling = merchant('mer_casino', '7995');
      for (const overrides of [gambling, gambling, {}]) assert.is((await pay(w, reference, overrides)).action, 'ALLOW');

      const first = await putRules(w, [rule('no_gambling', 1, { mcc: { in: ['7995'] } }, { type: 'deny' })]);
      const replay = await t.call('POST', `/v1/policies/${first}/replay`, { auth: w.enterprise, body: WINDOW });
      assert.is(replay.status, 200, replay.text);
      assert.is(replay.body.replayed, 3);
      assert.is(replay.body.changed, 2);
      assert.equal(replay.body.transitions, { 'ALLOW->DENY': 2 });
      assert.equal(replay.body.reasons, { 'policy:rule_denied': 2 });

      const sim = await t.call('POST', '/v1/simulate', {
        auth: w.enterprise,
        body: {
          type: 'authorization',
          processor_id: w.processorId,
          policy_revision: first,
          ...authorizeBody(reference, gambling),
        },
      });
      assert.is(sim.status, 200, sim.text);
      assert.equal(
        [sim.body.action, sim.body.reason_codes, sim.body.org_policy_revision],
        ['DENY', ['policy:rule_denied'], first],
      );

      const shadow = await t.call('POST', `/v1/policies/${first}/shadow`, { auth: w.enterprise });
      assert.is(shadow.status, 200, shadow.text);
      assert.is((await pay(w, reference, gambling)).action, 'ALLOW', 'a shadow never decides');
      await t.engine.policyAnalysis.flushShadow();
      const report = await t.call('GET', `/v1/policies/${first}/shadow-report`, { auth: w.enterprise });
      assert.is(report.body.evaluated, 1);
      assert.equal(report.body.transitions, { 'ALLOW->DENY': 1 });

      await t.call('POST', `/v1/policies/${first}/promote`, { auth: w.enterprise });
      assert.equal((await pay(w, reference, gambling)).reason_codes, ['policy:rule_denied']);
      const set = t.registry.forOrg(w.orgId);
      assert.is(set.org?.revision, first);
      assert.is(set.org?.source, undefined, 'an org revision does not keep its bytes in memory');
      const status = await t.call('GET', '/v1/policy-rules', { auth: w.enterprise });
      assert.is(status.body.status, 'active');

      const second = await activate(w, [rule('open', 1, {}, { type: 'allow' })]);
      assert.is.not(second, first);
      assert.is((await pay(w, reference, gambling)).action, 'ALLOW');
      const back = await t.call('POST', '/v1/policies/rollback', { auth: w.enterprise });
      assert.is(back.body.active_revision, first);
      assert.equal((await pay(w, reference, gambling)).reason_codes, ['policy:rule_denied'], 'the first rules again');
      const base = await t.call('POST', '/v1/policies/rollback', { auth: w.enterprise });
      assert.is(base.body.active_revision, null);
      const after = await pay(w, reference, gambling);
      assert.equal([after.action, after.org_policy_revision], ['ALLOW', null]);
    } finally {
      await t.close();
    }
  });

  test('rules_unsupported: a base without the rules module, an org that accepts only signed bundles', async () => {
    const t = await startPolicyApp(kind);
    try {
      const w = await makeWorld(t as unknown as TestApp);
      const rules = [rule('a', 1, {}, { type: 'deny' })];
      const { publicKey } = generateKeyPairSync('ed25519');
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      await t.call('PUT', '/v1/policy-signing-key', { auth: w.enterprise, body: { public_key: pem } });
      const signed = await t.call('PUT', '/v1/policy-rules', { auth: w.enterprise, body: { rules } });
      assert.is(signed.status, 409, signed.text);
      assert.is(signed.body.error.code, 'rules_unsupported');
      await t.call('PUT', '/v1/policy-signing-key', { auth: w.enterprise, body: { public_key: null } });
      assert.is((await t.call('PUT', '/v1/policy-rules', { auth: w.enterprise, body: { rules } })).status, 201);

      // A base the operator promoted in the store: rules are built over its module.
      const dir = await mkdtemp(join(tmpdir(), 'allowance-base-'));
      const { outFile } = await buildPolicyBundle({ outFile: join(dir, 'bundle.tar.gz'), revision: 'base-2' });
      const promotedBase = await t.call('POST', '/v1/base-policy', {
        auth: OPERATOR_CRED,
        raw: new Uint8Array(await readFile(outFile)),
        headers: { 'content-type': 'application/gzip' },
      });
      assert.is(promotedBase.status, 200, promotedBase.text);
      const overNew = await t.call('PUT', '/v1/policy-rules', { auth: w.enterprise, body: { rules } });
      assert.is(overNew.status, 201, overNew.text);
      assert.is(overNew.body.base_revision, 'base-2');

      const custom = await t.call('POST', '/v1/base-policy', {
        auth: OPERATOR_CRED,
        raw: await vendorPolicy('custom-base', []),
        headers: { 'content-type': 'application/gzip' },
      });
      assert.is(custom.status, 200, custom.text);
      const unsupported = await t.call('PUT', '/v1/policy-rules', { auth: w.enterprise, body: { rules } });
      assert.is(unsupported.status, 409, unsupported.text);
      assert.is(unsupported.body.error.code, 'rules_unsupported');
      assert.is(unsupported.body.error.details.base_revision, 'custom-base');
    } finally {
      await t.close();
    }
  });

  test.run();
}
