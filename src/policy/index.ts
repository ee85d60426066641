export { type BundleManifest, bundleFromFiles, type PolicyBundle, readPolicyBundle } from './bundle.js';
export { type BundleProblem, BundleRejection } from './bundle-rejection.js';
export { decisionProblem } from './decision-validator.js';
export { encodePolicyInput, policyInputJson, sharedInputPart } from './encode-input.js';
export { isPolicyError, PolicyError, type PolicyErrorCode } from './errors.js';
export { PolicyHolder, type PolicySnapshot } from './policy-holder.js';
export type { PolicyResolver, PolicySet } from './policy-set.js';
export { PolicyRegistry, type PolicyRegistryOptions } from './registry.js';
export {
  type BuiltRulesBundle,
  buildRulesBundle,
  RULES_DATA_KEY,
  RULES_REVISION_PATTERN,
  type RulesDocument,
  rulesDocumentOf,
  supportsRules,
} from './rules-bundle.js';
export {
  ENTRYPOINTS,
  INTENT_ENTRYPOINT,
  type LoadedPolicy,
  type LoadPolicyOptions,
  loadPolicy,
  loadPolicySync,
  type PolicySource,
  SPEND_ENTRYPOINT,
} from './runtime.js';
export { POLICY_SCHEMA_FILES, readPolicySchema } from './schemas.js';
export { parseSigningKey, verifyBundleSignature } from './signature.js';
export { smokeIntentInputs, smokeSpendInputs } from './smoke-inputs.js';
export { readTar, type TarEntry } from './tar.js';
export type * from './types.js';
export {
  type BundleCheckOptions,
  bundlePath,
  type CheckedBundle,
  checkBundleIsolated,
  checkBundleUpload,
  type IsolatedCheck,
  REVISION_PATTERN,
  runtimeBuiltins,
} from './upload-check.js';
