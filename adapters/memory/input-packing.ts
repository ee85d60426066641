import { deepFreeze } from './freeze.js';

/**
 * The spend policy input of a stored authorization, packed: one object of the per-request values (the
 * request, the usage windows, the local time) beside references to what inputs share (the frozen agent,
 * authority and binding projections, the merchant, the intent), instead of eight small objects per
 * decision. {@link unpackInput} rebuilds the exact input: the same keys in the same order, the same values.
 * An input of any other shape (another version, a field more or less, another key order) is kept as it is.
 */
export class PackedInput {
  constructor(
    readonly now: unknown,
    readonly weekday: unknown,
    readonly minuteOfDay: unknown,
    readonly orgId: unknown,
    readonly authorizationId: unknown,
    readonly processorId: unknown,
    readonly amount: unknown,
    readonly currency: unknown,
    readonly merchant: unknown,
    readonly channel: unknown,
    readonly intentId: unknown,
    readonly partialApprovalSupported: unknown,
    readonly agent: unknown,
    readonly authority: unknown,
    readonly binding: unknown,
    readonly dailyPeriod: unknown,
    readonly dailySpent: unknown,
    readonly dailyCount: unknown,
    readonly weeklyPeriod: unknown,
    readonly weeklySpent: unknown,
    readonly weeklyCount: unknown,
    readonly monthlyPeriod: unknown,
    readonly monthlySpent: unknown,
    readonly monthlyCount: unknown,
    readonly totalPeriod: unknown,
    readonly totalSpent: unknown,
    readonly totalCount: unknown,
    readonly intent: unknown,
  ) {}
}

const INPUT_KEYS = [
  'version',
  'now',
  'local_time',
  'org',
  'request',
  'agent',
  'authority',
  'binding',
  'usage',
  'intent',
];
const LOCAL_TIME_KEYS = ['weekday', 'minute_of_day'];
const ORG_KEYS = ['id'];
const REQUEST_KEYS = [
  'authorization_id',
  'processor_id',
  'amount',
  'currency',
  'merchant',
  'channel',
  'intent_id',
  'partial_approval_supported',
];
const USAGE_KEYS = ['daily', 'weekly', 'monthly', 'total'];
const WINDOW_KEYS = ['period', 'spent', 'count'];

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** True when `v` is a plain object whose own keys are exactly `keys`, in that order (nothing allocated). */
function hasKeys(v: unknown, keys: readonly string[]): v is Obj {
  if (!isObject(v) || Object.getPrototypeOf(v) !== Object.prototype) return false;
  let i = 0;
  for (const key in v) if (key !== keys[i++]) return false;
  return i === keys.length;
}

/**
 * The packing of a policy input, or null when it is not a spend input of the known shape. `share`: strings
 * of the record equal to the input's (its creation time as `now`, its ids) are kept once.
 */
export function packInput(input: unknown, share: { created_at: string }): PackedInput | null {
  if (input === lastInput && lastPacked !== null) return lastPacked;
  const packed = packOnce(input, share);
  lastInput = input;
  lastPacked = packed;
  return packed;
}

/**
 * The last input packed and its packing: an input is stored with its claim and again with its decision,
 * and packed once (it is the input the policy evaluated; what the packing keeps is frozen).
 */
let lastInput: unknown = null;
let lastPacked: PackedInput | null = null;

function packOnce(input: unknown, share: { created_at: string }): PackedInput | null {
  if (!hasKeys(input, INPUT_KEYS) || input.version !== '1') return null;
  const { local_time: lt, org, request: r, usage: u } = input;
  if (!hasKeys(lt, LOCAL_TIME_KEYS) || !hasKeys(org, ORG_KEYS) || !hasKeys(r, REQUEST_KEYS)) return null;
  if (!hasKeys(u, USAGE_KEYS)) return null;
  const { daily: d, weekly: w, monthly: m, total: t } = u;
  if (!hasKeys(d, WINDOW_KEYS) || !hasKeys(w, WINDOW_KEYS) || !hasKeys(m, WINDOW_KEYS) || !hasKeys(t, WINDOW_KEYS))
    return null;
  const now = input.now === share.created_at ? share.created_at : input.now;
  // The store owns what it keeps: every kept object is frozen, then the packing (which ends a deep freeze
  // of the record there).
  const k = keep;
  return Object.freeze(
    new PackedInput(
      k(now),
      k(lt.weekday),
      k(lt.minute_of_day),
      k(org.id),
      k(r.authorization_id),
      k(r.processor_id),
      k(r.amount),
      k(r.currency),
      k(r.merchant),
      k(r.channel),
      k(r.intent_id),
      k(r.partial_approval_supported),
      k(input.agent),
      k(input.authority),
      k(input.binding),
      k(d.period),
      k(d.spent),
      k(d.count),
      k(w.period),
      k(w.spent),
      k(w.count),
      k(m.period),
      k(m.spent),
      k(m.count),
      k(t.period),
      k(t.spent),
      k(t.count),
      k(input.intent),
    ),
  );
}

/** `v`, deep-frozen when it is an object. */
function keep(v: unknown): unknown {
  return v !== null && typeof v === 'object' ? deepFreeze(v) : v;
}

/** The input a {@link PackedInput} stands for, frozen (what it references was frozen when it was stored). */
export function unpackInput(p: PackedInput): unknown {
  const f = Object.freeze;
  return f({
    version: '1',
    now: p.now,
    local_time: f({ weekday: p.weekday, minute_of_day: p.minuteOfDay }),
    org: f({ id: p.orgId }),
    request: f({
      authorization_id: p.authorizationId,
      processor_id: p.processorId,
      amount: p.amount,
      currency: p.currency,
      merchant: p.merchant,
      channel: p.channel,
      intent_id: p.intentId,
      partial_approval_supported: p.partialApprovalSupported,
    }),
    agent: p.agent,
    authority: p.authority,
    binding: p.binding,
    usage: f({
      daily: f({ period: p.dailyPeriod, spent: p.dailySpent, count: p.dailyCount }),
      weekly: f({ period: p.weeklyPeriod, spent: p.weeklySpent, count: p.weeklyCount }),
      monthly: f({ period: p.monthlyPeriod, spent: p.monthlySpent, count: p.monthlyCount }),
      total: f({ period: p.totalPeriod, spent: p.totalSpent, count: p.totalCount }),
    }),
    intent: p.intent,
  });
}
