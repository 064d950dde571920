import { describe, expect, it } from 'vitest';
import { InFlightLimit } from './in-flight-limit.ts';

const settled = async <T>(p: Promise<T>): Promise<boolean> => {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('InFlightLimit', () => {
  it('admits up to the limit, then one waiter per release, in arrival order', async () => {
    const limit = new InFlightLimit(2);
    const first = await limit.acquire();
    const second = await limit.acquire();
    const order: string[] = [];
    const third = limit.acquire().then((release) => (order.push('third'), release));
    const fourth = limit.acquire().then((release) => (order.push('fourth'), release));
    expect(await settled(third)).toBe(false);
    expect(limit.held).toBe(2);
    second();
    second(); // a second call of the same release frees nothing more
    expect(await settled(third)).toBe(true);
    expect(await settled(fourth)).toBe(false);
    first();
    (await third)();
    (await fourth)();
    expect(order).toEqual(['third', 'fourth']);
    expect(limit.held).toBe(0);
  });

  it('a waiter whose signal aborts leaves the queue with the reason; the next one gets the place', async () => {
    const limit = new InFlightLimit(1);
    const holder = await limit.acquire();
    const controller = new AbortController();
    const aborted = limit.acquire(controller.signal);
    const next = limit.acquire();
    controller.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    holder();
    (await next)();
    expect(limit.held).toBe(0);
    await expect(limit.acquire(AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new InFlightLimit(0)).toThrow(/positive integer, got 0/);
    expect(() => new InFlightLimit(1.5)).toThrow(/positive integer/);
  });
});
