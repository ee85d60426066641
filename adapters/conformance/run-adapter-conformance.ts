import * as assert from 'node:assert/strict';
import { CONCERNS, GROUPS } from './groups.js';
import type { CaseBody, ConformanceOptions, ConformanceTarget, GroupName, TestFunction } from './types.js';

const DEFAULT_CONCURRENCY = 200;

/**
 * Registers the storage conformance suite against an adapter on the test runner's own test function
 * (`test` of node:test, vitest or jest, a uvu `suite()`): the suite imports no test
 * runner and asserts with node:assert/strict, so a failed check throws an AssertionError that every runner
 * reports. Each case is named `conformance[name] group: case` and runs on a fresh target from `factory`,
 * cleaned up afterwards. Writes are checked through `target.inspect` when given, so a store that only looks
 * right through its own adapter fails. A last case, `conformance[name]: every case ran`, fails unless every
 * case registered before it ran (so the runner must run a file's tests in order, one at a time, as
 * node:test, vitest, jest and uvu do by default) and prints `conformance[name]: G groups, C cases`. Running
 * is the runner's business: call a uvu suite's `.run()` afterwards.
 *
 * The `credentials` group runs on `target.credentials`: a target without one fails it, so an adapter that
 * keeps no credentials says so with `skip: ['credentials']` instead of passing cases it never ran. The
 * `audit` case about credential drafts needs `target.credentials` too; without it, that one case is skipped
 * and the suite prints a note saying so. `options.concerns` runs only the groups of some storage contracts
 * (`CONCERNS`), e.g. `['ledger']` for a ledger of its own.
 *
 * ```ts
 * import { test } from 'node:test';
 * runAdapterConformance(test, 'memory', async () => ({ adapter: new MemoryAdapter() }));
 * ```
 */
export function runAdapterConformance(
  test: TestFunction,
  name: string,
  factory: () => Promise<ConformanceTarget>,
  options: ConformanceOptions = {},
): void {
  if (typeof test !== 'function') {
    throw new TypeError("runAdapterConformance takes the test runner's test function first, e.g. node:test's test");
  }
  const skip = new Set<GroupName>(options.skip ?? []);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const only = options.concerns ? new Set<GroupName>(options.concerns.flatMap((c) => CONCERNS[c])) : null;
  const groups = (Object.keys(GROUPS) as GroupName[]).filter((g) => !skip.has(g) && (!only || only.has(g)));
  let declared = 0;
  let ran = 0;
  for (const group of groups) {
    const it = (caseName: string, body: CaseBody) => {
      declared++;
      test(`conformance[${name}] ${group}: ${caseName}`, async () => {
        const target = await factory();
        try {
          await target.adapter.init();
          if (group === 'credentials') {
            if (!target.credentials) {
              throw new Error("the target has no credential storage: provide `credentials` or skip: ['credentials']");
            }
            await target.credentials.init();
          } else if (group === 'policies') {
            if (!target.policies) {
              throw new Error("the target has no policy storage: provide `policies` or skip: ['policies']");
            }
            await target.policies.init();
            await target.policiesPeer?.init();
          } else if (group === 'audit' && target.credentials) {
            await target.credentials.init();
          } else if (group === 'policy_analysis') {
            if (!target.policyAnalysis) {
              throw new Error(
                "the target has no policy analysis storage: provide `policyAnalysis` or skip: ['policy_analysis']",
              );
            }
            await target.policyAnalysis.init();
          } else if (group === 'quotas') {
            if (!target.quotas) {
              throw new Error("the target has no quota storage: provide `quotas` or skip: ['quotas']");
            }
            await target.quotas.init();
          } else if (group === 'domains') {
            if (!target.domains) {
              throw new Error("the target has no domain storage: provide `domains` or skip: ['domains']");
            }
            await target.domains.init();
          }
          await body(target);
          ran++;
        } finally {
          await target.cleanup?.();
        }
      });
    };
    GROUPS[group]({ concurrency, it });
  }
  test(`conformance[${name}]: every case ran`, async () => {
    assert.deepStrictEqual(ran, declared, `conformance[${name}]: ${ran} of ${declared} cases passed`);
    console.log(`\nconformance[${name}]: ${groups.length} groups, ${declared} cases`);
  });
}
