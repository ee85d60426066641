/** What a {@link BackgroundLoop} runs and how it paces itself. */
export interface BackgroundLoopOptions<R> {
  /** One pass of the work. */
  pass: () => Promise<R>;
  /** Milliseconds until the next pass after one that returned `result` (0: at once). */
  nextDelay: (result: R) => number;
  /** Called with a failed pass's error (to log it); returns the milliseconds until the next pass. */
  onError: (err: unknown) => number;
}

/**
 * A background worker's loop: start, stop, schedule and run once. Passes never overlap (a pass asked for
 * while one runs waits for it); after each pass the loop schedules the next by `nextDelay`; a wake-up
 * asked for sooner than the pending one replaces it. The timer never holds the process open. Tests await
 * {@link runOnce} instead of sleeping.
 */
export class BackgroundLoop<R> {
  readonly #options: BackgroundLoopOptions<R>;
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #running: Promise<R> | null = null;
  #stopped = true;

  constructor(options: BackgroundLoopOptions<R>) {
    this.#options = options;
  }

  /** Starts the loop (a first pass at once) until {@link stop}; starting a running loop does nothing. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.schedule(0);
  }

  /** Stops scheduling and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clearTimer();
    await this.#running?.catch(() => undefined);
  }

  /** Runs one pass (`pass`, default the loop's) after any pass in progress; resolves with its result. */
  runOnce(pass: () => Promise<R> = this.#options.pass): Promise<R> {
    const previous: Promise<unknown> = this.#running ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => pass());
    this.#running = next;
    return next;
  }

  /** Wakes the loop in `delayMs` unless a wake-up is already due by then; nothing once stopped. */
  schedule(delayMs: number): void {
    if (this.#stopped) return;
    const at = Date.now() + delayMs;
    if (this.#timer && this.#timerAt <= at) return;
    this.#clearTimer();
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.runOnce().then(
        (result) => this.schedule(this.#options.nextDelay(result)),
        (err: unknown) => this.schedule(this.#options.onError(err)),
      );
    }, delayMs);
    this.#timer.unref?.();
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }
}
