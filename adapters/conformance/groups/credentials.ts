import * as assert from 'node:assert/strict';
import type { ApiCredential, CredentialStorage, TokenRevocation } from '../../../src/storage/index.js';
import { StorageError } from '../../../src/storage/index.js';
import { countOf, inParallel, rejectsWith, tryMutate } from '../assertions.js';
import { makeCredential, makeRevocation, orderedId } from '../fixtures.js';
import type { ConformanceGroup, ConformanceTarget } from '../types.js';

/** The target's credential storage; the runner only runs this group when there is one. */
function storageOf(target: ConformanceTarget): CredentialStorage {
  if (!target.credentials) throw new Error('the credentials group needs target.credentials');
  return target.credentials;
}

/** An RFC 3339 time `offsetMs` from the real clock (revocations expire against the storage's clock). */
function fromNow(offsetMs: number): string {
  return new Date(Date.now() + offsetMs).toISOString();
}

async function listAll(storage: CredentialStorage, ownerId: string, limit: number, status?: string) {
  const keys: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const query = { limit, ...(status === undefined ? {} : { status }), ...(cursor === undefined ? {} : { cursor }) };
    const page = await storage.listCredentials(ownerId, query);
    assert.ok(page.items.length <= limit, 'page longer than limit');
    for (const c of page.items) {
      assert.strictEqual(c.owner_id, ownerId, 'another owner’s credential listed');
      if (status !== undefined) assert.strictEqual(c.status, status);
      keys.push(c.key_id);
    }
    if (page.next_cursor === null) return keys;
    assert.ok(page.items.length > 0, 'empty page with a cursor');
    cursor = page.next_cursor;
  }
  throw new Error('credential pagination did not end');
}

/** API credentials and agent-token revocations (CredentialStorage). */
export const credentialsGroup: ConformanceGroup = (g) => {
  g.it('credentials: inserted ones read back equal, a miss is null, results are copies', async (t) => {
    const storage = storageOf(t);
    const org = orderedId('org');
    const enterprise = makeCredential(org, { last_used_at: fromNow(0) });
    const processor = makeCredential(orderedId('prc'), { role: 'processor', name: null });
    const operator = makeCredential(null);
    for (const c of [enterprise, processor, operator]) await storage.insertCredential(c);
    assert.deepStrictEqual(await storage.getCredential(enterprise.key_id), enterprise);
    assert.deepStrictEqual(await storage.getCredential(processor.key_id), processor);
    assert.deepStrictEqual(await storage.getCredential(operator.key_id), operator);
    assert.strictEqual(await storage.getCredential('key_missing'), null);
    const read = (await storage.getCredential(enterprise.key_id)) as ApiCredential;
    assert.strictEqual(typeof read.version, 'number');
    tryMutate(read);
    assert.deepStrictEqual(await storage.getCredential(enterprise.key_id), enterprise);
  });

  g.it(
    "credentials: readCredential returns the credential with the store's clock; rotation fields round-trip",
    async (t) => {
      const storage = storageOf(t);
      const stored = makeCredential(orderedId('org'), { api_key_auth: true });
      await storage.insertCredential(stored);
      assert.strictEqual(await storage.readCredential('key_missing'), null);
      const before = Date.now();
      const read = await storage.readCredential(stored.key_id);
      const after = Date.now();
      assert.ok(read, 'readCredential found nothing');
      assert.deepStrictEqual(read.credential, stored);
      // Every adapter of this suite runs its store on this machine: its clock is this one's, give or take.
      assert.ok(Number.isFinite(read.storeTimeMs), 'storeTimeMs is not a number');
      assert.ok(read.storeTimeMs >= before - 60_000 && read.storeTimeMs <= after + 60_000, `${read.storeTimeMs}`);
      const patch = {
        secret_sha256: 'c'.repeat(64),
        previous_secret_sha256: stored.secret_sha256,
        previous_secret_ciphertext: stored.secret_ciphertext,
        previous_secret_expires_at: fromNow(60_000),
        rotated_at: fromNow(0),
      };
      const updated = await storage.updateCredential(stored.key_id, stored.version, patch);
      assert.deepStrictEqual(updated, { ...stored, ...patch, version: stored.version + 1 });
      assert.deepStrictEqual((await storage.readCredential(stored.key_id))?.credential, updated);
    },
  );

  g.it('credentials: a taken key id is a conflict and keeps the first', async (t) => {
    const storage = storageOf(t);
    const first = makeCredential(orderedId('org'));
    await storage.insertCredential(first);
    await rejectsWith(
      storage.insertCredential({ ...first, owner_id: orderedId('org'), name: 'second' }),
      'conflict',
      'insertCredential twice',
    );
    assert.deepStrictEqual(await storage.getCredential(first.key_id), first);
  });

  g.it('credentials: an owner’s list is newest first, paged, filtered by status, and no one else’s', async (t) => {
    const storage = storageOf(t);
    const owner = orderedId('org');
    const other = orderedId('org');
    const keys: string[] = [];
    for (let i = 0; i < 7; i++) {
      const c = makeCredential(owner, { status: i % 3 === 0 ? 'revoked' : 'active' });
      await storage.insertCredential(c);
      keys.push(c.key_id);
      await storage.insertCredential(makeCredential(other));
    }
    const newestFirst = [...keys].reverse();
    const first = await storage.listCredentials(owner, { limit: 3 });
    assert.deepStrictEqual(
      first.items.map((c) => c.key_id),
      newestFirst.slice(0, 3),
    );
    assert.ok(first.next_cursor !== null);
    for (const limit of [1, 3, 7, 100]) assert.deepStrictEqual(await listAll(storage, owner, limit), newestFirst);
    const active = newestFirst.filter((_, i) => (keys.length - 1 - i) % 3 !== 0);
    assert.deepStrictEqual(await listAll(storage, owner, 2, 'active'), active);
    assert.deepStrictEqual(await listAll(storage, owner, 2, 'revoked'), [keys[6], keys[3], keys[0]]);
    const exact = await storage.listCredentials(owner, { limit: 7 });
    assert.strictEqual(exact.items.length, 7);
    assert.strictEqual(exact.next_cursor, null);
    assert.deepStrictEqual(await storage.listCredentials(orderedId('org'), { limit: 5 }), {
      items: [],
      next_cursor: null,
    });
  });

  g.it('credentials: update is a compare-and-set on version; a miss is null', async (t) => {
    const storage = storageOf(t);
    const c = makeCredential(orderedId('org'));
    await storage.insertCredential(c);
    const usedAt = fromNow(0);
    const used = await storage.updateCredential(c.key_id, 0, { last_used_at: usedAt });
    assert.deepStrictEqual(used, { ...c, last_used_at: usedAt, version: 1 });
    await rejectsWith(storage.updateCredential(c.key_id, 0, { status: 'revoked' }), 'conflict', 'stale version');
    assert.deepStrictEqual(await storage.getCredential(c.key_id), used);
    const revokedAt = fromNow(1000);
    const revoked = await storage.updateCredential(c.key_id, 1, {
      key_id: 'key_other',
      version: 40,
      status: 'revoked',
      revoked_at: revokedAt,
    });
    assert.deepStrictEqual(revoked, {
      ...c,
      last_used_at: usedAt,
      status: 'revoked',
      revoked_at: revokedAt,
      version: 2,
    });
    assert.deepStrictEqual(await storage.getCredential(c.key_id), revoked);
    assert.strictEqual(await storage.getCredential('key_other'), null);
    assert.strictEqual(await storage.updateCredential('key_missing', 0, { status: 'revoked' }), null);
  });

  g.it('credentials: of concurrent updates from one version exactly one wins', async (t) => {
    const storage = storageOf(t);
    const c = makeCredential(orderedId('org'));
    await storage.insertCredential(c);
    const outcomes = await inParallel(Math.min(g.concurrency, 50), (i) =>
      storage.updateCredential(c.key_id, 0, { name: `n${i}` }).then(
        () => 'won',
        (err) => (err instanceof StorageError && err.code === 'conflict' ? 'conflict' : String(err)),
      ),
    );
    assert.strictEqual(countOf(outcomes, 'won'), 1);
    assert.strictEqual(countOf(outcomes, 'conflict'), outcomes.length - 1);
    assert.strictEqual((await storage.getCredential(c.key_id))?.version, 1);
  });

  g.it(
    'revocations: numbered by the store in insertion order, listed after a seq, while their exp is ahead',
    async (t) => {
      const storage = storageOf(t);
      const live = fromNow(3_600_000);
      const before = await storage.listRevokedTokens(0);
      const base = before.reduce((m, r) => Math.max(m, r.seq as number), 0);
      const r1 = makeRevocation(fromNow(-30_000), live);
      const r2 = makeRevocation(fromNow(-20_000), live);
      // Recorded after r2 with an earlier revoked_at: the seq, not the time, orders them.
      const agentWide = makeRevocation(fromNow(-40_000), live, { jti: null });
      const expired = makeRevocation(fromNow(-15_000), fromNow(-1_000));
      for (const r of [r1, r2, expired, agentWide]) await storage.insertRevokedToken(r);
      const mine = (list: TokenRevocation[]) =>
        list.filter((r) => [r1, r2, agentWide, expired].some((x) => x.agent_id === r.agent_id));
      const listed = mine(await storage.listRevokedTokens(base));
      assert.deepStrictEqual(
        listed.map(({ seq: _s, ...r }) => r),
        [r1, r2, agentWide],
      );
      const seqs = listed.map((r) => r.seq as number);
      assert.ok(
        seqs.every((seq, i) => Number.isSafeInteger(seq) && seq > base && (i === 0 || seq > (seqs[i - 1] as number))),
        `seqs ascend: ${seqs}`,
      );
      const after = mine(await storage.listRevokedTokens(seqs[0] as number));
      assert.deepStrictEqual(
        after.map((r) => r.agent_id),
        [r2.agent_id, agentWide.agent_id],
      );
      assert.deepStrictEqual(mine(await storage.listRevokedTokens(seqs[2] as number)), []);
    },
  );

  g.it('revocations: concurrent writers get distinct seqs', async (t) => {
    const storage = storageOf(t);
    const live = fromNow(3_600_000);
    const n = Math.min(g.concurrency, 20);
    const rs = Array.from({ length: n }, () => makeRevocation(fromNow(0), live));
    await inParallel(n, (i) => storage.insertRevokedToken(rs[i] as TokenRevocation));
    const listed = (await storage.listRevokedTokens(0)).filter((r) => rs.some((x) => x.jti === r.jti));
    assert.strictEqual(listed.length, n);
    assert.strictEqual(new Set(listed.map((r) => r.seq)).size, n);
  });

  g.it('revocations: recording one again is harmless; the same jti of two orgs is two revocations', async (t) => {
    const storage = storageOf(t);
    const live = fromNow(3_600_000);
    const at = fromNow(-5_000);
    const token = makeRevocation(at, live);
    const sameJtiOtherOrg = makeRevocation(at, live, { jti: token.jti, org_id: orderedId('org') });
    const orgId = orderedId('org');
    const agentA: TokenRevocation = makeRevocation(at, live, { jti: null, org_id: orgId });
    const agentB: TokenRevocation = makeRevocation(at, live, { jti: null, org_id: orgId });
    for (const r of [token, token, agentA, agentB, agentA, sameJtiOtherOrg]) await storage.insertRevokedToken(r);
    const listed = await storage.listRevokedTokens(0);
    for (const r of [token, agentA, agentB, sameJtiOtherOrg]) {
      const copies = listed.filter((x) => x.agent_id === r.agent_id);
      assert.strictEqual(copies.length, 1, `revocation of ${r.agent_id} listed once`);
      const { seq: _s, ...copy } = copies[0] as TokenRevocation;
      assert.deepStrictEqual(copy, r);
    }
  });

  g.it('issued tokens: found by (org, jti) only, recorded once, forgotten after exp', async (t) => {
    const storage = storageOf(t);
    const orgId = orderedId('org');
    const token = {
      jti: orderedId('jti'),
      org_id: orgId,
      agent_id: orderedId('agt'),
      exp: fromNow(3_600_000),
      issued_at: fromNow(0),
    };
    await storage.insertIssuedToken(token);
    await storage.insertIssuedToken({ ...token, agent_id: orderedId('agt') });
    assert.deepStrictEqual(await storage.getIssuedToken(orgId, token.jti), token);
    assert.strictEqual(await storage.getIssuedToken(orderedId('org'), token.jti), null);
    assert.strictEqual(await storage.getIssuedToken(orgId, orderedId('jti')), null);
    const expired = { ...token, jti: orderedId('jti'), exp: fromNow(-1_000) };
    await storage.insertIssuedToken(expired);
    assert.strictEqual(await storage.getIssuedToken(orgId, expired.jti), null);
  });
};
