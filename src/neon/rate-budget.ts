/**
 * RateBudget: the request budget of ONE Neon account (API key), shared by everything in the process that
 * uses that key. Neon allows 700 requests per minute per account and bursts of up to 40 requests per
 * second per route; over that it answers 429.
 *
 * Why sliding windows that hold a slot until a window AFTER the response: Neon counts a request when it
 * arrives, somewhere between our send and our receipt of the answer. If every request keeps its slot from
 * send until `window` after its response, then for any two requests counted in the same slot set, their
 * arrival times can be less than `window` apart, and no arrival-time window on Neon's side can contain
 * more than `limit` of ours, whatever the network latency. The cost is throughput lost to latency only.
 *
 * Why the route key is the path template without the method: Neon does not document what a "route" is;
 * a template is at least as strict as method+template or concrete path, so we stay under whichever
 * Neon uses.
 *
 * On a 429 the whole account slows down (not just the route): new requests pause until Retry-After (or a
 * jittered exponential backoff when Neon sends none), and the effective limits drop to a fraction that
 * recovers linearly back to full over `recoveryMs`.
 */
import type { Clock } from '../clock.ts';

export interface RateLimits {
  /** Requests per `windowMs` for the whole account. Neon: 700 per minute. */
  perWindow: number;
  windowMs: number;
  /** Requests per second per route. Neon: 40. */
  perRoutePerSecond: number;
}

export const neonRateLimits: RateLimits = { perWindow: 700, windowMs: 60_000, perRoutePerSecond: 40 };

export interface BackoffPolicy {
  /** First delay of the jittered exponential backoff, in ms. */
  baseMs: number;
  /** Upper bound of any single backoff delay, in ms. */
  capMs: number;
}

export interface RateBudgetOptions {
  limits: RateLimits;
  clock: Clock;
  /** Returns a number in [0, 1). Injected so jitter is deterministic in tests. */
  random: () => number;
  /** Backoff when a 429 carries no Retry-After. */
  backoff?: BackoffPolicy;
  /** Fraction of the limits kept right after a 429 (then recovers). Default 0.5, halved again per 429. */
  slowdownFactor?: number;
  /** Time to recover linearly from the slowed-down rate to the full rate. Default one window. */
  recoveryMs?: number;
  /** Extra time a request that got no answer keeps its slot (it may still arrive). Default 5 s. */
  unansweredGraceMs?: number;
  /** Lowest fraction of the limits repeated 429s can push the budget down to. Default 0.1. */
  minMultiplier?: number;
}

/** A sliding window of slots; a slot is held while in flight and for `windowMs` after release. */
class SlidingWindow {
  readonly windowMs: number;
  #inFlight = 0;
  /** Release times, ascending (released in clock order). */
  #released: number[] = [];

  constructor(windowMs: number) {
    this.windowMs = windowMs;
  }

  #prune(now: number): void {
    let drop = 0;
    while (drop < this.#released.length && (this.#released[drop] ?? 0) <= now - this.windowMs) drop++;
    if (drop > 0) this.#released.splice(0, drop);
  }

  count(now: number): number {
    this.#prune(now);
    return this.#inFlight + this.#released.length;
  }

  /** Earliest time a slot frees under `limit`, or Infinity when only an in-flight response can free one. */
  nextFreeAt(now: number, limit: number): number {
    const used = this.count(now);
    if (used < limit) return now;
    const index = used - limit; // this many released slots must expire
    const at = this.#released[index];
    return at === undefined ? Number.POSITIVE_INFINITY : at + this.windowMs;
  }

  take(): void {
    this.#inFlight++;
  }

  release(at: number): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    // Keep ascending order (a later-dated release may already be in; the clock may step back).
    let i = this.#released.length;
    while (i > 0 && (this.#released[i - 1] as number) > at) i--;
    this.#released.splice(i, 0, at);
  }

  get idle(): boolean {
    return this.#inFlight === 0 && this.#released.length === 0;
  }
}

/** A reserved slot in the budget; call `release` exactly once when the response (or failure) is in. */
export interface RateSlot {
  /**
   * `answered: false` when no answer came (timeout, reset, abort): the request may still reach Neon
   * later, so its slot is held `unansweredGraceMs` longer.
   */
  release(outcome?: { answered: boolean }): void;
}

export class RateBudget {
  readonly limits: RateLimits;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #backoff: BackoffPolicy;
  readonly #slowdownFactor: number;
  readonly #recoveryMs: number;
  readonly #unansweredGraceMs: number;
  readonly #minMultiplier: number;
  readonly #account: SlidingWindow;
  readonly #routes = new Map<string, SlidingWindow>();
  #pausedUntil = 0;
  /** Multiplier applied at the last 429; recovers linearly to 1 from `#lastSlowdownAt`. */
  #slowedTo = 1;
  #lastSlowdownAt = Number.NEGATIVE_INFINITY;
  #consecutive429 = 0;

  constructor(options: RateBudgetOptions) {
    this.limits = options.limits;
    this.#clock = options.clock;
    this.#random = options.random;
    this.#backoff = options.backoff ?? { baseMs: 250, capMs: 10_000 };
    this.#slowdownFactor = options.slowdownFactor ?? 0.5;
    this.#recoveryMs = options.recoveryMs ?? options.limits.windowMs;
    this.#unansweredGraceMs = options.unansweredGraceMs ?? 5_000;
    this.#minMultiplier = options.minMultiplier ?? 0.1;
    this.#account = new SlidingWindow(options.limits.windowMs);
  }

  /** Current fraction of the configured limits in force (1 = full speed). */
  multiplier(now = this.#clock.now()): number {
    if (this.#slowedTo >= 1) return 1;
    const recovered = this.#slowedTo + ((1 - this.#slowedTo) * (now - this.#lastSlowdownAt)) / this.#recoveryMs;
    return Math.min(1, recovered);
  }

  #effective(limit: number, now: number): number {
    return Math.max(1, Math.floor(limit * this.multiplier(now)));
  }

  #route(route: string): SlidingWindow {
    let w = this.#routes.get(route);
    if (!w) {
      w = new SlidingWindow(1_000);
      this.#routes.set(route, w);
    }
    return w;
  }

  /**
   * When a request on `route` may be sent: `now` if right away, a later time, or Infinity when the
   * budget is full of in-flight requests (the caller waits for a release).
   */
  availableAt(route: string, now = this.#clock.now()): number {
    const accountAt = this.#account.nextFreeAt(now, this.#effective(this.limits.perWindow, now));
    const routeAt = this.#route(route).nextFreeAt(now, this.#effective(this.limits.perRoutePerSecond, now));
    return Math.max(this.#pausedUntil, accountAt, routeAt);
  }

  /** Reserves a slot; only call when `availableAt(route)` is <= now. */
  take(route: string): RateSlot {
    const routeWindow = this.#route(route);
    this.#account.take();
    routeWindow.take();
    let released = false;
    return {
      release: (outcome = { answered: true }) => {
        if (released) return;
        released = true;
        const at = this.#clock.now() + (outcome.answered ? 0 : this.#unansweredGraceMs);
        this.#account.release(at);
        routeWindow.release(at);
      },
    };
  }

  /**
   * Neon answered 429: pause the whole account until Retry-After (or a jittered exponential backoff) and
   * slow every later request down. Returns the pause in ms.
   */
  onRateLimited(retryAfterMs: number | undefined, sentAt?: number): number {
    const now = this.#clock.now();
    this.#consecutive429++;
    const pause =
      retryAfterMs !== undefined && retryAfterMs >= 0
        ? retryAfterMs
        : fullJitterBackoff(this.#consecutive429, this.#backoff, this.#random);
    this.#pausedUntil = Math.max(this.#pausedUntil, now + pause);
    // Requests sent before our last slowdown report the congestion we already reacted to: slow down
    // once per event, not once per request that was in flight when Neon started refusing.
    if (sentAt === undefined || sentAt >= this.#lastSlowdownAt) {
      this.#slowedTo = Math.max(this.#minMultiplier, this.multiplier(now) * this.#slowdownFactor);
      this.#lastSlowdownAt = now;
    }
    return pause;
  }

  /** Any non-429 answer ends a run of 429s (the backoff restarts from its base next time). */
  onAnswered(): void {
    this.#consecutive429 = 0;
  }

  get pausedUntil(): number {
    return this.#pausedUntil;
  }
}

/** "Full jitter" exponential backoff: a uniform delay in [0, min(cap, base * 2^(attempt-1))]. */
export function fullJitterBackoff(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  // Never zero: a zero delay after a failure would just hammer the same condition again.
  return Math.max(policy.baseMs / 4, Math.floor(random() * ceiling));
}

/** Parses Retry-After (delta seconds or HTTP date) into ms from `now`; undefined when absent or garbage. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
