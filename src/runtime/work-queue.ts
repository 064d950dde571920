import { AsyncLocalStorage } from 'node:async_hooks';
import type { Clock } from '../clock.ts';
import { backoffDelay, defaultReconcileBackoff, type BackoffPolicy } from './backoff.ts';

/** What a worker tells the queue about one processed key. */
export type WorkResult =
  /** Success: the key's failure count is reset; with `requeueAfterMs` it comes back after that delay. */
  | { type: 'done'; requeueAfterMs?: number }
  /** Failure worth retrying (or a wait that polls): the key comes back after its per-key exponential backoff, at least `minDelayMs`. */
  | { type: 'retry'; minDelayMs?: number }
  /** Failure retrying cannot fix: forgotten until something adds it again. */
  | { type: 'drop' };

/** Processes one key. `signal` aborts when a graceful shutdown passes its deadline. */
export type WorkFn = (key: string, signal: AbortSignal) => Promise<WorkResult>;

/** The queue and worker a WorkFn runs for, so `parkWhile` can lend the worker out. */
const parking = new AsyncLocalStorage<{ park: <T>(wait: Promise<T>) => Promise<T> }>();

/**
 * Awaits `wait` without holding a worker of the WorkQueue whose work calls it: while it waits (for a turn in
 * a queue outside the process's control, e.g. a Neon project that runs one change at a time), another key is
 * processed in its place. When it ends, the work takes the next worker that comes free, before any queued key,
 * so no more than `concurrency` works run at once. Outside a WorkQueue's work it is just `wait`.
 */
export function parkWhile<T>(wait: Promise<T>): Promise<T> {
  const store = parking.getStore();
  return store ? store.park(wait) : wait;
}

export interface WorkQueueOptions {
  clock: Clock;
  /** Number of keys processed at the same time (distinct keys only). */
  concurrency: number;
  backoff?: BackoffPolicy;
}

export interface ShutdownReport {
  /** Keys still being processed when the deadline passed (their signal was aborted). */
  abortedKeys: string[];
}

/**
 * A deduplicating work queue in the manner of client-go's workqueue:
 * - a key that is already queued is not queued twice;
 * - a key being processed is never processed by two workers at once; if it is added while in flight it
 *   is processed once more afterwards (the world changed while we looked at it);
 * - per-key exponential backoff for failures, reset on success;
 * - `addAfter` delays a key; if it is already waiting, the earliest time wins;
 * - at most `concurrency` keys in flight; `shutdown` stops intake and waits for in-flight work up to a
 *   deadline, then aborts it.
 * Keys can be added before `start`: they wait (deduplicated) until workers run, e.g. until this replica
 * becomes the leader.
 */
export class WorkQueue {
  readonly #clock: Clock;
  readonly #concurrency: number;
  readonly #backoff: BackoffPolicy;

  /** FIFO of keys ready to process; every entry is also in #dirty. */
  readonly #queue: string[] = [];
  /** Keys that need processing (queued, or re-added while in flight). */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  /** Delayed keys and when they become ready. */
  readonly #waiting = new Map<string, number>();
  readonly #failures = new Map<string, number>();

  #idleWorkers: Array<() => void> = [];
  #workers: Promise<void>[] = [];
  #work: WorkFn | undefined;
  /** Parked work whose wait has ended, waiting for a worker to come free (served before queued keys). */
  readonly #resuming: Array<() => void> = [];
  #timer: { at: number; ctl: AbortController } | undefined;
  #shuttingDown = false;
  readonly #abort = new AbortController();

  constructor(options: WorkQueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new Error(`WorkQueue concurrency must be a positive integer, got ${options.concurrency}`);
    }
    this.#clock = options.clock;
    this.#concurrency = options.concurrency;
    this.#backoff = options.backoff ?? defaultReconcileBackoff;
  }

  /** Marks `key` as needing work now. No-op if already queued or shutting down. */
  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // picked up again when the current run finishes
    this.#queue.push(key);
    this.#idleWorkers.shift()?.();
  }

  /**
   * Marks `key` as needing work now, ahead of the keys already queued: work it started elsewhere has ended (see
   * `wakeWhen`), and finishing what was begun lets what waits for it begin. Moves it up if it is queued already.
   */
  addFirst(key: string): void {
    if (this.#shuttingDown) return;
    if (this.#dirty.has(key)) {
      const i = this.#queue.indexOf(key);
      if (i <= 0) return; // in flight (runs again afterwards), or first already
      this.#queue.splice(i, 1);
    } else {
      this.#dirty.add(key);
      if (this.#processing.has(key)) return;
    }
    this.#queue.unshift(key);
    this.#idleWorkers.shift()?.();
  }

  /** Adds `key` after `ms`. If the key is already waiting, the earlier of the two times is kept. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + ms;
    const current = this.#waiting.get(key);
    if (current !== undefined && current <= at) return;
    this.#waiting.set(key, at);
    this.#scheduleTimer();
  }

  /** Adds `key` after its backoff delay (or `minDelayMs` if longer) and counts one more failure for it. */
  addRateLimited(key: string, minDelayMs = 0): void {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    this.addAfter(key, Math.max(minDelayMs, backoffDelay(this.#backoff, failures)));
  }

  /** Resets the key's failure count (its next failure waits `baseMs` again). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Consecutive failures recorded for `key`. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Snapshot of the queue's size, for metrics and tests. */
  get stats(): { queued: number; processing: number; waiting: number } {
    return { queued: this.#queue.length, processing: this.#processing.size, waiting: this.#waiting.size };
  }

  get isShuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Starts `concurrency` workers running `work`. Call once. */
  start(work: WorkFn): void {
    if (this.#work) throw new Error('WorkQueue already started');
    if (this.#shuttingDown) throw new Error('WorkQueue is shut down');
    this.#work = work;
    for (let i = 0; i < this.#concurrency; i++) this.#spawn();
  }

  #spawn(): void {
    if (!this.#work) return;
    const worker = this.#runWorker(this.#work).finally(() => {
      const i = this.#workers.indexOf(worker);
      if (i >= 0) this.#workers.splice(i, 1);
    });
    this.#workers.push(worker);
  }

  readonly #park = async <T>(wait: Promise<T>): Promise<T> => {
    if (!this.#shuttingDown) this.#spawn();
    try {
      return await wait;
    } finally {
      await this.#resume();
    }
  };

  /** Takes a worker back for parked work: the next one to come free hands itself over and stops. */
  #resume(): Promise<void> {
    if (this.#shuttingDown) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#resuming.push(resolve);
      this.#idleWorkers.shift()?.();
    });
  }

  /**
   * Stops intake (adds and delayed keys are dropped), lets in-flight work finish for up to `deadlineMs`,
   * then aborts the in-flight work's signal and waits up to `abandonAfterMs` more for it to settle.
   * Idempotent: later calls wait for the same workers.
   */
  async shutdown(deadlineMs: number, abandonAfterMs = 5_000): Promise<ShutdownReport> {
    this.#shuttingDown = true;
    this.#timer?.ctl.abort();
    this.#timer = undefined;
    this.#waiting.clear();
    for (const wake of this.#idleWorkers.splice(0)) wake();
    for (const resume of this.#resuming.splice(0)) resume();
    const allDone = this.#allWorkersDone().then(() => true);
    if (await this.#raceDeadline(allDone, deadlineMs)) return { abortedKeys: [] };
    const abortedKeys = [...this.#processing];
    this.#abort.abort(new Error('graceful shutdown deadline passed'));
    await this.#raceDeadline(allDone, abandonAfterMs);
    return { abortedKeys };
  }

  /** Workers spawned while waiting (parked work) are waited for too. */
  async #allWorkersDone(): Promise<void> {
    while (this.#workers.length > 0) await Promise.allSettled([...this.#workers]);
  }

  async #raceDeadline(done: Promise<boolean>, ms: number): Promise<boolean> {
    const ctl = new AbortController();
    const timeout = this.#clock.sleep(ms, ctl.signal).then(
      () => false,
      () => false,
    );
    try {
      return await Promise.race([done, timeout]);
    } finally {
      ctl.abort();
    }
  }

  async #runWorker(work: WorkFn): Promise<void> {
    for (;;) {
      const key = await this.#next();
      if (key === undefined) return;
      let result: WorkResult;
      try {
        result = await parking.run({ park: this.#park }, () => work(key, this.#abort.signal));
      } catch {
        // A WorkFn is expected to classify its own errors; an escaped one is treated as retryable.
        result = { type: 'retry' };
      }
      this.#finish(key, result);
    }
  }

  async #next(): Promise<string | undefined> {
    for (;;) {
      if (this.#shuttingDown) return undefined;
      const resume = this.#resuming.shift();
      if (resume) {
        // Parked work whose wait ended goes on in this worker's place, before any queued key.
        resume();
        return undefined;
      }
      const key = this.#queue.shift();
      if (key !== undefined) {
        this.#dirty.delete(key);
        this.#processing.add(key);
        return key;
      }
      await new Promise<void>((resolve) => this.#idleWorkers.push(resolve));
    }
  }

  #finish(key: string, result: WorkResult): void {
    this.#processing.delete(key);
    if (this.#shuttingDown) return;
    switch (result.type) {
      case 'done':
        this.forget(key);
        if (result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
          this.addAfter(key, result.requeueAfterMs);
        }
        break;
      case 'retry':
        this.addRateLimited(key, result.minDelayMs);
        break;
      case 'drop':
        this.forget(key);
        break;
    }
    if (this.#dirty.has(key)) {
      this.#queue.push(key);
      this.#idleWorkers.shift()?.();
    }
  }

  #scheduleTimer(): void {
    if (this.#shuttingDown) return;
    let earliest = Infinity;
    for (const at of this.#waiting.values()) earliest = Math.min(earliest, at);
    if (earliest === Infinity) {
      this.#timer?.ctl.abort();
      this.#timer = undefined;
      return;
    }
    if (this.#timer && this.#timer.at <= earliest) return;
    this.#timer?.ctl.abort();
    const timer = { at: earliest, ctl: new AbortController() };
    this.#timer = timer;
    this.#clock.sleep(earliest - this.#clock.now(), timer.ctl.signal).then(
      () => {
        if (this.#timer !== timer) return;
        this.#timer = undefined;
        const now = this.#clock.now();
        for (const [key, at] of this.#waiting) {
          if (at <= now) {
            this.#waiting.delete(key);
            this.add(key);
          }
        }
        this.#scheduleTimer();
      },
      () => {
        // aborted: superseded by an earlier deadline or by shutdown
      },
    );
  }
}
