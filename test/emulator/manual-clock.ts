import type { Clock } from '../../src/clock.ts';

/**
 * A clock that only moves when told to. `sleep` advances it by the requested time and resolves at once,
 * so emulator latency never blocks a test; `advance` moves it for operation progress.
 */
export class ManualClock implements Clock {
  #now: number;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): void {
    this.#now += ms;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.#now += Math.max(0, ms);
  }
}
