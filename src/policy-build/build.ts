import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { ENTRYPOINTS, isPolicyError, PolicyError } from '../policy/index.js';
import { projectRoot } from '../util/project-root.js';
import { runOpa } from './opa-cli.js';
import { policyRevision } from './revision.js';

/** Options for {@link buildPolicyBundle}. */
export interface BuildPolicyBundleOptions {
  /** Folder with the Rego sources and capabilities.json. Default: `policies/` of the project. */
  sourceDir?: string;
  /** Where to write the bundle; must lie outside sourceDir. Default: `build/policies/bundle.tar.gz`. */
  outFile?: string;
  /** Bundle revision. Default: see {@link policyRevision}. */
  revision?: string;
  /** Capabilities file. Default: `<sourceDir>/capabilities.json`. */
  capabilities?: string;
}

/** What {@link buildPolicyBundle} produced. */
export interface BuiltPolicyBundle {
  outFile: string;
  revision: string;
}

/**
 * Compiles the Rego in `sourceDir` to a WASM bundle with `opa build -t wasm`, restricted
 * to the builtins of the capabilities file, so an unsupported builtin fails here rather
 * than during a payment. Tests (`*_test.rego`), the schemas folder and the capabilities
 * file are not part of the bundle. Throws `policy_build_failed` with opa's stderr.
 */
export async function buildPolicyBundle(options: BuildPolicyBundleOptions = {}): Promise<BuiltPolicyBundle> {
  const root = projectRoot();
  const sourceDir = resolve(options.sourceDir ?? join(root, 'policies'));
  const outFile = resolve(options.outFile ?? join(root, 'build', 'policies', 'bundle.tar.gz'));
  const capabilities = resolve(options.capabilities ?? join(sourceDir, 'capabilities.json'));
  const rel = relative(sourceDir, outFile);
  if (rel === '' || !(rel.startsWith('..') || isAbsolute(rel))) {
    // opa test loads any bundle archive it finds in the policy folder.
    throw new PolicyError('policy_build_failed', 'the bundle must be written outside the policy folder', {
      details: { sourceDir, outFile },
    });
  }
  const revision = options.revision ?? (await policyRevision(sourceDir));
  await mkdir(dirname(outFile), { recursive: true });
  const args = ['build', '-t', 'wasm', '--capabilities', capabilities];
  for (const entrypoint of ENTRYPOINTS) args.push('-e', entrypoint);
  args.push('--revision', revision, '--ignore', '*_test.rego', '--ignore', 'schemas', '--ignore', 'capabilities.json');
  args.push('-o', outFile, '.');
  try {
    await runOpa(args, { cwd: sourceDir });
  } catch (err) {
    if (isPolicyError(err, 'opa_command_failed')) {
      throw new PolicyError('policy_build_failed', err.message, { cause: err, details: err.details });
    }
    throw err;
  }
  return { outFile, revision };
}
