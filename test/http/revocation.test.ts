import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryStores } from '../../adapters/memory/index.js';
import { generateSigningKey } from '../../src/crypto/index.js';
import { AgentTokens } from '../../src/http/auth/agent-tokens.js';
import type { CredentialStorage, TokenRevocation } from '../../src/storage/index.js';
import { makeWorld, setupSpending, startTestApp, type TestApp, type World } from '../support/http-app.js';

const s = suite('agent-token revocation across tenants and servers');

/** Two apps (two servers) on one memory credential storage, with the same signing and master keys. */
let a: TestApp;
let b: TestApp;
let acme: World;
let globex: World;
let sharedCredentials: CredentialStorage;

s.before(async () => {
  const shared = createMemoryStores();
  sharedCredentials = shared.credentials;
  const signingKeys = [generateSigningKey()];
  const masterKey = randomBytes(32);
  // The periodic refresh is left far off: the tests await refresh() themselves.
  const common = { credentials: shared.credentials, signingKeys, masterKey, revocationRefreshMs: 3_600_000 };
  a = await startTestApp(common, shared.store);
  b = await startTestApp(common, shared.store);
  acme = await makeWorld(a, 'Acme');
  globex = await makeWorld(a, 'Globex');
});
s.after(async () => {
  await a.close();
  await b.close();
});

async function issue(w: World, agentId: string): Promise<{ token: string; jti: string }> {
  const res = await w.t.call('POST', '/v1/tokens', {
    auth: w.enterprise,
    body: { agent_id: agentId, scope: ['payments:create'], target_service: 'shop.example' },
  });
  assert.is(res.status, 201, res.text);
  return res.body;
}

async function verifyOn(t: TestApp, token: string): Promise<{ valid: boolean; reason?: string }> {
  const res = await t.call('POST', '/v1/tokens/verify', { body: { token } });
  assert.is(res.status, 200, res.text);
  return res.body;
}

s("another org's jti with the caller's own agent is 404 and the token still verifies everywhere", async () => {
  const victimAgent = (await setupSpending(acme)).agentId;
  const attackerAgent = (await setupSpending(globex)).agentId;
  const victim = await issue(acme, victimAgent);
  const attack = await a.call('POST', '/v1/tokens/revoke', {
    auth: globex.enterprise,
    body: { jti: victim.jti, agent_id: attackerAgent },
  });
  assert.is(attack.status, 404, attack.text);
  assert.is(attack.body.error.code, 'not_found');
  // With the victim's agent id too (unknown to the attacker's org): 404.
  const withVictimAgent = await a.call('POST', '/v1/tokens/revoke', {
    auth: globex.enterprise,
    body: { jti: victim.jti, agent_id: victimAgent },
  });
  assert.is(withVictimAgent.status, 404);
  await b.app.services.agentTokens.refresh();
  assert.is((await verifyOn(a, victim.token)).valid, true);
  assert.is((await verifyOn(b, victim.token)).valid, true);
  // Nothing was recorded for the attacker's org either.
  const recorded = await sharedCredentials.listRevokedTokens(0);
  assert.not.ok(recorded.some((r) => r.jti === victim.jti));
});

s('a jti of the org revoked with another of its agents is 404; with its own agent it is revoked', async () => {
  const agent = (await setupSpending(acme)).agentId;
  const other = (await setupSpending(acme)).agentId;
  const tok = await issue(acme, agent);
  const wrongAgent = await a.call('POST', '/v1/tokens/revoke', {
    auth: acme.enterprise,
    body: { jti: tok.jti, agent_id: other },
  });
  assert.is(wrongAgent.status, 404);
  const unknown = await a.call('POST', '/v1/tokens/revoke', {
    auth: acme.enterprise,
    body: { jti: 'jti_never_issued', agent_id: agent },
  });
  assert.is(unknown.status, 404);
  assert.is((await verifyOn(a, tok.token)).valid, true);
  const ok = await a.call('POST', '/v1/tokens/revoke', {
    auth: acme.enterprise,
    body: { jti: tok.jti, agent_id: agent },
  });
  assert.is(ok.status, 200, ok.text);
  assert.is((await verifyOn(a, tok.token)).reason, 'revoked');
});

s('a revocation on server A is seen by server B after B refreshes (pulled by seq)', async () => {
  const agent = (await setupSpending(acme)).agentId;
  const one = await issue(acme, agent);
  const two = await issue(acme, agent);
  await b.app.services.agentTokens.refresh();
  assert.is((await verifyOn(b, one.token)).valid, true);
  const before = b.app.services.agentTokens.revocationCursor;
  const res = await a.call('POST', '/v1/tokens/revoke', {
    auth: acme.enterprise,
    body: { jti: one.jti, agent_id: agent },
  });
  assert.is(res.status, 200, res.text);
  assert.is((await verifyOn(b, one.token)).valid, true, 'B has not pulled yet');
  await b.app.services.agentTokens.refresh();
  assert.ok(b.app.services.agentTokens.revocationCursor > before);
  assert.is((await verifyOn(b, one.token)).reason, 'revoked');
  assert.is((await verifyOn(b, two.token)).valid, true);
  // Agent-wide revocation travels the same way.
  const all = await a.call('POST', '/v1/tokens/revoke', { auth: acme.enterprise, body: { agent_id: agent } });
  assert.is(all.status, 200);
  await b.app.services.agentTokens.refresh();
  assert.is((await verifyOn(b, two.token)).reason, 'agent_revoked');
});

s.run();

/** A storage that lists what the test puts in `visible`, as a store with a concurrent, slower writer would. */
function listingStorage(visible: TokenRevocation[]): CredentialStorage {
  return {
    listRevokedTokens: async (after: number) =>
      visible.filter((r) => (r.seq as number) > after).sort((x, y) => (x.seq as number) - (y.seq as number)),
  } as unknown as CredentialStorage;
}

const gaps = suite('revocation pull: skipped seqs');

function revocation(seq: number, jti: string): TokenRevocation {
  return {
    jti,
    agent_id: 'agt_1',
    org_id: 'org_1',
    exp: new Date(Date.now() + 3_600_000).toISOString(),
    revoked_at: new Date().toISOString(),
    seq,
  };
}

gaps(
  'a seq that becomes visible after a higher one is still applied; a gap is given up only after the wait',
  async () => {
    const visible = [revocation(1, 'jti_1'), revocation(3, 'jti_3')];
    let mono = 0;
    const tokens = new AgentTokens(
      {} as never,
      listingStorage(visible),
      { now: () => Date.now() },
      {
        gapWaitMs: 1_000,
        monotonic: () => mono,
      },
    );
    await tokens.refresh();
    assert.is(tokens.revocationCursor, 1, 'the cursor stops below the gap at 2');
    // The slower writer's entry 2 lands; a pull from seq 1 on sees it.
    visible.push(revocation(2, 'jti_2'));
    mono = 500;
    await tokens.refresh();
    assert.is(tokens.revocationCursor, 3);
    const internal = tokens as unknown as { revokedJti: Map<string, number> };
    assert.ok(internal.revokedJti.has('org_1\u0000jti_2'));
    // A seq that never comes (a failed write) holds the cursor only for the wait.
    visible.push(revocation(5, 'jti_5'));
    await tokens.refresh();
    assert.is(tokens.revocationCursor, 3);
    mono = 1_499;
    await tokens.refresh();
    assert.is(tokens.revocationCursor, 3);
    mono = 1_500;
    await tokens.refresh();
    assert.is(tokens.revocationCursor, 5);
  },
);

gaps('a refresh asked for while a failing one runs still pulls', async () => {
  let calls = 0;
  let fail: (err: Error) => void = () => {};
  let firstCalled: () => void = () => {};
  const firstStarted = new Promise<void>((resolve) => (firstCalled = resolve));
  const storage = {
    listRevokedTokens: (after: number) => {
      calls += 1;
      if (calls === 1) {
        firstCalled();
        return new Promise((_, reject) => (fail = reject));
      }
      return Promise.resolve([revocation(1, 'jti_1')].filter((r) => (r.seq as number) > after));
    },
  } as unknown as CredentialStorage;
  const tokens = new AgentTokens({} as never, storage, { now: () => Date.now() });
  const first = tokens.refresh();
  const second = tokens.refresh();
  await firstStarted;
  fail(new Error('store down'));
  await first.then(
    () => assert.unreachable('the first pull failed'),
    () => {},
  );
  await second;
  assert.is(calls, 2);
  assert.is(tokens.revocationCursor, 1);
});

gaps.run();
