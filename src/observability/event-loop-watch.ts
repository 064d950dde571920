/**
 * Watches the event loop for stalls, for `/healthz`. A loop that is fully blocked cannot answer the probe
 * at all (the kubelet's timeout catches that); this catches the loop that still turns but so slowly that
 * the operator is useless (e.g. a runaway synchronous loop yielding rarely): each tick of a periodic timer
 * records how late it fired, and the loop counts as stuck while the latest lateness exceeds the limit.
 */
export interface EventLoopWatchOptions {
  /** How often the timer ticks, in ms. Default 1000. */
  intervalMs?: number;
  /** Lateness above which the loop counts as stuck, in ms. Default 10 000. */
  maxLagMs?: number;
  /** Real time (the watch is about this process's event loop, so it never uses a scaled clock). */
  now?: () => number;
}

export class EventLoopWatch {
  readonly intervalMs: number;
  readonly maxLagMs: number;
  readonly #now: () => number;
  #expected = 0;
  #lastLagMs = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: EventLoopWatchOptions = {}) {
    this.intervalMs = options.intervalMs ?? 1_000;
    this.maxLagMs = options.maxLagMs ?? 10_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Starts ticking; the timer is unref'd so it never keeps the process alive. Idempotent. */
  start(): void {
    if (this.#timer) return;
    this.#expected = this.#now() + this.intervalMs;
    this.#timer = setInterval(() => this.tick(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Records one tick (called by the timer; exposed so the arithmetic is testable without waiting). */
  tick(): void {
    const now = this.#now();
    this.#lastLagMs = Math.max(0, now - this.#expected);
    this.#expected = now + this.intervalMs;
  }

  /**
   * The lag the loop shows now: the latest tick's lateness, or, if the next tick is already overdue, how
   * overdue it is (a loop that stopped ticking must not look healthy because its last tick was on time).
   */
  get lagMs(): number {
    if (!this.#timer) return this.#lastLagMs;
    return Math.max(this.#lastLagMs, this.#now() - this.#expected);
  }

  get stuck(): boolean {
    return this.lagMs > this.maxLagMs;
  }
}
