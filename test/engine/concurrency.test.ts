import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Decision } from '../../src/types.js';
import { makeFixture } from '../support/engine-fixture.js';

const race = suite('authorize under concurrency');

function sum(ds: Decision[]): number {
  return ds.reduce((acc, d) => acc + d.approved_amount, 0);
}

race('1,000 concurrent authorizations never overspend any window', async () => {
  const f = await makeFixture({
    authority: {
      limits: { per_transaction: null, daily: 123_457, weekly: 200_000, monthly: 300_000, total: 400_000 },
      velocity: { daily: 900 },
    },
  });
  const amounts = Array.from({ length: 1000 }, (_, i) => 100 + ((i * 7919) % 900));
  const results = await Promise.all(amounts.map((amount) => f.engine.authorize(f.processor.id, f.request({ amount }))));
  const approved = results.filter((d) => d.allowed);
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.ok(approved.length > 0 && approved.length < 1000);
  assert.ok(usage.windows.daily.spent <= 123_457, `daily ${usage.windows.daily.spent}`);
  assert.is(usage.windows.daily.spent, sum(approved));
  assert.is(usage.windows.total.spent, sum(approved));
  assert.is(usage.windows.daily.count, approved.length);
  for (const d of results.filter((r) => !r.allowed)) {
    assert.ok(
      d.reason_codes.every((c) => c === 'daily_limit_exceeded' || c === 'limit_exceeded_concurrent'),
      d.reason_codes.join(),
    );
  }
});

race('racing the snapshot: losers get limit_exceeded_concurrent', async () => {
  const f = await makeFixture({ authority: { limits: { daily: 10_000 } } });
  const results = await Promise.all(
    Array.from({ length: 50 }, () => f.engine.authorize(f.processor.id, f.request({ amount: 3000 }))),
  );
  assert.is(results.filter((d) => d.allowed).length, 3);
  assert.ok(results.some((d) => d.reason_codes.includes('limit_exceeded_concurrent')));
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 9000);
});

race('duplicate authorization ids mixed in: one decision and one hold per id', async () => {
  const f = await makeFixture({ authority: { limits: { daily: 50_000 } } });
  const unique = Array.from({ length: 250 }, (_, i) => f.request({ amount: 100 + (i % 50) * 10 }));
  const calls = [];
  for (let i = 0; i < 1000; i++) calls.push(unique[(i * 37) % unique.length] as Record<string, unknown>);
  const results = await Promise.all(calls.map((req) => f.engine.authorize(f.processor.id, { ...req })));
  const byId = new Map<string, Decision>();
  for (const d of results) {
    const seen = byId.get(d.authorization_id);
    if (seen) assert.equal(d, seen, 'every reply for one id is the same decision');
    else byId.set(d.authorization_id, d);
  }
  assert.is(byId.size, 250);
  const approved = [...byId.values()].filter((d) => d.allowed);
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.ok(usage.windows.daily.spent <= 50_000);
  assert.is(usage.windows.daily.spent, sum(approved));
  assert.is(usage.windows.daily.count, approved.length);
});

race('partial approvals under concurrency stay within the limit', async () => {
  const f = await makeFixture({ authority: { limits: { daily: 10_000 }, partial_approval: true } });
  const results = await Promise.all(
    Array.from({ length: 40 }, () =>
      f.engine.authorize(f.processor.id, f.request({ amount: 700, partial_approval_supported: true })),
    ),
  );
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.ok(usage.windows.daily.spent <= 10_000);
  assert.is(usage.windows.daily.spent, sum(results.filter((d) => d.allowed)));
});

race.run();
