// Reads of a project shared between reconciles: in-flight joins, a short freshness window, and nothing served
// across a change of the project.
import { describe, expect, it } from 'vitest';
import type { Clock } from '../clock.ts';
import { ReadCoalescer } from './read-coalescer.ts';

class StepClock implements Clock {
  t = 1_000_000;
  now(): number {
    return this.t;
  }
  sleep(): Promise<void> {
    return Promise.resolve();
  }
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('ReadCoalescer', () => {
  it('joins an identical read in flight: one request, every caller gets its answer', async () => {
    const reads = new ReadCoalescer({ clock: new StepClock(), freshMs: 0 });
    const answer = deferred<string[]>();
    let sent = 0;
    const read = () => {
      sent++;
      return answer.promise;
    };
    const all = Promise.all([reads.read('p1', 'branches', read), reads.read('p1', 'branches', read), reads.read('p1', 'branches', read)]);
    answer.resolve(['main']);
    expect(await all).toEqual([['main'], ['main'], ['main']]);
    expect(sent).toBe(1);
    // freshMs 0: once answered, the next read is sent again.
    await reads.read('p1', 'branches', () => (sent++, Promise.resolve(['main', 'dev'])));
    expect(sent).toBe(2);
  });

  it('serves an answer for freshMs, then reads again; other keys and projects are separate', async () => {
    const clock = new StepClock();
    const reads = new ReadCoalescer({ clock, freshMs: 1_000 });
    let sent = 0;
    const read = (v: string) => () => (sent++, Promise.resolve(v));
    expect(await reads.read('p1', 'roles', read('a'))).toBe('a');
    clock.t += 999;
    expect(await reads.read('p1', 'roles', read('b'))).toBe('a');
    expect(await reads.read('p1', 'databases', read('c'))).toBe('c');
    expect(await reads.read('p2', 'roles', read('d'))).toBe('d');
    clock.t += 1;
    expect(await reads.read('p1', 'roles', read('e'))).toBe('e');
    expect(sent).toBe(4);
  });

  it('never serves across a change: invalidate forgets answers and reads in flight of that project only', async () => {
    const reads = new ReadCoalescer({ clock: new StepClock(), freshMs: 60_000 });
    let sent = 0;
    const read = (v: string) => () => (sent++, Promise.resolve(v));
    await reads.read('p1', 'endpoints', read('before'));
    await reads.read('p2', 'endpoints', read('other'));
    const inFlight = deferred<string>();
    const stale = reads.read('p1', 'branches', () => (sent++, inFlight.promise));
    reads.invalidate('p1');
    expect(await reads.read('p1', 'endpoints', read('after'))).toBe('after');
    expect(await reads.read('p1', 'branches', read('new'))).toBe('new'); // not joined to the read sent before the change
    inFlight.resolve('old');
    expect(await stale).toBe('old'); // its own caller still gets its answer
    expect(await reads.read('p1', 'branches', read('x'))).toBe('new');
    expect(await reads.read('p2', 'endpoints', read('y'))).toBe('other');
    expect(sent).toBe(5);
  });

  it('does not keep a failed read, and a caller that gives up leaves the shared read to the others', async () => {
    const reads = new ReadCoalescer({ clock: new StepClock(), freshMs: 60_000 });
    await expect(reads.read('p1', 'k', () => Promise.reject(new Error('503')))).rejects.toThrow('503');
    expect(await reads.read('p1', 'k', () => Promise.resolve('ok'))).toBe('ok');

    const answer = deferred<string>();
    const controller = new AbortController();
    const abandoned = reads.read('p1', 'slow', () => answer.promise, controller.signal);
    const patient = reads.read('p1', 'slow', () => Promise.resolve('unused'));
    controller.abort(new Error('reconcile cancelled'));
    await expect(abandoned).rejects.toThrow('reconcile cancelled');
    answer.resolve('done');
    expect(await patient).toBe('done');
  });
});
