import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { layerDecisions, orgReason } from '../../src/engine/layering.js';
import type { PolicyDecision } from '../../src/policy/index.js';

const layer = suite('layering: the most restrictive of base and org wins');

const allow: PolicyDecision = { action: 'ALLOW', reasons: [] };
const partial = (amount: number, reason: string): PolicyDecision => ({
  action: 'ALLOW_WITH_LIMITS',
  reasons: [reason],
  approved_amount: amount,
});
const stepUp = (reason: string): PolicyDecision => ({ action: 'STEP_UP', reasons: [reason] });
const deny = (reason: string): PolicyDecision => ({ action: 'DENY', reasons: [reason] });

layer('no org decision: the base stands', () => {
  assert.equal(layerDecisions(deny('mcc_blocked'), null), deny('mcc_blocked'));
});

layer('DENY > STEP_UP > ALLOW_WITH_LIMITS > ALLOW, whichever layer says it', () => {
  const ranks: PolicyDecision[] = [allow, partial(500, 'partially_approved'), stepUp('step_up_required'), deny('x')];
  for (let i = 0; i < ranks.length; i++) {
    for (let j = 0; j < ranks.length; j++) {
      const a = ranks[i] as PolicyDecision;
      const b = ranks[j] as PolicyDecision;
      const want = (i >= j ? a : b).action;
      assert.is(layerDecisions(a, b).action, want, `${a.action} + ${b.action}`);
    }
  }
});

layer('an org can never lift a base denial or step-up', () => {
  assert.equal(layerDecisions(deny('mcc_blocked'), allow), deny('mcc_blocked'));
  assert.equal(layerDecisions(stepUp('step_up_required'), partial(10, 'policy:x')), stepUp('step_up_required'));
});

layer('two partial approvals: the lower amount, reasons of both', () => {
  const out = layerDecisions(partial(800, 'partially_approved'), partial(300, 'policy:half'));
  assert.equal(out, {
    action: 'ALLOW_WITH_LIMITS',
    reasons: ['partially_approved', 'policy:half'],
    approved_amount: 300,
  });
  assert.is(layerDecisions(partial(200, 'partially_approved'), partial(300, 'policy:half')).approved_amount, 200);
});

layer('two denials: the reasons of both', () => {
  assert.equal(layerDecisions(deny('mcc_blocked'), deny('policy:no_vendor')).reasons, [
    'mcc_blocked',
    'policy:no_vendor',
  ]);
});

layer('org reason codes get the policy: prefix once', () => {
  assert.is(orgReason('no_vendor'), 'policy:no_vendor');
  assert.is(orgReason('policy:no_vendor'), 'policy:no_vendor');
});

layer.run();
