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
 * jittered exponential backoff when Neon sends none), and are then paced at a fraction of the account's
 * rate that recovers linearly back to full over `recoveryMs`. Why pacing and not a smaller window: a
 * window shrunk below what the last minute already used admits nothing until enough of it expires, so
 * one 429 at full speed idled the account for half a minute after a one-second Retry-After. Why a high
 * floor and one halving per Retry-After: a 429 we keep meeting at a fraction of the limit is not caused
 * by our rate (a neighbour on the account, a flaky limiter); Retry-After is Neon's own answer to it. Why
 * the pace holds even when our own window is nearly empty: such a 429 comes from usage this budget cannot
 * see (a neighbour, a predecessor process), and a burst up to the slowed-down share of the window only
 * meets more of them (measured: 63 after a restart, against at most a few with the pace alone).
 *
 * After a start the account window ramps up linearly over `rampUpMs` (default one window), from one
 * request: what this process's predecessor sent in the last minute still counts at Neon, a steady
 * predecessor's share fades at the rate this ramp grows, and a busy one used nearly all of the minute.
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
  /**
   * Fraction of the rate kept after a 429, at most once per Retry-After, then recovering. Default 0.5,
   * which with the default floor takes a first 429 straight to the floor.
   */
  slowdownFactor?: number;
  /** Time to recover linearly from the slowed-down rate to the full rate. Default one window. */
  recoveryMs?: number;
  /** Extra time a request that got no answer keeps its slot (it may still arrive). Default 5 s. */
  unansweredGraceMs?: number;
  /** Lowest fraction of the rate repeated 429s can push the budget down to. Default 0.7. */
  minMultiplier?: number;
  /**
   * Time over which the account window grows from one request to full after the budget is made.
   * Default one window; 0 starts at full.
   */
  rampUpMs?: number;
}

/**
 * A limit that never falls as time passes, given as the earliest time it admits `count` slots in use
 * (−Infinity when it always does, Infinity when it never will).
 */
interface RisingLimit {
  reaches(count: number): number;
}

function fixedLimit(limit: number): RisingLimit {
  return { reaches: (count) => (count <= limit ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY) };
}

/** `limit` growing linearly from 1 at `from` to full at `from + overMs`. */
function rampedLimit(limit: number, from: number, overMs: number): RisingLimit {
  if (overMs <= 0) return fixedLimit(limit);
  return {
    reaches: (count) => {
      if (count <= 1) return Number.NEGATIVE_INFINITY;
      if (count > limit) return Number.POSITIVE_INFINITY;
      return from + Math.ceil((count * overMs) / limit);
    },
  };
}

/** Requests a pace may send at once after an idle stretch: what one second withheld by a Retry-After pause. */
const PACE_BURST_MS = 1_000;

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

  /**
   * Earliest time the slots in use fall under `limit`, as released slots expire and the limit rises; or
   * Infinity when only an in-flight response can free one.
   */
  nextFreeAt(now: number, limit: RisingLimit): number {
    const used = this.count(now);
    let best = Number.POSITIVE_INFINITY;
    // `expired` released slots have aged out from `freeFrom` on; expiries only get later and the count
    // the limit must reach only smaller, so the first candidate past the best so far ends the search.
    for (let expired = 0; expired <= this.#released.length; expired++) {
      const freeFrom = expired === 0 ? now : (this.#released[expired - 1] as number) + this.windowMs;
      if (freeFrom >= best) break;
      best = Math.min(best, Math.max(freeFrom, limit.reaches(used - expired + 1)));
    }
    return best;
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
  readonly #accountLimit: RisingLimit;
  readonly #routeLimit: RisingLimit;
  readonly #routes = new Map<string, SlidingWindow>();
  #pausedUntil = 0;
  /** Multiplier applied at the last 429; recovers linearly to 1 from `#lastSlowdownAt`. */
  #slowedTo = 1;
  #lastSlowdownAt = Number.NEGATIVE_INFINITY;
  /** Until then a 429 does not slow the account further: it reports what the last slowdown answered. */
  #slowdownHeldUntil = Number.NEGATIVE_INFINITY;
  /** While slowed down, when the next paced request is due (the theoretical arrival time of GCRA). */
  #paceDueAt = Number.NEGATIVE_INFINITY;
  #consecutive429 = 0;

  constructor(options: RateBudgetOptions) {
    this.limits = options.limits;
    this.#clock = options.clock;
    this.#random = options.random;
    this.#backoff = options.backoff ?? { baseMs: 250, capMs: 10_000 };
    this.#slowdownFactor = options.slowdownFactor ?? 0.5;
    this.#recoveryMs = options.recoveryMs ?? options.limits.windowMs;
    this.#unansweredGraceMs = options.unansweredGraceMs ?? 5_000;
    this.#minMultiplier = options.minMultiplier ?? 0.7;
    this.#account = new SlidingWindow(options.limits.windowMs);
    this.#accountLimit = rampedLimit(options.limits.perWindow, this.#clock.now(), options.rampUpMs ?? options.limits.windowMs);
    this.#routeLimit = fixedLimit(options.limits.perRoutePerSecond);
  }

  /** Current fraction of the account's rate in force after 429s (1 = full speed, no pacing). */
  multiplier(now = this.#clock.now()): number {
    if (this.#slowedTo >= 1) return 1;
    const recovered = this.#slowedTo + ((1 - this.#slowedTo) * (now - this.#lastSlowdownAt)) / this.#recoveryMs;
    return Math.min(1, recovered);
  }

  /** Time between paced requests at `multiplier`: the account's average rate scaled down. */
  #paceInterval(multiplier: number): number {
    return this.limits.windowMs / (this.limits.perWindow * multiplier);
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
    const accountAt = this.#account.nextFreeAt(now, this.#accountLimit);
    const routeAt = this.#route(route).nextFreeAt(now, this.#routeLimit);
    const pacedAt = this.multiplier(now) < 1 ? this.#paceDueAt - PACE_BURST_MS : now;
    return Math.max(now, this.#pausedUntil, accountAt, routeAt, pacedAt);
  }

  /** Reserves a slot; only call when `availableAt(route)` is <= now. */
  take(route: string): RateSlot {
    const routeWindow = this.#route(route);
    const now = this.#clock.now();
    const multiplier = this.multiplier(now);
    if (multiplier < 1) this.#paceDueAt = Math.max(this.#paceDueAt, now) + this.#paceInterval(multiplier);
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
   * Neon answered 429: pause the whole account for Retry-After (or a jittered exponential backoff), then
   * pace it at a reduced rate; halves that rate at most once per pause. Returns the pause in ms.
   */
  onRateLimited(retryAfterMs: number | undefined, sentAt?: number): number {
    const now = this.#clock.now();
    this.#consecutive429++;
    const pause =
      retryAfterMs !== undefined && retryAfterMs >= 0
        ? retryAfterMs
        : fullJitterBackoff(this.#consecutive429, this.#backoff, this.#random);
    this.#pausedUntil = Math.max(this.#pausedUntil, now + pause);
    // Requests sent before our last slowdown, or answered within its pause, report the congestion we
    // already reacted to: slow down once per event, not once per request in flight when Neon refused.
    const newEvent = (sentAt === undefined || sentAt >= this.#lastSlowdownAt) && now >= this.#slowdownHeldUntil;
    if (newEvent) {
      this.#slowedTo = Math.max(this.#minMultiplier, this.multiplier(now) * this.#slowdownFactor);
      this.#lastSlowdownAt = now;
      this.#slowdownHeldUntil = now + pause;
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
