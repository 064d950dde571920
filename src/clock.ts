import { setTimeout as delay } from 'node:timers/promises';

/**
 * Time as the operator, the Neon scheduler and the emulator see it. Injected everywhere so tests can
 * run hours of rate-limit or operation time in seconds without changing any behaviour.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` of this clock's time; rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    await delay(Math.max(0, ms), undefined, signal ? { signal } : undefined);
  },
};

/**
 * A clock that runs `factor` times faster than real time, starting at the real time of its creation.
 * Sharing one instance between the emulator and the client keeps both sides consistent while a test
 * that covers minutes of Neon's rate limits finishes in seconds.
 */
export class ScaledClock implements Clock {
  readonly #origin: number;
  readonly #factor: number;

  constructor(factor: number, origin = Date.now()) {
    if (!(factor > 0)) throw new Error(`ScaledClock factor must be > 0, got ${factor}`);
    this.#factor = factor;
    this.#origin = origin;
  }

  now(): number {
    return this.#origin + (Date.now() - this.#origin) * this.#factor;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    await systemClock.sleep(ms / this.#factor, signal);
  }
}
