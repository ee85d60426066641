import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

function gitHead(cwd: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('git', ['rev-parse', '--verify', '--quiet', 'HEAD'], { cwd, encoding: 'utf8' }, (err, stdout) => {
      const sha = stdout.trim();
      resolve(err === null && /^[0-9a-f]{40,64}$/.test(sha) ? sha : undefined);
    });
  });
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** sha256 over the relative paths and contents of every file under `dir`, in path order. */
export async function contentHash(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await listFiles(dir)) {
    hash.update(relative(dir, file));
    hash.update('\0');
    hash.update(await readFile(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/**
 * The bundle revision for policies in `sourceDir`: the git commit checked out there,
 * or `dev-<first 12 hex of the content hash>` outside git or before the first commit.
 */
export async function policyRevision(sourceDir: string): Promise<string> {
  const head = await gitHead(sourceDir);
  if (head !== undefined) return head;
  return `dev-${(await contentHash(sourceDir)).slice(0, 12)}`;
}
