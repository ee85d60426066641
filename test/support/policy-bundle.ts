import { copyFile, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPolicyBundle } from '../../src/policy-build/index.js';
import { projectRoot } from '../../src/util/project-root.js';

/** The project's policy folder. */
export const POLICY_DIR = join(projectRoot(), 'policies');

/** Revision stamped on the bundle tests build. */
export const TEST_REVISION = 'test-revision';

let built: Promise<Uint8Array> | undefined;

/** Builds the default policies once per process into a temporary folder and returns the archive bytes. */
export function defaultBundle(): Promise<Uint8Array> {
  built ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'allowance-policy-'));
    const { outFile } = await buildPolicyBundle({ outFile: join(dir, 'bundle.tar.gz'), revision: TEST_REVISION });
    return new Uint8Array(await readFile(outFile));
  })();
  return built;
}

/** The Rego source files of the default policies, tests excluded. */
export async function policySources(): Promise<string[]> {
  const entries = await readdir(POLICY_DIR, { recursive: true });
  return entries
    .filter((f) => f.endsWith('.rego') && !f.endsWith('_test.rego'))
    .sort()
    .map((f) => join(POLICY_DIR, f));
}

/**
 * Builds a bundle from the given Rego files (name -> source) with the project's
 * capabilities file, into a temporary folder; returns the archive bytes.
 */
export async function bundleFrom(files: Record<string, string>, revision = 'custom'): Promise<Uint8Array> {
  const src = await mkdtemp(join(tmpdir(), 'allowance-rego-'));
  await copyFile(join(POLICY_DIR, 'capabilities.json'), join(src, 'capabilities.json'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(src, name), text);
  const out = await mkdtemp(join(tmpdir(), 'allowance-bundle-'));
  const { outFile } = await buildPolicyBundle({ sourceDir: src, outFile: join(out, 'bundle.tar.gz'), revision });
  return new Uint8Array(await readFile(outFile));
}
