import type { LoadedPolicy } from './runtime.js';

/** The policies in force at one moment: the active one and an optional shadow. */
export interface PolicySnapshot {
  readonly active: LoadedPolicy;
  /** Evaluated alongside the active policy for comparison; its result is never returned. */
  readonly shadow: LoadedPolicy | undefined;
}

/**
 * Holds the policy in force for one org (or the default). Activation replaces one
 * frozen snapshot reference, so a caller that took `snapshot()` keeps evaluating a
 * consistent active/shadow pair while a new bundle is swapped in.
 */
export class PolicyHolder {
  #snapshot: PolicySnapshot | undefined;

  constructor(active?: LoadedPolicy, shadow?: LoadedPolicy) {
    if (active !== undefined) this.activate(active, shadow);
  }

  /** Makes `policy` the active one, with `shadow` (or none) beside it. */
  activate(policy: LoadedPolicy, shadow?: LoadedPolicy): void {
    this.#snapshot = Object.freeze({ active: policy, shadow });
  }

  /** Sets or clears the shadow policy, keeping the active one. Returns false when none is active. */
  setShadow(shadow: LoadedPolicy | undefined): boolean {
    const current = this.#snapshot;
    if (current === undefined) return false;
    this.#snapshot = Object.freeze({ active: current.active, shadow });
    return true;
  }

  /** The active policy, or undefined before the first activation. */
  current(): LoadedPolicy | undefined {
    return this.#snapshot?.active;
  }

  /** The active and shadow policies as one consistent pair, or undefined before activation. */
  snapshot(): PolicySnapshot | undefined {
    return this.#snapshot;
  }
}
