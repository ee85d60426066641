import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HOLDER = join(dirname(fileURLToPath(import.meta.url)), 'sqlite-lock-holder.js');

/** Another process holding the write lock of a SQLite file (test/support/sqlite-lock-holder.ts). */
export interface LockHolder {
  /** Commits, which gives the lock back, and resolves when the process has exited (with status 0). */
  release(): Promise<void>;
}

/** Starts the lock holder on `path`; resolves once it holds the write lock. */
export async function holdWriteLock(path: string): Promise<LockHolder> {
  const child = spawn(process.execPath, [HOLDER, path], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const exited = new Promise<number>((ok) => child.once('exit', (code) => ok(code ?? -1)));
  const lines = createInterface({ input: child.stdout });
  await new Promise<void>((ok, fail) => {
    lines.once('line', (l) => (l === 'locked' ? ok() : fail(new Error(`lock holder said ${l}: ${stderr}`))));
    void exited.then((code) => fail(new Error(`lock holder exited with ${code}: ${stderr}`)));
  });
  return {
    release: async () => {
      child.stdin.end('release\n');
      const code = await exited;
      if (code !== 0) throw new Error(`lock holder failed with ${code}: ${stderr}`);
    },
  };
}
