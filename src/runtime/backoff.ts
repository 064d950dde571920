/** Exponential backoff: `baseMs * 2^failures`, never above `capMs`. */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/** client-go's controller default is 5ms → 1000s; for an operator talking to a rate-limited SaaS, 1s → 5min. */
export const defaultReconcileBackoff: BackoffPolicy = { baseMs: 1_000, capMs: 5 * 60_000 };

/**
 * Delay before retry number `failures + 1` (0 failures → baseMs). `jitter` in [0, 1) spreads retries of
 * many clients (informers restarting after an API server restart) by adding up to that fraction.
 */
export function backoffDelay(policy: BackoffPolicy, failures: number, jitter = 0): number {
  const exp = policy.baseMs * 2 ** Math.min(failures, 52);
  const capped = Math.min(policy.capMs, exp);
  return Math.min(policy.capMs, Math.round(capped * (1 + jitter)));
}
