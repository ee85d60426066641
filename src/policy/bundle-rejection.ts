/** Why an uploaded bundle was refused (`details.problem` of `policy_bundle_invalid`). Stable, never renamed. */
export type BundleProblem =
  | 'not_gzip'
  | 'not_tar'
  | 'unsafe_path'
  | 'link_entry'
  | 'missing_wasm'
  | 'missing_manifest'
  | 'missing_revision'
  | 'missing_entrypoint'
  | 'unsupported_builtin'
  | 'wasm_invalid'
  | 'data_invalid'
  | 'smoke_failed'
  | 'signature_required'
  | 'signature_invalid';

/** A refused bundle: `problem` names the check, `detail` says what was wrong in words. */
export class BundleRejection extends Error {
  override readonly name = 'BundleRejection';
  constructor(
    readonly problem: BundleProblem | 'too_large',
    readonly detail: string,
  ) {
    super(`${problem}: ${detail}`);
  }
}
