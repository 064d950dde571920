import { SeededRandom } from './random.ts';
import type { OperationOutcome } from './state.ts';

/**
 * Injected failures. Probabilities are per request in [0, 1]; at most one request fault is chosen per
 * request, in the order 429, 500, 503, 524, reset. A 429 or 503 never applies the request. A 500, 524 or
 * connection reset on a mutation first applies it with probability `appliedBeforeFailure`: "applied,
 * then the answer was lost" is the case the operator must survive.
 */
export interface FaultConfig {
  rate429?: number;
  rate500?: number;
  rate503?: number;
  rate524?: number;
  /** Destroys the socket without an answer. */
  resetRate?: number;
  /** Probability (default 0.5) that a mutation hit by 500/524/reset was applied before failing. */
  appliedBeforeFailure?: number;
  /** Added latency (ms of the emulator's clock) before every answer. */
  latencyMs?: number;
  /** Extra uniformly random latency in [0, latencyJitterMs). */
  latencyJitterMs?: number;
  /** Probability that a new operation ends in `operationFailureStatus` instead of `finished`. */
  operationFailureRate?: number;
  operationFailureStatus?: 'failed' | 'error';
  /**
   * Restricts request faults and latency to these routes: entries are `METHOD /template`
   * (e.g. `POST /projects/{project_id}/branches`) or just a template (any method).
   */
  routes?: string[];
}

/**
 * The mix `npm run chaos` runs at: 10 % 429, 5 % 5xx (500, 503), 2 % 524 or connection reset, half of the failed
 * mutations applied anyway (a 503 never is), and 3 % of Neon operations ending in error.
 */
export const CHAOS_FAULTS: Readonly<FaultConfig> = {
  rate429: 0.1,
  rate500: 0.03,
  rate503: 0.02,
  rate524: 0.01,
  resetRate: 0.01,
  appliedBeforeFailure: 0.5,
  operationFailureRate: 0.03,
  operationFailureStatus: 'error',
};

export type RequestFault = 'none' | '429' | '500' | '503' | '524' | 'reset';

export interface FaultDecision {
  fault: RequestFault;
  /** Whether the handler runs (state changes) before the fault is delivered. */
  apply: boolean;
  latencyMs: number;
}

export class FaultInjector {
  #config: FaultConfig;
  readonly #rng: SeededRandom;
  /** Separate stream, so request faults and operation failures do not shift each other's choices. */
  readonly #opRng: SeededRandom;

  constructor(config: FaultConfig, seed: number) {
    this.#config = { ...config };
    this.#rng = new SeededRandom(seed + 1);
    this.#opRng = new SeededRandom(seed + 2);
  }

  set(config: FaultConfig): void {
    this.#config = { ...config };
  }

  get config(): Readonly<FaultConfig> {
    return this.#config;
  }

  #applies(method: string, template: string): boolean {
    const routes = this.#config.routes;
    if (!routes || routes.length === 0) return true;
    return routes.some((r) => r === template || r === `${method} ${template}`);
  }

  decide(method: string, template: string): FaultDecision {
    const c = this.#config;
    if (!this.#applies(method, template)) return { fault: 'none', apply: true, latencyMs: 0 };
    const latencyMs = (c.latencyMs ?? 0) + (c.latencyJitterMs ? this.#rng.next() * c.latencyJitterMs : 0);
    const mutation = method !== 'GET';
    const table: Array<[RequestFault, number | undefined]> = [
      ['429', c.rate429],
      ['500', c.rate500],
      ['503', c.rate503],
      ['524', c.rate524],
      ['reset', c.resetRate],
    ];
    const total = table.reduce((sum, [, p]) => sum + Math.max(0, p ?? 0), 0);
    if (total <= 0) return { fault: 'none', apply: true, latencyMs };
    const roll = this.#rng.next();
    let acc = 0;
    for (const [fault, p] of table) {
      acc += Math.max(0, p ?? 0);
      if (roll < acc) {
        const mayApply = fault === '500' || fault === '524' || fault === 'reset';
        // A GET has no effect to lose, so "applied" only matters (and is only rolled) for mutations.
        const apply = mayApply && mutation ? this.#rng.chance(c.appliedBeforeFailure ?? 0.5) : mayApply;
        return { fault, apply, latencyMs };
      }
    }
    return { fault: 'none', apply: true, latencyMs };
  }

  /** The outcome of a newly created operation. */
  operationOutcome(): OperationOutcome {
    if (this.#opRng.chance(this.#config.operationFailureRate)) return this.#config.operationFailureStatus ?? 'error';
    return 'finished';
  }
}
