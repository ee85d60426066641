import { StorageError } from '../../src/storage/index.js';

/** Result of one try of a conditional write: a final value, or `retry` when the document moved. */
export type Attempt<T> = { done: T } | 'retry';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `step` until it is done, at most `maxAttempts` times. The first retries are immediate (a lost
 * race usually resolves on the next read); later ones wait a random, growing delay so contenders
 * spread out. Gives up with `unavailable`: the store is too contended to answer now.
 */
export async function withRetries<T>(maxAttempts: number, what: string, step: () => Promise<Attempt<T>>): Promise<T> {
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const result = await step();
    if (result !== 'retry') return result.done;
    if (attempt >= 2) await sleep(Math.random() * Math.min(50, 2 ** (attempt - 1)));
  }
  throw new StorageError('unavailable', `${what}: still contended after ${maxAttempts} attempts`);
}
