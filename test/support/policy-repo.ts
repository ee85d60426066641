import { execFile } from 'node:child_process';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CliIo } from '../../src/cli/policy-command.js';
import { projectRoot } from '../../src/util/project-root.js';

const run = promisify(execFile);

/** The example enterprise policy repository shipped in examples/. */
export const EXAMPLE_REPO = join(projectRoot(), 'examples', 'policy-repo');

/** Runs git in `cwd` with a fixed identity; returns stdout. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(
    'git',
    ['-c', 'user.name=Policy Author', '-c', 'user.email=author@example.com', '-c', 'commit.gpgsign=false', ...args],
    { cwd },
  );
  return stdout.trim();
}

/** A policy repository in a temporary folder, committed to a fresh git repository. */
export interface TempPolicyRepo {
  root: string;
  /** The folder with the Rego (`<root>/policy`). */
  policyDir: string;
  /** The commit checked out. */
  head(): Promise<string>;
  /** Writes a file (relative to root) and commits it; returns the new commit. */
  commit(file: string, text: string, message?: string): Promise<string>;
}

async function init(root: string): Promise<TempPolicyRepo> {
  await git(root, 'init', '-q', '-b', 'main');
  await git(root, 'add', '-A');
  await git(root, 'commit', '-q', '-m', 'policy');
  return {
    root,
    policyDir: join(root, 'policy'),
    head: () => git(root, 'rev-parse', 'HEAD'),
    async commit(file, text, message = 'change') {
      await writeFile(join(root, file), text);
      await git(root, 'add', '-A');
      await git(root, 'commit', '-q', '-m', message);
      return git(root, 'rev-parse', 'HEAD');
    },
  };
}

/** A committed copy of examples/policy-repo: builds never touch the repository's own folder. */
export async function copyExampleRepo(): Promise<TempPolicyRepo> {
  const root = await mkdtemp(join(tmpdir(), 'allowance-policy-repo-'));
  await cp(EXAMPLE_REPO, root, { recursive: true });
  return init(root);
}

/** A committed repository whose policy/ holds the given files (name -> text). */
export async function policyRepoFrom(files: Record<string, string>): Promise<TempPolicyRepo> {
  const root = await mkdtemp(join(tmpdir(), 'allowance-policy-repo-'));
  const { mkdir } = await import('node:fs/promises');
  for (const [name, text] of Object.entries(files)) {
    const path = join(root, 'policy', name);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, text);
  }
  return init(root);
}

/** What one CLI run printed and returned. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** CliIo that records output; `sleeps` counts the waits between replay polls. */
export function captureIo(
  env: NodeJS.ProcessEnv = {},
): CliIo & { stdout: string[]; stderr: string[]; sleeps: number[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const sleeps: number[] = [];
  return {
    stdout,
    stderr,
    sleeps,
    env,
    out: (t) => {
      stdout.push(t);
    },
    err: (t) => {
      stderr.push(t);
    },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  };
}
