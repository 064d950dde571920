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
  return new RateBudget({ limits: { perWindow: 5, windowMs: 60_000, perRoutePerSecond: 3 }, clock, random, rampUpMs: 0 });
}

/** Sends (takes and answers at once) every request the budget admits until `until`; returns how many. */
function sendWhileAdmitted(clock: FakeClock, b: RateBudget, until: number): number {
  let sent = 0;
  for (;;) {
    const at = b.availableAt('/r');
    if (at > until) return sent;
    clock.t = Math.max(clock.t, at);
    b.take('/r').release();
    sent++;
  }
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

  it('after a 429 pauses for Retry-After only, then paces the account at the slowed rate until it recovers', () => {
    const clock = new FakeClock();
    // 10 requests a second on average; the last minute already used 500 of 600.
    const b = new RateBudget({ limits: { perWindow: 600, windowMs: 60_000, perRoutePerSecond: 1_000 }, clock, random: () => 0.5, rampUpMs: 0 });
    for (let i = 0; i < 500; i++) b.take('/r').release();
    expect(b.onRateLimited(2_000)).toBe(2_000);
    // No wait for the window to drain below a smaller limit: the pause is Retry-After and no longer.
    expect(b.availableAt('/r')).toBe(clock.t + 2_000);
    expect(b.multiplier()).toBe(0.7);
    clock.t += 2_000;
    // What the pause held back goes out at once (one second of the paced rate, 7 a second), then paced.
    expect(sendWhileAdmitted(clock, b, clock.t)).toBe(8);
    const paced = sendWhileAdmitted(clock, b, clock.t + 10_000);
    expect(paced).toBeGreaterThanOrEqual(70);
    expect(paced).toBeLessThan(100);
    clock.t += 60_000;
    expect(b.multiplier()).toBe(1);
    // Recovered: the window alone limits again, so the rest of the minute's budget goes out at once.
    expect(sendWhileAdmitted(clock, b, clock.t)).toBeGreaterThan(100);
  });

  it('slows down once for 429s of requests that were already in flight when it reacted', () => {
    const clock = new FakeClock();
    const b = new RateBudget({ limits: { perWindow: 5, windowMs: 60_000, perRoutePerSecond: 3 }, clock, random: () => 0.5, minMultiplier: 0.1 });
    const sentAt = clock.t;
    clock.t += 10;
    b.onRateLimited(1_000, sentAt);
    b.onRateLimited(1_000, sentAt);
    b.onRateLimited(1_000, sentAt);
    expect(b.multiplier()).toBe(0.5);
    // After the pause, a request sent after the slowdown that still meets a 429 slows the account further.
    clock.t += 1_000;
    b.onRateLimited(1_000, clock.t - 1);
    expect(b.multiplier()).toBeCloseTo(0.25, 2);
  });

  it('halves at most once per Retry-After, and never below the floor', () => {
    const clock = new FakeClock();
    const b = new RateBudget({ limits: { perWindow: 5, windowMs: 60_000, perRoutePerSecond: 3 }, clock, random: () => 0.5, minMultiplier: 0.1 });
    b.onRateLimited(1_000);
    clock.t += 500;
    // Within the first 429's Retry-After: the same event, however the request was sent.
    b.onRateLimited(1_000);
    b.onRateLimited(1_000, clock.t);
    expect(b.multiplier()).toBeCloseTo(0.5, 2);
    clock.t += 500;
    b.onRateLimited(1_000);
    expect(b.multiplier()).toBeCloseTo(0.25, 2);

    const floored = budget(clock);
    for (let i = 0; i < 10; i++) {
      floored.onRateLimited(1_000);
      clock.t += 1_000;
    }
    // The default floor: a storm of 429s still leaves the account 70 % of its rate.
    expect(floored.multiplier()).toBeGreaterThanOrEqual(0.7);
    expect(floored.multiplier()).toBeLessThan(0.71);
  });

  it('after a start, ramps the account window up linearly over one window', () => {
    const clock = new FakeClock();
    const start = clock.t;
    const b = new RateBudget({ limits: { perWindow: 6, windowMs: 60_000, perRoutePerSecond: 3 }, clock, random: () => 0.5 });
    const sentAt: number[] = [];
    for (let i = 0; i < 7; i++) {
      clock.t = b.availableAt(`/r${i}`);
      b.take(`/r${i}`).release();
      sentAt.push(clock.t - start);
    }
    // One request at once, then one more each time the limit grows by one (a sixth of the window); once
    // ramped up, the window alone decides: the first slot frees at 60 s.
    expect(sentAt).toEqual([0, 20_000, 30_000, 40_000, 50_000, 60_000, 60_000]);
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
