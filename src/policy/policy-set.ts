import type { LoadedPolicy } from './runtime.js';

/** Where the engine gets the policy to evaluate for an org. */
export interface PolicyResolver {
  /**
   * The policies deciding for an org, as one snapshot a decision keeps to its end: `active` is the base
   * policy (always evaluated), `org` the org's active policy layered on it (can only tighten), `shadow` a
   * policy whose result is only logged: with `org` set or `orgShadow` set it is an org candidate layered on
   * the base; otherwise a replacement of the base.
   */
  forOrg(orgId: string): PolicySet;
}

/** What {@link PolicyResolver.forOrg} returns. */
export interface PolicySet {
  active: LoadedPolicy;
  shadow: LoadedPolicy | null;
  /** The org's own active policy, layered on `active`; absent or null: the base alone decides. */
  org?: LoadedPolicy | null;
  /** An org revision evaluated beside `org` (layered on the base) whose result is only logged. */
  orgShadow?: LoadedPolicy | null;
}
