import * as assert from 'uvu/assert';

/** Awaits `promise`, asserts it rejects with an error whose `code` is `code`, and returns that error. */
export async function rejectsWithCode(
  promise: Promise<unknown>,
  code: string,
): Promise<Error & { code: string; details?: unknown }> {
  try {
    await promise;
  } catch (err) {
    assert.is((err as { code?: string }).code, code, `expected code ${code}, got ${(err as Error).message}`);
    return err as Error & { code: string };
  }
  assert.unreachable(`expected a rejection with code ${code}`);
  throw new Error('unreachable');
}
