import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PolicyError } from '../policy/index.js';
import { projectRoot } from '../util/project-root.js';

/** Output of one opa run. */
export interface OpaResult {
  stdout: string;
  stderr: string;
}

/** Options for {@link runOpa}. */
export interface RunOpaOptions {
  /** Working directory; defaults to the project root. */
  cwd?: string;
  /** Path of the opa binary; defaults to {@link findOpa}. */
  binary?: string;
  /** Resolve instead of throwing when opa exits non-zero (its exit code is then in `exitCode`). */
  allowFailure?: boolean;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Locates the opa binary: `.tools/opa` under the project root (installed pinned by
 * `npm run tools`), else the first `opa` on PATH. Throws `opa_not_found` otherwise.
 */
export function findOpa(root: string = projectRoot()): string {
  const local = join(root, '.tools', 'opa');
  if (isExecutable(local)) return local;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'opa');
    if (isExecutable(candidate)) return candidate;
  }
  throw new PolicyError('opa_not_found', 'opa binary not found in .tools/ or on PATH; run `npm run tools`');
}

/**
 * Runs opa with the given arguments (no shell). Throws `opa_command_failed` with
 * stdout/stderr in `details` when it exits non-zero, unless `allowFailure` is set.
 */
export function runOpa(args: string[], options: RunOpaOptions = {}): Promise<OpaResult & { exitCode: number }> {
  const binary = options.binary ?? findOpa();
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { cwd: options.cwd ?? projectRoot(), maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve({ stdout, stderr, exitCode: 0 });
          return;
        }
        const exitCode = typeof err.code === 'number' ? err.code : -1;
        if (options.allowFailure && exitCode > 0) {
          resolve({ stdout, stderr, exitCode });
          return;
        }
        reject(
          new PolicyError(
            'opa_command_failed',
            `opa ${args[0] ?? ''} failed: ${stderr.trim() || stdout.trim().slice(0, 2000) || err.message}`,
            {
              cause: err,
              details: { args, exitCode, stdout, stderr },
            },
          ),
        );
      },
    );
  });
}
