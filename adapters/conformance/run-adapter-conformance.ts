import { suite } from 'uvu';
import { CONCERNS, GROUPS } from './groups.js';
import type { CaseBody, ConformanceOptions, ConformanceTarget, GroupName, SuiteFactory } from './types.js';

const DEFAULT_CONCURRENCY = 200;

/**
 * Registers and runs the storage conformance suite against an adapter: one uvu suite per group
 * (`conformance[name] crud`, …), each case on a fresh target from `factory`, cleaned up afterwards.
 * Writes are checked through `target.inspect` when given, so a store that only looks right through
 * its own adapter fails. Prints `conformance[name]: G groups, C cases` when the last group ends. The
 * `credentials` group runs on `target.credentials`: a target without one fails it, so an adapter that
 * keeps no credentials says so with `skip: ['credentials']` instead of passing cases it never ran. The
 * `audit` case about credential drafts needs `target.credentials` too; without it, that one case is
 * skipped and the suite prints a note saying so. `options.concerns` runs only the groups of some storage
 * contracts (`CONCERNS`), e.g. `['ledger']` for a ledger of its own; `options.suite` takes another
 * uvu-compatible runner's suite factory.
 *
 * ```ts
 * runAdapterConformance('memory', async () => ({ adapter: new MemoryAdapter() }));
 * ```
 */
export function runAdapterConformance(
  name: string,
  factory: () => Promise<ConformanceTarget>,
  options: ConformanceOptions = {},
): void {
  const skip = new Set<GroupName>(options.skip ?? []);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const only = options.concerns ? new Set<GroupName>(options.concerns.flatMap((c) => CONCERNS[c])) : null;
  const makeSuite: SuiteFactory = options.suite ?? (suite as unknown as SuiteFactory);
  const groups = (Object.keys(GROUPS) as GroupName[]).filter((g) => !skip.has(g) && (!only || only.has(g)));
  let cases = 0;
  groups.forEach((group, index) => {
    const s = makeSuite(`conformance[${name}] ${group}`);
    const it = (caseName: string, body: CaseBody) => {
      s(caseName, async () => {
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
          cases++;
          await body(target);
        } finally {
          await target.cleanup?.();
        }
      });
    };
    GROUPS[group]({ concurrency, it });
    if (index === groups.length - 1) {
      s.after(() => {
        console.log(`\nconformance[${name}]: ${groups.length} groups, ${cases} cases`);
      });
    }
    s.run();
  });
}
