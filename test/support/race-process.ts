/**
 * Starts one race-worker process (test/support/race-worker.ts): it prints `ready`, fires its
 * authorizations on `go()` and reports every outcome as one JSON line.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RaceOutcome } from './race-worker.js';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'race-worker.js');

export interface RaceWorker {
  ready: Promise<void>;
  go(): void;
  result: Promise<RaceOutcome[]>;
}

export function startWorker(name: string, env: Record<string, string>): RaceWorker {
  const child = spawn(process.execPath, [WORKER], {
    env: { ...process.env, ...env, RACE_WORKER: name },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const lines = createInterface({ input: child.stdout });
  const received: string[] = [];
  let onLine: (() => void) | undefined;
  lines.on('line', (l) => {
    received.push(l);
    onLine?.();
  });
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  const nextLine = (index: number) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (received.length > index) resolve(received[index] as string);
      };
      onLine = check;
      check();
      exited.then((code) => reject(new Error(`${name} exited with ${code}: ${stderr}`)));
    });
  const ready = nextLine(0).then((l) => {
    if (l !== 'ready') throw new Error(`${name} said ${l} instead of ready: ${stderr}`);
  });
  return {
    ready,
    go: () => child.stdin.end('go\n'),
    result: ready.then(async () => {
      const line = await nextLine(1);
      const code = await exited;
      if (code !== 0) throw new Error(`${name} failed with ${code}: ${stderr}`);
      return JSON.parse(line) as RaceOutcome[];
    }),
  };
}
