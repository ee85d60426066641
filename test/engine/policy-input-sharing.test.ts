import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import type { SpendPolicyInput } from '../../src/policy/index.js';
import { makeFixture } from '../support/engine-fixture.js';

const sharing = suite('stored policy inputs share one snapshot per entity version');

sharing(
  'decisions on one version reference the same agent, authority and binding; a change starts another',
  async () => {
    const store = new MemoryAdapter();
    const f = await makeFixture({ store });
    const a = await f.engine.authorize(f.processor.id, f.request());
    const b = await f.engine.authorize(f.processor.id, f.request());
    const first = store.inspectAuthorization(f.processor.id, a.authorization_id)?.policy_input as
      | SpendPolicyInput
      | null
      | undefined;
    const second = store.inspectAuthorization(f.processor.id, b.authorization_id)?.policy_input as
      | SpendPolicyInput
      | null
      | undefined;
    assert.ok(first && second);
    assert.ok(first.agent === second.agent, 'one agent snapshot');
    assert.ok(first.authority === second.authority, 'one authority snapshot');
    assert.ok(first.binding === second.binding, 'one binding snapshot');
    assert.ok(Object.isFrozen(first.authority) && Object.isFrozen(first.authority.limits));
    assert.is(first.authority.limits.daily, 100_000);

    const changed = await f.engine.updateAuthority(f.org.id, f.authority.id, {
      limits: { per_transaction: 50_000, daily: 90_000, weekly: 300_000, monthly: 1_000_000, total: 5_000_000 },
    });
    const c = await f.engine.authorize(f.processor.id, f.request());
    const third = store.inspectAuthorization(f.processor.id, c.authorization_id)?.policy_input as
      | SpendPolicyInput
      | null
      | undefined;
    assert.ok(third);
    assert.ok(third.authority !== first.authority, 'a new version, a new snapshot');
    assert.is(third.authority.version, changed.version);
    assert.is(third.authority.limits.daily, 90_000);
    // The earlier records still hold the input they were decided on.
    assert.is(first.authority.limits.daily, 100_000);
    assert.is(first.authority.version, f.authority.version);
    assert.ok(third.agent === first.agent, 'the agent did not change');
  },
);

sharing.run();
