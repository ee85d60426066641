import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { redecide } from '../../src/engine/index.js';
import {
  buildRulesBundle,
  checkBundleUpload,
  loadPolicy,
  readPolicyBundle,
  rulesDocumentOf,
  smokeIntentInputs,
  smokeSpendInputs,
  supportsRules,
} from '../../src/policy/index.js';
import { defaultPolicy } from '../support/engine-fixture.js';
import { defaultBundle } from '../support/policy-bundle.js';
import { vendorPolicy } from '../support/policy-uploads.js';

const rulesBundle = suite('rules bundle');

const DENY_ALL = [{ id: 'all', priority: 0, is_active: true, conditions: {}, action: { type: 'deny' } }];

async function baseSource() {
  const base = await defaultPolicy();
  if (!base.source) throw new Error('the loaded base keeps no source');
  return base.source;
}

rulesBundle('the same rules over the same base are the same revision and bytes', async () => {
  const source = await baseSource();
  const a = await buildRulesBundle(source, DENY_ALL);
  const b = await buildRulesBundle(source, structuredClone(DENY_ALL));
  assert.match(a.revision, /^rules-[0-9a-f]{16}$/);
  assert.is(b.revision, a.revision);
  assert.equal(Buffer.from(b.bytes), Buffer.from(a.bytes));
  // Key order does not matter (canonical JSON); content does.
  const reordered = [{ action: { type: 'deny' }, conditions: {}, is_active: true, priority: 0, id: 'all' }];
  assert.is((await buildRulesBundle(source, reordered)).revision, a.revision);
  const other = await buildRulesBundle(source, [{ ...DENY_ALL[0], priority: 1 }]);
  assert.is.not(other.revision, a.revision);
});

rulesBundle('the bundle passes the upload checks and carries its rules and base revision', async () => {
  const source = await baseSource();
  const built = await buildRulesBundle(source, DENY_ALL);
  const checked = await checkBundleUpload(built.bytes, { maxUnpackedBytes: 80 * 1024 * 1024, signingKey: null });
  assert.is(checked.revision, built.revision);
  const doc = rulesDocumentOf(readPolicyBundle(built.bytes));
  assert.equal(doc, { base_revision: source.manifest.revision, rules: DENY_ALL });
  assert.is(rulesDocumentOf(readPolicyBundle(await defaultBundle())), null, 'the base bundle holds no rules');
});

rulesBundle('evaluated as an org layer: the rules decide payments, intents are left to the base', async () => {
  const built = await buildRulesBundle(await baseSource(), DENY_ALL);
  const policy = await loadPolicy(built.bytes);
  const spend = smokeSpendInputs()[0];
  const intent = smokeIntentInputs()[0];
  if (!spend || !intent) throw new Error('no smoke inputs');
  assert.equal(policy.evaluateSpend(spend), { action: 'DENY', reasons: ['rule_denied'] });
  assert.equal(policy.evaluateIntent(intent), { action: 'ALLOW', reasons: [] });
  const none = await loadPolicy((await buildRulesBundle(await baseSource(), [])).bytes);
  assert.equal(none.evaluateSpend(spend), { action: 'ALLOW', reasons: [] });
});

rulesBundle('supportsRules: the default base yes, a policy without its source or the rules module no', async () => {
  const base = await defaultPolicy();
  assert.is(await supportsRules(base), true);
  const { source: _source, ...withoutSource } = base;
  assert.is(await supportsRules(withoutSource), false);
  // A custom policy without the rules module: rules data changes nothing.
  assert.is(await supportsRules(await loadPolicy(await vendorPolicy('custom', []))), false);
});

rulesBundle('replay re-decides a stored input that predates local_time on the time it derives', async () => {
  const base = await defaultPolicy();
  const weekend = [
    { id: 'weekend', priority: 0, is_active: true, conditions: { weekdays: ['sun'] }, action: { type: 'deny' } },
  ];
  const candidate = await loadPolicy((await buildRulesBundle(await baseSource(), weekend)).bytes);
  const input = smokeSpendInputs()[0];
  if (!input) throw new Error('no smoke input');
  // Monday 04:30Z is still Sunday 23:30 in New York.
  const stored = {
    ...input,
    now: '2026-11-30T04:30:00.000Z',
    authority: { ...input.authority, time_zone: 'America/New_York' },
  };
  delete stored.local_time;
  const outcome = redecide({ base, candidate }, stored);
  assert.equal([outcome.action, outcome.reasons], ['DENY', ['policy:rule_denied']]);
  const monday = redecide({ base, candidate }, { ...stored, now: '2026-11-30T05:00:00.000Z' });
  assert.is(monday.action, 'ALLOW');
});

rulesBundle.run();
