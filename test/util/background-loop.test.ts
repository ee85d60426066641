import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BackgroundLoop } from '../../src/util/background-loop.js';

const test = suite('BackgroundLoop: start, stop, schedule, run once');

/** The loop's timer never holds the process open: hold it while a test awaits a background pass. */
function holdOpen(): () => void {
  const handle = setInterval(() => {}, 60_000);
  return () => clearInterval(handle);
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

test('passes never overlap: a pass asked for while one runs starts after it', async () => {
  const order: string[] = [];
  const gate = deferred();
  const loop = new BackgroundLoop<number>({ pass: async () => 0, nextDelay: () => 60_000, onError: () => 60_000 });
  const first = loop.runOnce(async () => {
    order.push('first:start');
    await gate.promise;
    order.push('first:end');
    return 1;
  });
  const second = loop.runOnce(async () => {
    order.push('second');
    return 2;
  });
  gate.resolve();
  assert.equal(await Promise.all([first, second]), [1, 2]);
  assert.equal(order, ['first:start', 'first:end', 'second']);
});

test('a failed pass does not block the next one', async () => {
  const loop = new BackgroundLoop<number>({ pass: async () => 0, nextDelay: () => 60_000, onError: () => 60_000 });
  const failed = loop.runOnce(async () => {
    throw new Error('boom');
  });
  const err = await failed.then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(err, Error);
  assert.is(await loop.runOnce(async () => 7), 7);
});

test('start runs a first pass at once; stop waits for the pass in progress and schedules nothing more', async () => {
  let passes = 0;
  const entered = deferred();
  const release = deferred();
  const loop = new BackgroundLoop<number>({
    pass: async () => {
      passes++;
      entered.resolve();
      await release.promise;
      return 0;
    },
    nextDelay: () => 0,
    onError: () => 0,
  });
  const release0 = holdOpen();
  loop.start();
  loop.start();
  await entered.promise;
  release0();
  let stopped = false;
  const stopping = loop.stop().then(() => {
    stopped = true;
  });
  await Promise.resolve();
  assert.is(stopped, false);
  release.resolve();
  await stopping;
  assert.is(passes, 1);
  // Stopped: a pass already finished would have scheduled the next at 0 ms; nothing runs.
  loop.schedule(0);
  assert.is(await loop.runOnce(async () => passes), 1);
});

test('a failed background pass is reported to onError', async () => {
  const reported = deferred<unknown>();
  const loop = new BackgroundLoop<number>({
    pass: async () => {
      throw new Error('down');
    },
    nextDelay: () => 60_000,
    onError: (err) => {
      reported.resolve(err);
      return 60_000;
    },
  });
  const done = holdOpen();
  loop.start();
  const err = (await reported.promise) as Error;
  done();
  assert.is(err.message, 'down');
  await loop.stop();
});

test.run();
