import { describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from './fake-clock.ts';
import { parkWhile, WorkQueue, type WorkResult } from './work-queue.ts';

/** A controllable worker: each call parks until the test releases it with a result. */
function gatedWork() {
  const calls: string[] = [];
  const pending: Array<{ key: string; signal: AbortSignal; release: (r: WorkResult) => void }> = [];
  let running = 0;
  let maxRunning = 0;
  const work = (key: string, signal: AbortSignal): Promise<WorkResult> => {
    calls.push(key);
    running++;
    maxRunning = Math.max(maxRunning, running);
    return new Promise<WorkResult>((resolve) => {
      pending.push({
        key,
        signal,
        release: (r) => {
          running--;
          resolve(r);
        },
      });
    });
  };
  const release = async (key: string, result: WorkResult = { type: 'done' }): Promise<void> => {
    const i = pending.findIndex((p) => p.key === key);
    if (i < 0) throw new Error(`${key} is not in flight`);
    const [p] = pending.splice(i, 1);
    p?.release(result);
    await flushMicrotasks();
  };
  return { work, calls, pending, release, maxRunning: () => maxRunning };
}

describe('WorkQueue', () => {
  it('does not queue a key twice while it waits', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 2 });
    q.add('a');
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.stats.queued).toBe(2);
    const w = gatedWork();
    q.start(w.work);
    await flushMicrotasks();
    expect(w.calls).toEqual(['a', 'b']);
  });

  it('never processes one key twice at once, and runs it again after if re-added while in flight', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 4 });
    const w = gatedWork();
    q.start(w.work);
    q.add('a');
    await flushMicrotasks();
    q.add('a');
    q.add('a');
    await flushMicrotasks();
    expect(w.calls).toEqual(['a']); // three idle workers, still only one run of "a"
    await w.release('a');
    expect(w.calls).toEqual(['a', 'a']); // the re-add ran once more, deduplicated
    await w.release('a');
    expect(w.calls).toEqual(['a', 'a']);
    expect(w.maxRunning()).toBe(1);
  });

  it('bounds concurrency to N distinct keys', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 2 });
    const w = gatedWork();
    q.start(w.work);
    for (const k of ['a', 'b', 'c', 'd']) q.add(k);
    await flushMicrotasks();
    expect(w.calls).toEqual(['a', 'b']);
    await w.release('a');
    expect(w.calls).toEqual(['a', 'b', 'c']);
    expect(w.maxRunning()).toBe(2);
  });

  it('backs off exponentially per key up to the cap and resets on success', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 1, backoff: { baseMs: 1_000, capMs: 8_000 } });
    const w = gatedWork();
    q.start(w.work);
    q.add('a');
    await flushMicrotasks();
    const expectedDelays = [1_000, 2_000, 4_000, 8_000, 8_000];
    for (const delay of expectedDelays) {
      await w.release('a', { type: 'retry' });
      const callsBefore = w.calls.length;
      await clock.advance(delay - 1);
      expect(w.calls.length).toBe(callsBefore); // not yet
      await clock.advance(1);
      expect(w.calls.length).toBe(callsBefore + 1); // exactly at the backoff delay
    }
    expect(q.failures('a')).toBe(5);
    await w.release('a', { type: 'done' });
    expect(q.failures('a')).toBe(0);
    q.add('a');
    await flushMicrotasks();
    await w.release('a', { type: 'retry' });
    await clock.advance(999);
    expect(w.calls.length).toBe(expectedDelays.length + 2);
    await clock.advance(1);
    expect(w.calls.length).toBe(expectedDelays.length + 3); // back to the base delay
  });

  it('a retry with a minimum delay waits the longer of it and the backoff', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 1, backoff: { baseMs: 1_000, capMs: 60_000 } });
    const w = gatedWork();
    q.start(w.work);
    q.add('a');
    await flushMicrotasks();
    // backoff 1 s, 2 s, 4 s, 8 s against a floor of 5 s → 5 s, 5 s, 5 s, 8 s
    for (const delay of [5_000, 5_000, 5_000, 8_000]) {
      await w.release('a', { type: 'retry', minDelayMs: 5_000 });
      const callsBefore = w.calls.length;
      await clock.advance(delay - 1);
      expect(w.calls.length).toBe(callsBefore);
      await clock.advance(1);
      expect(w.calls.length).toBe(callsBefore + 1);
    }
    expect(q.failures('a')).toBe(4);
  });

  it('keeps backoff per key: one failing key does not slow another', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 1, backoff: { baseMs: 1_000, capMs: 60_000 } });
    q.addRateLimited('a');
    q.addRateLimited('a');
    q.addRateLimited('b');
    expect(q.failures('a')).toBe(2);
    expect(q.failures('b')).toBe(1);
  });

  it('requeueAfter: the earliest deadline wins and a drop does not requeue', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 1 });
    const w = gatedWork();
    q.start(w.work);
    q.addAfter('a', 10_000);
    q.addAfter('a', 3_000);
    q.addAfter('a', 20_000);
    expect(q.stats.waiting).toBe(1);
    await clock.advance(2_999);
    expect(w.calls).toEqual([]);
    await clock.advance(1);
    expect(w.calls).toEqual(['a']);
    await clock.advance(20_000);
    expect(w.calls).toEqual(['a']); // later deadlines were merged into the earliest
    await w.release('a', { type: 'done', requeueAfterMs: 5_000 });
    await clock.advance(5_000);
    expect(w.calls).toEqual(['a', 'a']);
    await w.release('a', { type: 'drop' });
    await clock.advance(600_000);
    expect(w.calls).toEqual(['a', 'a']);
  });

  it('treats an escaped exception as a retry', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 1, backoff: { baseMs: 100, capMs: 100 } });
    let runs = 0;
    q.start(async () => {
      runs++;
      throw new Error('boom');
    });
    q.add('a');
    await flushMicrotasks();
    await clock.advance(100);
    await clock.advance(100);
    expect(runs).toBe(3);
  });

  it('shutdown stops intake and waits for in-flight work that finishes in time', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 2 });
    const w = gatedWork();
    q.start(w.work);
    q.add('a');
    q.add('b');
    q.addAfter('c', 1_000);
    await flushMicrotasks();
    let report: { abortedKeys: string[] } | undefined;
    const done = q.shutdown(30_000).then((r) => (report = r));
    q.add('d');
    await w.release('a');
    expect(report).toBeUndefined(); // b still running
    await w.release('b');
    await done;
    expect(report).toEqual({ abortedKeys: [] });
    await clock.advance(5_000);
    expect(w.calls).toEqual(['a', 'b']); // neither c (delayed) nor d (added after shutdown) ran
    expect(w.pending.every((p) => !p.signal.aborted)).toBe(true);
  });

  it('shutdown aborts in-flight work after the deadline', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 1 });
    let seenAbort = false;
    q.start(
      (_key, signal) =>
        new Promise<WorkResult>((resolve) => {
          signal.addEventListener('abort', () => {
            seenAbort = true;
            resolve({ type: 'retry' });
          });
        }),
    );
    q.add('slow');
    await flushMicrotasks();
    let report: { abortedKeys: string[] } | undefined;
    const done = q.shutdown(10_000).then((r) => (report = r));
    await clock.advance(9_999);
    expect(seenAbort).toBe(false);
    await clock.advance(1);
    await done;
    expect(seenAbort).toBe(true);
    expect(report).toEqual({ abortedKeys: ['slow'] });
    expect(q.stats.waiting).toBe(0); // the aborted run was not requeued
  });

  it('work parked in parkWhile lends its worker to the next key, and takes the next free worker back before queued keys', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 1 });
    const calls: string[] = [];
    const turns = new Map<string, () => void>();
    const done = new Map<string, () => void>();
    q.start(async (key) => {
      calls.push(`${key} start`);
      if (key === 'a') {
        await parkWhile(new Promise<void>((resolve) => turns.set(key, resolve)));
        calls.push(`${key} resumed`);
      }
      await new Promise<void>((resolve) => done.set(key, resolve));
      calls.push(`${key} end`);
      return { type: 'done' };
    });
    for (const k of ['a', 'b', 'c']) q.add(k);
    await flushMicrotasks();
    expect(calls).toEqual(['a start', 'b start']); // a waits parked: b runs in its place, c waits for a worker
    turns.get('a')?.();
    await flushMicrotasks();
    expect(calls).toEqual(['a start', 'b start']); // a's wait is over, but the one worker is b's
    done.get('b')?.();
    await flushMicrotasks();
    expect(calls).toEqual(['a start', 'b start', 'b end', 'a resumed']); // a before c
    done.get('a')?.();
    await flushMicrotasks();
    expect(calls.slice(-2)).toEqual(['a end', 'c start']);
    done.get('c')?.();
    await flushMicrotasks();
    await expect(parkWhile(Promise.resolve(7))).resolves.toBe(7); // outside a worker: just the wait
    expect(await q.shutdown(1_000)).toEqual({ abortedKeys: [] });
  });

  it('parked work whose wait ends while a worker is idle goes on at once', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 1 });
    const calls: string[] = [];
    let turn: (() => void) | undefined;
    q.start(async (key) => {
      calls.push(`${key} start`);
      await parkWhile(new Promise<void>((resolve) => (turn = resolve)));
      calls.push(`${key} end`);
      return { type: 'done' };
    });
    q.add('a');
    await flushMicrotasks();
    turn?.();
    await flushMicrotasks();
    expect(calls).toEqual(['a start', 'a end']);
    q.add('b');
    await flushMicrotasks();
    expect(calls.at(-1)).toBe('b start'); // still one worker at work
    turn?.();
    await flushMicrotasks();
    expect(await q.shutdown(1_000)).toEqual({ abortedKeys: [] });
  });

  it('addFirst puts a key ahead of the queued ones, once', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, concurrency: 1 });
    const w = gatedWork();
    for (const k of ['a', 'b', 'c']) q.add(k);
    q.addFirst('c');
    q.addFirst('d');
    q.addFirst('d');
    expect(q.stats.queued).toBe(4);
    q.start(w.work);
    await flushMicrotasks();
    for (const k of ['d', 'c', 'a', 'b']) await w.release(k);
    expect(w.calls).toEqual(['d', 'c', 'a', 'b']);
    q.addFirst('a'); // not in flight, not queued: just first
    await flushMicrotasks();
    expect(w.calls.at(-1)).toBe('a');
  });
});

