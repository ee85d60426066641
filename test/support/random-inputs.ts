import type { IntentPolicyInput, PolicyAuthority, PolicyMerchant, SpendPolicyInput } from '../../src/policy/types.js';
import { intentInput, NOW, spendInput, usageWindow } from './policy-fixtures.js';

/** A deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TIMES = [
  '2026-11-22T10:00:00.000Z',
  '2026-11-23T09:59:59.999Z',
  NOW,
  '2026-11-23T10:00:00.001Z',
  '2027-01-01T00:00:00.000Z',
];
const MERCHANT_IDS = ['m_1', 'm_2', 'm_3'];
const MCCS = ['5411', '5812', '7995'];
const COUNTRIES = ['DE', 'FR', 'US'];
const WINDOWS = ['daily', 'weekly', 'monthly', 'total'] as const;

class Gen {
  constructor(
    readonly rnd: () => number,
    /** Scales the odds of every fault, so some inputs stay clean enough to reach partial approval and step-up. */
    readonly fault: number,
  ) {}

  chance(p: number): boolean {
    return this.rnd() < p;
  }
  faulty(p: number): boolean {
    return this.rnd() < p * this.fault;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.rnd() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rnd() * items.length)] as T;
  }
  subset(items: readonly string[]): string[] {
    return items.filter(() => this.chance(0.5));
  }
  /** A value close to `x`, to land on both sides of each comparison. */
  near(x: number): number {
    return Math.max(0, x + this.pick([-2, -1, 0, 0, 1, 2]));
  }
  merchant(): PolicyMerchant {
    const m: PolicyMerchant = {};
    if (!this.faulty(0.15)) m.id = this.pick(MERCHANT_IDS);
    if (this.chance(0.5)) m.name = 'Shop ü';
    if (!this.faulty(0.15)) m.mcc = this.pick(MCCS);
    if (!this.faulty(0.15)) m.country = this.pick(COUNTRIES);
    return m;
  }
  status<T extends string>(good: T, bad: readonly T[]): T {
    return this.faulty(0.12) ? this.pick(bad) : good;
  }
  authority(base: PolicyAuthority, amount: number): PolicyAuthority {
    const limit = () => (this.chance(0.45) ? null : this.chance(0.5) ? this.near(amount) : this.int(0, 5000));
    return {
      ...base,
      status: this.status('active', ['paused', 'revoked']),
      currency: this.faulty(0.08) ? 'USD' : 'EUR',
      limits: { per_transaction: limit(), daily: limit(), weekly: limit(), monthly: limit(), total: limit() },
      velocity: {
        daily: this.chance(0.6) ? null : this.int(0, 6),
        weekly: this.chance(0.7) ? null : this.int(0, 6),
        monthly: this.chance(0.8) ? null : this.int(0, 6),
        total: this.chance(0.8) ? null : this.int(0, 6),
      },
      merchant_rules: {
        allow_mcc: this.faulty(0.4) ? this.subset(MCCS) : [],
        block_mcc: this.faulty(0.3) ? this.subset(MCCS) : [],
        allow_merchant_ids: this.faulty(0.3) ? this.subset(MERCHANT_IDS) : [],
        block_merchant_ids: this.faulty(0.3) ? this.subset(MERCHANT_IDS) : [],
        allow_countries: this.faulty(0.4) ? this.subset(COUNTRIES) : [],
      },
      valid_from: this.faulty(0.4) ? this.pick(TIMES) : null,
      valid_until: this.faulty(0.4) ? this.pick(TIMES) : null,
      step_up_above: this.chance(0.6) ? null : this.chance(0.5) ? this.near(amount) : this.int(0, 5000),
      require_intent: this.faulty(0.2),
      partial_approval: this.chance(0.6),
    };
  }
  usage(amount: number, authority: PolicyAuthority): SpendPolicyInput['usage'] {
    const usage = { ...spendInput().usage };
    for (const w of WINDOWS) {
      const limit = authority.limits[w];
      const spent = limit !== null && this.chance(0.6) ? this.near(limit - amount) : this.int(0, 3000);
      usage[w] = usageWindow(this.chance(0.2) ? 0 : spent, this.int(0, 6));
    }
    return usage;
  }
}

function amountFor(g: Gen): number {
  if (g.faulty(0.1)) return g.pick([-5, 0]);
  return g.chance(0.2) ? g.int(1, 50) : g.int(100, 4000);
}

/** `count` varied spend inputs covering every branch of the default policy, reproducible from `seed`. */
export function randomSpendInputs(count: number, seed: number): SpendPolicyInput[] {
  const rnd = seededRandom(seed);
  const out: SpendPolicyInput[] = [];
  for (let i = 0; i < count; i++) {
    const g = new Gen(rnd, rnd() < 0.4 ? 0.15 : 1);
    const input = spendInput();
    const amount = amountFor(g);
    input.request = {
      ...input.request,
      authorization_id: `az_${i}`,
      amount,
      currency: g.faulty(0.08) ? 'USD' : 'EUR',
      merchant: g.merchant(),
      channel: g.pick(['online', 'in_store', 'recurring'] as const),
      partial_approval_supported: g.chance(0.6),
    };
    input.agent = { ...input.agent, status: g.status('active', ['paused', 'revoked']) };
    input.binding = { ...input.binding, status: g.status('active', ['suspended', 'revoked']) };
    input.authority = g.authority(input.authority, amount);
    input.usage = g.usage(amount, input.authority);
    if (g.chance(0.45)) {
      const m = input.request.merchant;
      const merchant: PolicyMerchant = {};
      const other = { id: 'm_9', mcc: '5999', country: 'ZZ' };
      for (const field of ['id', 'mcc', 'country'] as const) {
        if (g.chance(0.5)) merchant[field] = g.faulty(0.3) ? other[field] : (m[field] ?? other[field]);
      }
      input.request.intent_id = 'int_1';
      input.intent = {
        id: 'int_1',
        agent_id: g.faulty(0.08) ? 'agt_2' : input.agent.id,
        status: g.faulty(0.4)
          ? g.pick(['denied', 'pending_approval', 'consumed', 'cancelled', 'expired'] as const)
          : 'approved',
        max_amount: g.chance(0.5) ? g.near(amount) : g.int(0, 6000),
        currency: g.faulty(0.08) ? 'USD' : input.request.currency,
        consumed_amount: g.chance(0.6) ? 0 : g.int(0, 2000),
        merchant,
        expires_at: g.faulty(0.5) ? g.pick(TIMES) : '2027-01-01T00:00:00.000Z',
        single_use: g.chance(0.5),
      };
    } else if (g.faulty(0.1)) {
      input.request.intent_id = 'int_404';
    }
    out.push(input);
  }
  return out;
}

/** `count` varied intent inputs covering every branch of the default policy, reproducible from `seed`. */
export function randomIntentInputs(count: number, seed: number): IntentPolicyInput[] {
  const rnd = seededRandom(seed);
  const out: IntentPolicyInput[] = [];
  for (let i = 0; i < count; i++) {
    const g = new Gen(rnd, rnd() < 0.4 ? 0.15 : 1);
    const input = intentInput();
    const amount = amountFor(g);
    input.request = {
      ...input.request,
      max_amount: amount,
      currency: g.faulty(0.08) ? 'USD' : 'EUR',
      merchant: g.merchant(),
      expires_at: g.faulty(0.3) ? g.pick(TIMES) : '2027-01-01T00:00:00.000Z',
      single_use: g.chance(0.5),
    };
    input.agent = { ...input.agent, status: g.status('active', ['paused', 'revoked']) };
    input.authority = g.authority(input.authority, amount);
    input.usage = g.usage(amount, input.authority);
    out.push(input);
  }
  return out;
}
