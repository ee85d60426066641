import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import type { Reservation } from '../storage/index.js';
import type { Decision } from '../types.js';
import type { Actor } from './audit-drafts.js';
import type { NormalizedAuthorizeRequest } from './authorize-request.js';

/** One stand-in decision as spooled: everything the drainer needs to write it into the store. */
export interface SpooledDecision {
  kind: 'decision';
  processor_id: string;
  /** The validated request, without its credential reference (null here). */
  request: NormalizedAuthorizeRequest;
  request_sha256: string;
  decision: Decision;
  /** The hold to record when the decision approves (limits null: recorded without a limit check). */
  reservation: Reservation | null;
  actor: Actor | null;
}

/** Written once a spooled decision is in the store. */
interface DrainedMark {
  kind: 'drained';
  decision_id: string;
}

const FILE = 'stand-in.jsonl';
/** The lock of the spool directory (a directory, made atomically by mkdir), kept beside the file. */
const LOCK = 'spool.lock';

/** How the spool's directory lock is kept; see {@link StandInSpool.open}. */
export interface SpoolLockOptions {
  /** A lock not refreshed for this long was left by a process that died: taken over. Default 10,000 ms. */
  staleMs?: number;
  /** How long `open` waits for a lock held by a live process before it fails. Default 12,000 ms. */
  waitMs?: number;
  /** Called when this process loses the lock (not refreshed in time, or removed). */
  onLost?: (err: Error) => void;
  /** Called when a lost lock is held again (see {@link StandInSpool.open}). */
  onRegained?: () => void;
}

/** Another live process holds the spool directory: two spools in one directory would lose decisions. */
export class SpoolLockedError extends Error {
  readonly code = 'spool_locked';
  constructor(readonly dir: string) {
    super(`the stand-in spool ${dir} is in use by another process (each server process needs its own)`);
  }
}

function keyOf(processorId: string, authorizationId: string): string {
  return `${processorId}\u0000${authorizationId}`;
}

/**
 * The local spool of stand-in decisions: an append-only JSON-lines file. A decision is appended and
 * fsynced before it is answered; once the drainer has written it into the store, a `drained` mark is
 * appended. On open, decisions without a mark are pending again (draining is idempotent, so a crash
 * between the store write and the mark repeats nothing). A torn last line (a crash mid-append) was never
 * answered and is dropped. When nothing is pending, the file is replaced by an empty one.
 */
export class StandInSpool {
  private readonly path: string;
  private file: FileHandle | null = null;
  private readonly pending = new Map<string, SpooledDecision>();
  private queue: string[] = [];
  private flushing: Promise<void> | null = null;
  private writeChain: Promise<void> = Promise.resolve();
  private release: (() => Promise<void>) | null = null;
  private lockLost: Error | null = null;
  /** Set while a lost lock is being taken again. */
  private regaining: Promise<void> | null = null;

  constructor(
    readonly dir: string,
    private readonly lock: SpoolLockOptions = {},
  ) {
    this.path = join(dir, FILE);
  }

  /**
   * Locks the directory, creates it, reads what an earlier process left pending and opens the file for
   * appends. The lock keeps a second process off the directory: its compaction would rename an empty file
   * over this one's appends, losing answered decisions. A process that dies leaves its lock; it is taken
   * over once it has not been refreshed for `staleMs` (the holder refreshes it every fifth of that). A lock
   * still refreshed after `waitMs` fails with {@link SpoolLockedError}.
   *
   * A holder loses its lock when a refresh comes later than `staleMs` (a stalled process, or the clock
   * jumping ahead) or the lock is removed. It then answers no stand-in (another process may compact the
   * file), keeps draining what is pending (idempotent) and never compacts; and it tries to take the lock
   * again, as any process would (once stale, or at once if removed). Holding it again, it reopens the file
   * and writes back every decision still pending, since another process may have replaced the file
   * meanwhile, and answers stand-ins again. If another live process took the lock, it stays lost.
   */
  async open(): Promise<void> {
    if (this.file) return;
    await mkdir(this.dir, { recursive: true });
    try {
      this.release = await this.acquire();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOCKED') throw new SpoolLockedError(this.dir);
      throw err;
    }
    try {
      await this.load();
    } catch (err) {
      const release = this.release;
      this.release = null;
      await release?.().catch(() => {});
      throw err;
    }
  }

  private acquire(): Promise<() => Promise<void>> {
    const staleMs = this.lock.staleMs ?? 10_000;
    const waitMs = this.lock.waitMs ?? 12_000;
    const stepMs = Math.min(1_000, Math.max(50, Math.floor(waitMs / 10)));
    return lockfile.lock(this.dir, {
      lockfilePath: join(this.dir, LOCK),
      realpath: false,
      stale: staleMs,
      update: Math.max(1_000, Math.floor(staleMs / 5)),
      retries: { retries: Math.ceil(waitMs / stepMs), factor: 1, minTimeout: stepMs, maxTimeout: stepMs },
      onCompromised: (err) => this.lost(err),
    });
  }

  private lost(err: Error): void {
    this.lockLost = err;
    this.release = null;
    this.lock.onLost?.(err);
    this.regaining ??= this.regain().finally(() => {
      this.regaining = null;
    });
  }

  /** Takes a lost lock again if no other process holds it; see {@link open}. */
  private async regain(): Promise<void> {
    let release: () => Promise<void>;
    try {
      release = await this.acquire();
    } catch {
      return; // another process holds it (or the directory is gone): the lock stays lost
    }
    if (!this.file) {
      await release().catch(() => {});
      return;
    }
    this.release = release;
    try {
      const reopen = this.writeChain.then(async () => {
        const old = this.file;
        if (!old) return;
        this.file = await open(this.path, 'a');
        await old.close();
      });
      this.writeChain = reopen.catch(() => {});
      await reopen;
      await Promise.all(this.list().map((entry) => this.write(JSON.stringify(entry))));
    } catch {
      return; // the file could not be reopened or written: the lock stays lost, as it was
    }
    this.lockLost = null;
    this.lock.onRegained?.();
  }

  /** Reads what an earlier process left pending and opens the file for appends. */
  private async load(): Promise<void> {
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const lines = text.split('\n');
    const drained = new Set<string>();
    const decisions: SpooledDecision[] = [];
    for (const line of lines) {
      if (line === '') continue;
      let entry: SpooledDecision | DrainedMark;
      try {
        entry = JSON.parse(line);
      } catch {
        continue; // a torn append: never answered
      }
      if (entry.kind === 'drained') drained.add(entry.decision_id);
      else if (entry.kind === 'decision') decisions.push(entry);
    }
    for (const d of decisions) {
      if (!drained.has(d.decision.decision_id)) this.pending.set(keyOf(d.processor_id, d.request.authorization_id), d);
    }
    // A torn line must not glue itself to the next append.
    if (text !== '' && !text.endsWith('\n')) {
      const fixed = await open(this.path, 'a');
      await fixed.write('\n');
      await fixed.sync();
      await fixed.close();
    }
    this.file = await open(this.path, 'a');
  }

  /** The pending decision of an authorization id, if one is spooled and not yet drained. */
  find(processorId: string, authorizationId: string): SpooledDecision | undefined {
    return this.pending.get(keyOf(processorId, authorizationId));
  }

  /** Pending decisions, oldest first. */
  list(): SpooledDecision[] {
    return [...this.pending.values()];
  }

  get size(): number {
    return this.pending.size;
  }

  /** Appends a decision durably (fsync); resolves once it is on disk. Appends of one moment share an fsync. */
  async append(entry: SpooledDecision): Promise<void> {
    if (this.lockLost) throw new Error(`the stand-in spool lost its lock: ${this.lockLost.message}`);
    await this.write(JSON.stringify(entry));
    this.pending.set(keyOf(entry.processor_id, entry.request.authorization_id), entry);
  }

  /** Records that a decision is in the store; compacts the file when nothing is pending any more. */
  async markDrained(entry: SpooledDecision): Promise<void> {
    const mark: DrainedMark = { kind: 'drained', decision_id: entry.decision.decision_id };
    await this.write(JSON.stringify(mark));
    const key = keyOf(entry.processor_id, entry.request.authorization_id);
    if (this.pending.get(key) === entry) this.pending.delete(key);
    if (this.pending.size === 0) await this.compact();
  }

  async close(): Promise<void> {
    await this.flushing;
    await this.writeChain;
    const file = this.file;
    this.file = null;
    await file?.close();
    const release = this.release;
    this.release = null;
    // A lock already lost is not ours to remove (one being taken again is released by `regain`).
    if (release && !this.lockLost) await release().catch(() => {});
  }

  private write(line: string): Promise<void> {
    if (!this.file) return Promise.reject(new Error('the stand-in spool is not open'));
    this.queue.push(`${line}\n`);
    // Group commit: every line queued while an fsync runs goes out with the next one.
    this.flushing ??= this.writeChain.then(() => this.flush());
    return this.flushing;
  }

  private async flush(): Promise<void> {
    const file = this.file;
    const batch = this.queue.join('');
    this.queue = [];
    this.flushing = null;
    if (!file) throw new Error('the stand-in spool is closed');
    const done = (async () => {
      await file.write(batch);
      await file.sync();
    })();
    this.writeChain = done.catch(() => {});
    await done;
  }

  /** Replaces the file by an empty one (atomically, by rename) when every decision in it is drained. */
  private async compact(): Promise<void> {
    const run = this.writeChain.then(async () => {
      if (this.pending.size !== 0 || this.queue.length !== 0 || !this.file || this.lockLost) return;
      const tmp = `${this.path}.tmp`;
      const empty = await open(tmp, 'w');
      await empty.sync();
      await empty.close();
      await rename(tmp, this.path);
      const dir = await open(this.dir, 'r');
      await dir.sync().catch(() => {});
      await dir.close();
      const old = this.file;
      this.file = await open(this.path, 'a');
      await old.close();
    });
    this.writeChain = run.catch(() => {});
    await run;
  }
}
