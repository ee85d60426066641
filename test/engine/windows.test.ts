import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isoWeek, localTimeAt, periodsAt, withLocalTime } from '../../src/engine/index.js';
import { smokeSpendInputs } from '../../src/policy/index.js';
import { makeFixture } from '../support/engine-fixture.js';

const periods = suite('calendar periods');

periods('ISO weeks at year edges', () => {
  assert.is(isoWeek(2026, 1, 1), '2026-W01');
  assert.is(isoWeek(2027, 1, 1), '2026-W53');
  assert.is(isoWeek(2024, 12, 30), '2025-W01');
  assert.is(isoWeek(2026, 11, 23), '2026-W48');
  assert.is(isoWeek(2026, 11, 22), '2026-W47');
});

periods('local dates in a zone west of UTC', () => {
  // 2026-11-23 04:59Z is still Sunday 22nd 23:59 in New York (UTC-5).
  const before = periodsAt(Date.parse('2026-11-23T04:59:59.999Z'), 'America/New_York');
  const after = periodsAt(Date.parse('2026-11-23T05:00:00.000Z'), 'America/New_York');
  assert.equal(before, { daily: '2026-11-22', weekly: '2026-W47', monthly: '2026-11', total: 'all' });
  assert.equal(after, { daily: '2026-11-23', weekly: '2026-W48', monthly: '2026-11', total: 'all' });
});

periods('month and DST edges in a zone east of UTC', () => {
  // Tokyo is UTC+9: 2026-11-30T15:00Z is 1 December 00:00 local.
  assert.is(periodsAt(Date.parse('2026-11-30T14:59:59.999Z'), 'Asia/Tokyo').monthly, '2026-11');
  assert.is(periodsAt(Date.parse('2026-11-30T15:00:00.000Z'), 'Asia/Tokyo').monthly, '2026-12');
  // Europe/Berlin leaves DST on 2026-10-25: local midnight of the 26th is 23:00Z on the 25th.
  assert.is(periodsAt(Date.parse('2026-10-25T22:59:59.999Z'), 'Europe/Berlin').daily, '2026-10-25');
  assert.is(periodsAt(Date.parse('2026-10-25T23:00:00.000Z'), 'Europe/Berlin').daily, '2026-10-26');
});

periods('local weekday and minute of day in the authority time zone', () => {
  // 2026-11-30 is a Monday in UTC; 04:59Z is still Sunday 23:59 in New York.
  assert.equal(localTimeAt(Date.parse('2026-11-30T04:59:59.999Z'), 'America/New_York'), {
    weekday: 7,
    minute_of_day: 1439,
  });
  assert.equal(localTimeAt(Date.parse('2026-11-30T05:00:00.000Z'), 'America/New_York'), {
    weekday: 1,
    minute_of_day: 0,
  });
  assert.equal(localTimeAt(Date.parse('2026-11-30T15:00:00.000Z'), 'Asia/Tokyo'), { weekday: 2, minute_of_day: 0 });
  assert.equal(localTimeAt(Date.parse('2026-11-30T12:34:00.000Z'), 'UTC'), { weekday: 1, minute_of_day: 754 });
});

periods('local time across daylight saving changes is the wall clock', () => {
  // New York springs forward on 2026-03-08 at 02:00 local (07:00Z): 02:00-02:59 never occurs.
  assert.is(localTimeAt(Date.parse('2026-03-08T06:59:00.000Z'), 'America/New_York').minute_of_day, 119);
  assert.is(localTimeAt(Date.parse('2026-03-08T07:00:00.000Z'), 'America/New_York').minute_of_day, 180);
  // It falls back on 2026-11-01 at 02:00 local: 01:30 occurs twice, an hour apart.
  assert.is(localTimeAt(Date.parse('2026-11-01T05:30:00.000Z'), 'America/New_York').minute_of_day, 90);
  assert.is(localTimeAt(Date.parse('2026-11-01T06:30:00.000Z'), 'America/New_York').minute_of_day, 90);
});

periods('a stored input without local_time gets it from now and the authority time zone', () => {
  const input = smokeSpendInputs()[0];
  if (!input) throw new Error('no smoke input');
  const stored = {
    ...input,
    now: '2026-11-30T04:30:00.000Z',
    authority: { ...input.authority, time_zone: 'America/New_York' },
  };
  delete stored.local_time;
  assert.equal(withLocalTime(stored).local_time, { weekday: 7, minute_of_day: 1410 });
  const kept = { ...stored, local_time: { weekday: 3, minute_of_day: 5 } };
  assert.is(withLocalTime(kept), kept, 'an input with local_time is unchanged');
  const unknownZone = { ...stored, authority: { ...stored.authority, time_zone: 'Nowhere/Else' } };
  assert.is(withLocalTime(unknownZone).local_time, undefined);
});

periods.run();

// ---

const rollover = suite('usage windows roll over in the authority time zone');

rollover('daily limit resets at local midnight, weekly on Monday, monthly on the 1st', async () => {
  const f = await makeFixture({
    now: '2026-11-29T22:00:00.000Z', // Sunday 29 Nov, 17:00 in New York
    authority: {
      time_zone: 'America/New_York',
      limits: { per_transaction: null, daily: 1000, weekly: 2500, monthly: 3500, total: null },
    },
  });
  const buy = (amount: number) => f.engine.authorize(f.processor.id, f.request({ amount }));
  assert.is((await buy(1000)).action, 'ALLOW');
  assert.equal((await buy(1)).reason_codes, ['daily_limit_exceeded']);
  f.clock.set('2026-11-30T04:59:59.999Z'); // still Sunday in New York
  assert.equal((await buy(1)).reason_codes, ['daily_limit_exceeded']);
  f.clock.set('2026-11-30T05:00:00.000Z'); // Monday 00:00 local: new day and new ISO week
  let usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.equal([usage.windows.daily.period, usage.windows.daily.spent], ['2026-11-30', 0]);
  assert.equal([usage.windows.weekly.period, usage.windows.weekly.spent], ['2026-W49', 0]);
  assert.equal([usage.windows.monthly.period, usage.windows.monthly.spent], ['2026-11', 1000]);
  assert.is((await buy(1000)).action, 'ALLOW');
  f.clock.set('2026-12-01T04:59:00.000Z'); // Monday 23:59 local, still November
  assert.equal((await buy(1000)).reason_codes, ['daily_limit_exceeded']);
  f.clock.set('2026-12-01T05:00:00.000Z'); // Tuesday 1 December local
  assert.is((await buy(1000)).action, 'ALLOW');
  usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.equal([usage.windows.monthly.period, usage.windows.monthly.spent], ['2026-12', 1000]);
  assert.equal([usage.windows.weekly.period, usage.windows.weekly.spent], ['2026-W49', 2000]);
  f.clock.set('2026-12-02T05:00:00.000Z');
  assert.equal((await buy(600)).reason_codes, ['weekly_limit_exceeded']);
  assert.is((await buy(500)).action, 'ALLOW');
});

rollover('a reversal after the day rolled gives back only the windows still current', async () => {
  const f = await makeFixture({ authority: { limits: { daily: 5000, total: 100_000 } } });
  const req = f.request({ amount: 4000 });
  await f.engine.authorize(f.processor.id, req);
  f.clock.set('2026-11-24T10:00:00.000Z');
  await f.engine.authorize(f.processor.id, f.request({ amount: 3000 }));
  await f.engine.reverse(f.processor.id, req.authorization_id as string);
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 3000, "today's window keeps today's spend");
  assert.is(usage.windows.total.spent, 3000);
  assert.is(usage.windows.weekly.spent, 3000);
});

rollover('an unknown time zone is refused at creation', async () => {
  const f = await makeFixture();
  const err = await f.engine
    .createAuthority(f.org.id, { agent_id: f.agent.id, currency: 'USD', time_zone: 'Mars/Olympus' })
    .catch((e) => e);
  assert.is(err.code, 'validation_failed');
  assert.is(err.details[0].path, '/time_zone');
});

rollover.run();
