/** Neon's documented limits: 700 requests per minute per account, bursts of 40 per second per route. */
export interface RateLimits {
  perMinute: number;
  perRoutePerSecond: number;
  /** Send `Retry-After` (whole seconds) with a 429. */
  retryAfter: boolean;
}

export const NEON_LIMITS: Readonly<RateLimits> = { perMinute: 700, perRoutePerSecond: 40, retryAfter: true };

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number; scope: 'minute' | 'route' };

/**
 * Sliding-window counters. Only admitted requests count, so a client that keeps hammering after a 429
 * is not punished beyond the window, which is the most lenient reading of Neon's documentation.
 */
export class RateLimiter {
  readonly #limits: RateLimits;
  readonly #perAccount = new Map<string, number[]>();
  readonly #perRoute = new Map<string, number[]>();

  constructor(limits: RateLimits) {
    this.#limits = limits;
  }

  /** Admits and records the request, or says how long until it would be admitted. */
  check(account: string, route: string, now: number): RateDecision {
    const minute = prune(this.#perAccount, account, now - 60_000);
    const routeKey = `${account} ${route}`;
    const second = prune(this.#perRoute, routeKey, now - 1_000);
    if (minute.length >= this.#limits.perMinute) {
      return { allowed: false, scope: 'minute', retryAfterSeconds: waitSeconds(minute, this.#limits.perMinute, 60_000, now) };
    }
    if (second.length >= this.#limits.perRoutePerSecond) {
      return { allowed: false, scope: 'route', retryAfterSeconds: waitSeconds(second, this.#limits.perRoutePerSecond, 1_000, now) };
    }
    minute.push(now);
    second.push(now);
    return { allowed: true };
  }
}

function prune(map: Map<string, number[]>, key: string, since: number): number[] {
  let list = map.get(key);
  if (!list) {
    list = [];
    map.set(key, list);
  }
  let drop = 0;
  while (drop < list.length && (list[drop] ?? 0) <= since) drop++;
  if (drop > 0) list.splice(0, drop);
  return list;
}

function waitSeconds(list: number[], limit: number, windowMs: number, now: number): number {
  // The request is admitted once the oldest entries that put the window at its limit have aged out.
  const oldest = list[list.length - limit] ?? now;
  return Math.max(1, Math.ceil((oldest + windowMs - now) / 1000));
}
