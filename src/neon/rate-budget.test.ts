import { describe, expect, it } from 'vitest';
import type { Clock } from '../clock.ts';
import { fullJitterBackoff, parseRetryAfter, RateBudget } from './rate-budget.ts';

class FakeClock implements Clock {
  t = 1_000_000;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
}

function budget(clock: FakeClock, random = () => 0.5): RateBudget {
  return new RateBudget({ limits: { perWindow: 5, windowMs: 60_000, perRoutePerSecond: 3 }, clock, random });
}

describe('RateBudget', () => {
  it('admits up to the per-route limit per second, then says when the next slot frees', () => {
    const clock = new FakeClock();
    const b = budget(clock);
    const slots = [b.take('/a'), b.take('/a'), b.take('/a')];
    // Three in flight: nothing frees until one answers.
    expect(b.availableAt('/a')).toBe(Number.POSITIVE_INFINITY);
    expect(b.availableAt('/b')).toBe(clock.t);
    for (const s of slots) s.release();
    // Released slots stay held for a full second after the answer.
    expect(b.availableAt('/a')).toBe(clock.t + 1_000);
    clock.t += 1_000;
    expect(b.availableAt('/a')).toBe(clock.t);
  });

  it('holds the account window across routes', () => {
    const clock = new FakeClock();
    const b = budget(clock);
    for (const route of ['/a', '/b', '/c', '/d', '/e']) b.take(route).release();
    expect(b.availableAt('/f')).toBe(clock.t + 60_000);
    clock.t += 59_999;
    expect(b.availableAt('/f')).toBe(clock.t + 1);
  });

  it('keeps the slot of an unanswered request longer, since it may still arrive', () => {
    const clock = new FakeClock();
    const b = budget(clock);
    b.take('/a').release({ answered: false });
    b.take('/a').release();
    b.take('/a').release();
    expect(b.availableAt('/a')).toBe(clock.t + 1_000);
    clock.t += 1_000;
    // The two answered slots expired; the unanswered one is held 5 s more, but 1 of 3 is free.
    expect(b.availableAt('/a')).toBe(clock.t);
  });

  it('pauses the whole account for Retry-After on a 429 and slows down, then recovers', () => {
    const clock = new FakeClock();
    const b = budget(clock);
    expect(b.onRateLimited(2_000)).toBe(2_000);
    expect(b.availableAt('/any')).toBe(clock.t + 2_000);
    expect(b.multiplier()).toBe(0.5);
    // Slowed to half: the account window admits floor(5 * 0.5) = 2.
    clock.t += 2_000;
    b.take('/x').release();
    b.take('/y').release();
    expect(b.availableAt('/z')).toBeGreaterThan(clock.t);
    clock.t += 60_000;
    expect(b.multiplier()).toBe(1);
  });

  it('slows down once for 429s of requests that were already in flight when it reacted', () => {
    const clock = new FakeClock();
    const b = budget(clock);
    const sentAt = clock.t;
    clock.t += 10;
    b.onRateLimited(1_000, sentAt);
    b.onRateLimited(1_000, sentAt);
    b.onRateLimited(1_000, sentAt);
    expect(b.multiplier()).toBe(0.5);
    // A request sent after the slowdown that still meets a 429 slows the account further.
    b.onRateLimited(1_000, clock.t);
    expect(b.multiplier()).toBe(0.25);
  });

  it('without Retry-After, backs off exponentially with jitter from the injected random source', () => {
    const clock = new FakeClock();
    const b = budget(clock, () => 0.99);
    const first = b.onRateLimited(undefined);
    const second = b.onRateLimited(undefined);
    expect(first).toBe(Math.floor(0.99 * 250));
    expect(second).toBe(Math.floor(0.99 * 500));
    b.onAnswered();
    expect(b.onRateLimited(undefined)).toBe(first);
  });
});

describe('fullJitterBackoff', () => {
  it('stays within [base/4, cap]', () => {
    const policy = { baseMs: 100, capMs: 1_000 };
    expect(fullJitterBackoff(1, policy, () => 0)).toBe(25);
    expect(fullJitterBackoff(10, policy, () => 0.999)).toBe(999);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta seconds and HTTP dates, ignores garbage', () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter('0.5', now)).toBe(500);
    expect(parseRetryAfter('Thu, 01 Jan 2026 12:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
