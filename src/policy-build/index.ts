// Build tooling of policy bundles: runs the `opa` binary and `git`. Used by the CLI, tests and benches;
// the server never imports it (it only reads built bundles through src/policy).
export { type BuildPolicyBundleOptions, type BuiltPolicyBundle, buildPolicyBundle } from './build.js';
export { findOpa, type OpaResult, type RunOpaOptions, runOpa } from './opa-cli.js';
export { coverageLines, parseCoveragePercent, runPolicyTests } from './opa-test.js';
export { contentHash, policyRevision } from './revision.js';
