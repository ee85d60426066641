import { createRequire } from 'node:module';
import type { LoadedPolicy as WasmPolicy } from '@open-policy-agent/opa-wasm';
import { type BundleManifest, type PolicyBundle, readPolicyBundle } from './bundle.js';
import { decisionProblem } from './decision-validator.js';
import { encodePolicyInput } from './encode-input.js';
import { PolicyError } from './errors.js';
import type { IntentPolicyInput, PolicyDecision, SpendPolicyInput } from './types.js';

// The SDK's ESM entry exports only loadPolicy; its CommonJS entry has both loaders.
const sdk = createRequire(import.meta.url)(
  '@open-policy-agent/opa-wasm',
) as typeof import('@open-policy-agent/opa-wasm');

/** Entry point of the spend decision. */
export const SPEND_ENTRYPOINT = 'allowance/spend/decision';
/** Entry point of the intent decision. */
export const INTENT_ENTRYPOINT = 'allowance/intent/decision';

/** The entry points every policy bundle must provide. */
export const ENTRYPOINTS = [SPEND_ENTRYPOINT, INTENT_ENTRYPOINT] as const;

/** A policy bundle instantiated and ready to evaluate. Evaluation is synchronous. */
export interface LoadedPolicy {
  /** The bundle revision (git commit of the policies), recorded with every decision. */
  readonly revision: string;
  readonly manifest: BundleManifest;
  /**
   * The bundle it was loaded from, unless loaded with `keepSource: false` (a rules revision is built over the
   * base policy's module; org revisions need not keep theirs).
   */
  readonly source?: PolicyBundle;
  /** Evaluates allowance/spend/decision. Throws PolicyError, never returns a made-up allow. */
  evaluateSpend(input: SpendPolicyInput): PolicyDecision;
  /** Evaluates allowance/intent/decision. Throws PolicyError, never returns a made-up allow. */
  evaluateIntent(input: IntentPolicyInput): PolicyDecision;
}

/** A bundle archive (.tar.gz bytes) or its already extracted parts. */
export type PolicySource = Uint8Array | PolicyBundle;

/** Options of {@link loadPolicy}. */
export interface LoadPolicyOptions {
  /** Keep the bundle (its WASM bytes) as `source`. Default true. */
  keepSource?: boolean;
}

function describe(err: unknown): string {
  if (typeof err === 'string') return err;
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    return (err as { message: string }).message;
  }
  return String(err);
}

function toBundle(source: PolicySource): PolicyBundle {
  return source instanceof Uint8Array ? readPolicyBundle(source) : source;
}

function entrypointId(wasm: WasmPolicy, name: string): number {
  const ids = wasm.entrypoints as Record<string, number>;
  const id = Object.hasOwn(ids, name) ? ids[name] : undefined;
  if (typeof id !== 'number') {
    throw new PolicyError('policy_load_failed', `policy bundle has no entry point ${name}`, {
      details: { entrypoints: Object.keys(ids) },
    });
  }
  return id;
}

function evaluate(wasm: WasmPolicy, id: number, name: string, input: unknown): PolicyDecision {
  let resultSet: unknown;
  try {
    resultSet = wasm.evaluate(encodePolicyInput(input), id);
  } catch (err) {
    // The SDK and the module throw plain strings or objects, not Errors.
    throw new PolicyError('policy_evaluation_failed', `${name}: ${describe(err)}`, { cause: err });
  }
  const first = Array.isArray(resultSet) ? (resultSet[0] as { result?: unknown } | undefined) : undefined;
  if (first === undefined || first === null || first.result === undefined) {
    throw new PolicyError('policy_no_result', `${name} produced no decision`);
  }
  const problem = decisionProblem(first.result);
  if (problem !== undefined) {
    throw new PolicyError('policy_output_invalid', `${name} returned an invalid decision: ${problem}`, {
      details: { result: first.result },
    });
  }
  return first.result as PolicyDecision;
}

function checkApprovedAmount(decision: PolicyDecision, amount: number): PolicyDecision {
  const partial = decision.action === 'ALLOW_WITH_LIMITS';
  if (partial ? (decision.approved_amount as number) >= amount : decision.approved_amount !== undefined) {
    throw new PolicyError(
      'policy_output_invalid',
      'approved_amount must be below the amount and only with ALLOW_WITH_LIMITS',
      {
        details: { result: decision, amount },
      },
    );
  }
  return decision;
}

function wrap(wasm: WasmPolicy, bundle: PolicyBundle, keepSource: boolean): LoadedPolicy {
  try {
    wasm.setData(bundle.data);
  } catch (err) {
    throw new PolicyError('policy_load_failed', `policy data rejected: ${describe(err)}`, { cause: err });
  }
  const spendId = entrypointId(wasm, SPEND_ENTRYPOINT);
  const intentId = entrypointId(wasm, INTENT_ENTRYPOINT);
  return Object.freeze({
    revision: bundle.manifest.revision,
    manifest: bundle.manifest,
    ...(keepSource ? { source: bundle } : {}),
    evaluateSpend: (input: SpendPolicyInput) =>
      checkApprovedAmount(evaluate(wasm, spendId, SPEND_ENTRYPOINT, input), input.request.amount),
    evaluateIntent: (input: IntentPolicyInput) =>
      checkApprovedAmount(evaluate(wasm, intentId, INTENT_ENTRYPOINT, input), input.request.max_amount),
  });
}

function loadFailed(err: unknown): PolicyError {
  if (err instanceof PolicyError) return err;
  return new PolicyError('policy_load_failed', `policy module could not be loaded: ${describe(err)}`, { cause: err });
}

/**
 * Instantiates a policy bundle (archive bytes or extracted parts), compiling the WASM
 * module off the main thread where the platform allows. Throws `bundle_invalid` or
 * `policy_load_failed`.
 */
export async function loadPolicy(source: PolicySource, options: LoadPolicyOptions = {}): Promise<LoadedPolicy> {
  const bundle = toBundle(source);
  try {
    return wrap(await sdk.loadPolicy(bundle.wasm), bundle, options.keepSource ?? true);
  } catch (err) {
    throw loadFailed(err);
  }
}

/** Synchronous {@link loadPolicy}, for start-up code and tests. */
export function loadPolicySync(source: PolicySource, options: LoadPolicyOptions = {}): LoadedPolicy {
  const bundle = toBundle(source);
  try {
    return wrap(sdk.loadPolicySync(bundle.wasm), bundle, options.keepSource ?? true);
  } catch (err) {
    throw loadFailed(err);
  }
}
