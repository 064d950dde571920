/**
 * The scheduler's policies with fake attempts (no HTTP): fairness between projects, one mutation at a
 * time per project, waiting for operations before the next mutation, and which failures are retried.
 */
import { describe, expect, it } from 'vitest';
import { ScaledClock, type Clock } from '../clock.ts';
import {
  ConflictError,
  LockedError,
  NeonApiError,
  OutcomeUnknownError,
  RateLimitedError,
  ServerError,
  type NeonErrorDetails,
} from './errors.ts';
import { parkWhile, WorkQueue } from '../runtime/index.ts';
import { NeonScheduler, type CallKind, type OperationsSource } from './scheduler.ts';
import type { Operation, OperationStatus } from './schemas.ts';

const clock = new ScaledClock(1_000);
const ACCOUNT = 'acct';

function op(id: string, status: OperationStatus, projectId = 'p1'): Operation {
  return {
    id,
    project_id: projectId,
    action: 'apply_config',
    status,
    failures_count: 0,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    total_duration_ms: 0,
  };
}

function details(status: number, mayHaveApplied: boolean): NeonErrorDetails {
  return { status, code: '', neonMessage: 'x', requestId: 'rid', method: 'POST', route: '/r', mayHaveApplied };
}

function scheduler(o: { maxConcurrent?: number; source?: OperationsSource } = {}): NeonScheduler {
  const s = new NeonScheduler({
    clock,
    random: () => 0.5,
    maxConcurrent: o.maxConcurrent ?? 16,
    limits: { perWindow: 100_000, windowMs: 60_000, perRoutePerSecond: 100_000 },
    retry: { maxAttempts: 3, maxLockedAttempts: 3, backoff: { baseMs: 10, capMs: 20 } },
    operationPoll: { initialMs: 50, maxMs: 50 },
    typicalOperationMs: {},
  });
  s.registerAccount(ACCOUNT, o.source);
  return s;
}

function call<T>(s: NeonScheduler, projectId: string | undefined, kind: CallKind, attempt: (n: number) => Promise<T>, ops?: Operation[]) {
  return s.run({
    account: ACCOUNT,
    projectId,
    kind,
    method: kind === 'read' ? 'GET' : 'POST',
    route: '/projects/{project_id}/x',
    attempt: async (n) => ({ value: await attempt(n), status: 200, requestId: `r${n}`, ...(ops ? { operations: ops } : {}) }),
  });
}

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('NeonScheduler', () => {
  it('is fair across projects: a busy project does not starve a quiet one', async () => {
    const s = scheduler({ maxConcurrent: 1 });
    const order: string[] = [];
    const busy = Array.from({ length: 40 }, (_, i) => call(s, 'busy', 'read', async () => order.push(`busy${i}`)));
    const quiet = Array.from({ length: 4 }, (_, i) => call(s, 'quiet', 'read', async () => order.push(`quiet${i}`)));
    await Promise.all([...busy, ...quiet]);
    const quietPositions = order.flatMap((name, i) => (name.startsWith('quiet') ? [i] : []));
    // Round-robin: the quiet project's calls interleave with the busy one's instead of queueing behind 40.
    expect(quietPositions.every((i) => i < 10)).toBe(true);
  });

  it('runs one mutation at a time per project, while other projects proceed in parallel', async () => {
    const s = scheduler();
    const active = new Map<string, number>();
    const maxActive = new Map<string, number>();
    let maxOverall = 0;
    let overall = 0;
    const mutate = (p: string) =>
      call(s, p, 'mutation', async () => {
        active.set(p, (active.get(p) ?? 0) + 1);
        overall++;
        maxActive.set(p, Math.max(maxActive.get(p) ?? 0, active.get(p) ?? 0));
        maxOverall = Math.max(maxOverall, overall);
        await tick();
        active.set(p, (active.get(p) ?? 0) - 1);
        overall--;
      });
    await Promise.all(['a', 'b', 'c'].flatMap((p) => [mutate(p), mutate(p), mutate(p)]));
    expect([...maxActive.values()]).toEqual([1, 1, 1]);
    expect(maxOverall).toBeGreaterThan(1);
  });

  it("holds a project's next mutation until the operations of the previous one have finished", async () => {
    let polls = 0;
    const source: OperationsSource = {
      listOperations: async () => {
        polls++;
        return { operations: [op('op-1', polls < 3 ? 'running' : 'finished')] };
      },
      getOperation: async () => op('op-1', 'finished'),
    };
    const s = scheduler({ source });
    const log: string[] = [];
    const first = call(s, 'p1', 'mutation', async () => log.push('first'), [op('op-1', 'running')]);
    const second = call(s, 'p1', 'mutation', async () => log.push(`second after ${polls} polls`));
    const read = call(s, 'p1', 'read', async () => log.push('read'));
    await Promise.all([first, second, read]);
    // Reads are not held by the lane; the second mutation waited for the poll that saw op-1 finish.
    expect(log.slice(0, 2).sort()).toEqual(['first', 'read']);
    expect(log[2]).toBe('second after 3 polls');
  });

  it('retries a GET on a 5xx but reports a mutation 5xx as outcome-unknown after one attempt', async () => {
    const s = scheduler();
    let reads = 0;
    const value = await call(s, 'p1', 'read', async () => {
      reads++;
      if (reads < 3) throw new ServerError(details(500, true));
      return 'ok';
    });
    expect(value).toBe('ok');
    expect(reads).toBe(3);

    let writes = 0;
    const err = await call(s, 'p1', 'mutation', async () => {
      writes++;
      throw new ServerError(details(500, true));
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect(writes).toBe(1);
  });

  it('retries a mutation on 503 and 423 (nothing applied), not on 409', async () => {
    const source: OperationsSource = {
      listOperations: async () => ({ operations: [] }),
      getOperation: async () => op('x', 'finished'),
    };
    const s = scheduler({ source });
    let n = 0;
    await call(s, 'p1', 'mutation', async () => {
      n++;
      if (n === 1) throw new ServerError(details(503, false));
      if (n === 2) throw new LockedError(details(423, false));
      return 'ok';
    });
    expect(n).toBe(3);
    expect(s.stats().locked).toBe(1);

    let conflicts = 0;
    const err = await call(s, 'p2', 'mutation', async () => {
      conflicts++;
      throw new ConflictError(details(409, false));
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(conflicts).toBe(1);
  });

  it('forgets a project lane once nothing runs, waits or is remembered on it', async () => {
    const source: OperationsSource = {
      listOperations: async () => ({ operations: [op('o', 'finished')] }),
      getOperation: async () => op('o', 'finished'),
    };
    const s = scheduler({ source });
    await Promise.all(['a', 'b', 'c'].map((p) => call(s, p, 'read', async () => 1)));
    expect(s.stats().lanes).toBe(0);
    // A mutation that started an operation keeps its lane until a poll sees the operation end.
    await call(s, 'p1', 'mutation', async () => 1, [op('o', 'running')]);
    expect(s.stats().lanes).toBe(1);
    await s.waitForOperations(ACCOUNT, 'p1', ['o']);
    await tick(); // the poll loop winds down right after settling its waiters
    expect(s.stats().lanes).toBe(0);
  });

  it('close() rejects queued calls and operation waiters and refuses new calls', async () => {
    const source: OperationsSource = {
      listOperations: async () => ({ operations: [op('o', 'running')] }),
      getOperation: async () => op('o', 'running'),
    };
    const s = scheduler({ source, maxConcurrent: 1 });
    let release: () => void = () => undefined;
    const first = call(s, 'p1', 'read', () => new Promise<number>((r) => (release = () => r(1))));
    const queued = call(s, 'p2', 'read', async () => 2);
    const waiting = s.waitForOperations(ACCOUNT, 'p1', ['o']);
    await tick();
    s.close();
    await expect(queued).rejects.toThrow('Neon scheduler closed');
    await expect(waiting).rejects.toThrow('Neon scheduler closed');
    await expect(call(s, 'p3', 'read', async () => 3)).rejects.toThrow('Neon scheduler closed');
    // A request already sent finishes normally.
    release();
    await expect(first).resolves.toBe(1);
  });

  it('wraps a non-typed failure from an attempt as a transport error', async () => {
    const s = scheduler();
    const err = await call(s, 'p1', 'mutation', async () => {
      throw new Error('boom');
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect((err as OutcomeUnknownError).cause).toBeInstanceOf(NeonApiError);
  });

  it('waitForOperations shares one list call per round among all waiters of a project', async () => {
    let lists = 0;
    const source: OperationsSource = {
      listOperations: async () => {
        lists++;
        const status = lists < 3 ? 'running' : 'finished';
        return { operations: [op('a', status), op('b', status), op('c', status)] };
      },
      getOperation: async (_p, id) => op(id, 'finished'),
    };
    const s = scheduler({ source });
    const waits = Array.from({ length: 30 }, (_, i) => s.waitForOperations(ACCOUNT, 'p1', [['a', 'b', 'c'][i % 3] as string]));
    const results = await Promise.all(waits);
    expect(results.every((r) => r.length === 1 && r[0]?.status === 'finished')).toBe(true);
    expect(lists).toBe(3);
    expect(s.stats().operationPollRounds).toBe(3);
  });
});

/**
 * Time that moves only when every pending promise has settled and a sleeper is due, so the scheduler's
 * own timers decide when anything happens, deterministically.
 */
class VirtualClock implements Clock {
  t = 0;
  readonly #sleepers: Array<{ at: number; wake: () => void }> = [];

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper = { at: this.t + Math.max(0, ms), wake: resolve };
      this.#sleepers.push(sleeper);
      signal?.addEventListener('abort', () => {
        // A sleeper that already woke is no longer listed: indexOf −1 must not remove the last one.
        const at = this.#sleepers.indexOf(sleeper);
        if (at >= 0) this.#sleepers.splice(at, 1);
        reject(signal.reason);
      });
    });
  }

  /** Wakes sleepers in time order until `done` holds; fails when nothing is left to wake. */
  async runUntil(done: () => boolean): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      if (done()) return;
      const next = this.#sleepers.sort((a, b) => a.at - b.at).shift();
      if (!next) throw new Error('nothing scheduled, but not done');
      this.t = Math.max(this.t, next.at);
      next.wake();
    }
  }
}

describe('NeonScheduler with parked workers (parkWhile)', () => {
  it('a read that more works wait for than their queue has workers ends: a read never lends out its worker', async () => {
    const clock = new VirtualClock();
    const s = new NeonScheduler({ clock, random: () => 0.5, rampUpMs: 0, typicalOperationMs: {}, parkWhile });
    s.registerAccount(ACCOUNT);
    const queue = new WorkQueue({ clock, concurrency: 2 });
    // Like a project's list that every reconcile of it reads: the first work sends it, the others join it. Had
    // the first work lent out its worker while the read waited for its turn, it could have had none back: both
    // workers would be waiting for that same read.
    let shared: Promise<unknown> | undefined;
    const done: string[] = [];
    queue.start(async (key) => {
      shared ??= call(s, 'p1', 'read', async () => 'branches');
      await shared;
      done.push(key);
      return { type: 'done' };
    });
    for (const key of ['a', 'b', 'c', 'd']) queue.add(key);
    await clock.runUntil(() => done.length === 4);
    expect(done.sort()).toEqual(['a', 'b', 'c', 'd']);
    await queue.shutdown(1_000);
    s.close();
  });

  it('a mutation waiting for its project\'s turn lends out its worker, so other keys go on meanwhile', async () => {
    const clock = new VirtualClock();
    const s = new NeonScheduler({ clock, random: () => 0.5, rampUpMs: 0, typicalOperationMs: {}, parkWhile });
    s.registerAccount(ACCOUNT);
    const queue = new WorkQueue({ clock, concurrency: 1 });
    const order: string[] = [];
    let release: (() => void) | undefined;
    queue.start(async (key) => {
      if (key === 'slow') {
        // Its mutation is held (an answer that takes a while): the one worker serves 'quick' meanwhile.
        await call(s, 'p1', 'mutation', () => new Promise<void>((r) => (release = r)));
      }
      order.push(key);
      return { type: 'done' };
    });
    queue.add('slow');
    queue.add('quick');
    await clock.runUntil(() => order.includes('quick'));
    release?.();
    await clock.runUntil(() => order.length === 2);
    expect(order).toEqual(['quick', 'slow']);
    await queue.shutdown(1_000);
    s.close();
  });
});

describe('NeonScheduler under 429s', () => {
  it('after a burst of 429s sends again when Retry-After ends, with nothing in flight to wake it', async () => {
    const clock = new VirtualClock();
    const s = new NeonScheduler({
      clock,
      random: () => 0.5,
      rampUpMs: 0,
      limits: { perWindow: 100, windowMs: 60_000, perRoutePerSecond: 100 },
    });
    s.registerAccount(ACCOUNT);
    // Most of the minute's budget is spent, so a window shrunk to a fraction of it would admit nothing.
    let done = 0;
    const warmUp = Array.from({ length: 60 }, () => call(s, 'p1', 'read', async () => done++));
    await clock.runUntil(() => done === 60);
    await Promise.all(warmUp);

    const struckAt = clock.now();
    const sent: number[] = [];
    const burst = Array.from({ length: 20 }, () =>
      call(s, 'p1', 'read', async (attempt) => {
        sent.push(clock.now());
        if (attempt === 1) throw new RateLimitedError({ ...details(429, false), retryAfterMs: 1_000 });
        return attempt;
      }),
    );
    await clock.runUntil(() => sent.length === 40);
    expect(await Promise.all(burst)).toEqual(Array.from({ length: 20 }, () => 2));
    expect(s.stats().rateLimited).toBe(20);
    // Each 429 pauses the account for its Retry-After and no longer; then calls go out paced at 70 % of
    // the account's rate (one per ~0.86 s). A window shrunk below the 80 slots in use would have idled
    // for most of a minute instead.
    const gaps = sent.slice(1).map((at, i) => at - (sent[i] as number));
    expect(Math.max(...gaps)).toBe(1_000);
    expect((sent.at(-1) as number) - struckAt).toBeLessThan(25_000);
    s.close();
  });

  it('keeps more than half of the rate under a storm of random 429s, and no 429 reaches a caller', async () => {
    const clock = new VirtualClock();
    const s = new NeonScheduler({ clock, random: () => 0.5, typicalOperationMs: {}, limits: { perWindow: 700, windowMs: 60_000, perRoutePerSecond: 40 } });
    s.registerAccount(ACCOUNT);
    let seed = 7;
    const oneInTen = () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32 < 0.1;
    };
    let admitted = 0;
    let refused = 0;
    const calls = Array.from({ length: 3_000 }, (_, i) =>
      call(s, `p${i % 10}`, 'read', async () => {
        if (oneInTen()) {
          refused++;
          throw new RateLimitedError({ ...details(429, false), retryAfterMs: 1_000 });
        }
        return ++admitted;
      }),
    );
    await clock.runUntil(() => admitted === 3_000);
    const results = await Promise.allSettled(calls);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(refused).toBeGreaterThan(250);
    // Calls admitted per minute of (virtual) time, the start's ramp-up included: at least half of 700.
    expect((admitted * 60_000) / clock.now()).toBeGreaterThanOrEqual(350);
    s.close();
  });
});

/** A project whose operations run for the given times on a virtual clock; records when it is polled. */
function projectOn(clock: VirtualClock, o: { typicalOperationMs?: Record<string, number> } = {}) {
  const runs = new Map<string, { start: number; end: number; action?: string }>();
  const polledAt: number[] = [];
  const source: OperationsSource = {
    listOperations: async () => {
      polledAt.push(clock.now());
      return {
        operations: [...runs].map(([id, { start, end, action }]) => ({
          ...op(id, clock.now() >= end ? 'finished' : clock.now() >= start ? 'running' : 'scheduling'),
          ...(action ? { action } : {}),
          total_duration_ms: Math.max(0, Math.min(clock.now(), end) - start),
        })),
      };
    },
    getOperation: async (_p, id) => op(id, 'finished'),
  };
  const s = new NeonScheduler({
    clock,
    random: () => 0.5,
    rampUpMs: 0,
    typicalOperationMs: o.typicalOperationMs ?? {},
    operationPoll: { initialMs: 500, factor: 1.5 },
  });
  s.registerAccount(ACCOUNT, source);
  const sentAt: number[] = [];
  const lockedAt: number[] = [];
  /**
   * A mutation of the project that starts operation `id`, running `durationMs` from when it is sent; like Neon,
   * the project refuses it with 423 while an operation runs.
   */
  const mutate = (id: string, durationMs: number, then?: { id: string; durationMs: number }) =>
    call(
      s,
      'p1',
      'mutation',
      async () => {
        if ([...runs.values()].some((r) => clock.now() < r.end)) {
          lockedAt.push(clock.now());
          throw new LockedError(details(423, false));
        }
        sentAt.push(clock.now());
        runs.set(id, { start: clock.now(), end: clock.now() + durationMs });
        // A second operation queued behind the first, as Neon runs a project's operations one after another.
        if (then) runs.set(then.id, { start: clock.now() + durationMs, end: clock.now() + durationMs + then.durationMs, action: 'start_compute' });
      },
      [op(id, 'running'), ...(then ? [{ ...op(then.id, 'scheduling'), action: 'start_compute' }] : [])],
    );
  /** A mutation starting `id` (and `then`), waited for to the end of its operations, the clock run until then. */
  const mutateAndWait = async (id: string, durationMs: number, then?: { id: string; durationMs: number }) => {
    let waited = false;
    const done = mutate(id, durationMs, then)
      .then(() => s.waitForOperations(ACCOUNT, 'p1', [id, ...(then ? [then.id] : [])]))
      .then(() => (waited = true));
    await clock.runUntil(() => waited);
    await done;
  };
  return { s, runs, polledAt, sentAt, lockedAt, mutate, mutateAndWait };
}

describe('NeonScheduler operation waits', () => {
  it("once an action's duration is known, the next mutation goes out at the operation's expected end without a poll", async () => {
    const clock = new VirtualClock();
    const { s, runs, polledAt, sentAt, lockedAt, mutate } = projectOn(clock);
    // Three mutations of one project, each starting a 2 s operation: each waits for the one before.
    const mutations = [mutate('op-1', 2_000), mutate('op-2', 2_000), mutate('op-3', 2_000)];
    await clock.runUntil(() => sentAt.length === 3);
    await Promise.all(mutations);
    // The first wait knows nothing and backs off (polls at 0.5, 1.25 and 2.375 s); it learns 2 s.
    expect(polledAt).toEqual([500, 1_250, 2_375]);
    expect(sentAt[1]).toBe(2_375);
    // Then the third is sent exactly when op-2 ends, and Neon's acceptance says op-2 ended: no poll, no 423.
    expect(sentAt[2]).toBe(runs.get('op-2')?.end);
    expect(lockedAt).toEqual([]);
    s.close();
  });

  it('an operation slower than expected turns the early mutation into a 423, then a drain and a retry', async () => {
    const clock = new VirtualClock();
    const { s, polledAt, sentAt, lockedAt, mutate } = projectOn(clock);
    const mutations = [mutate('op-1', 2_000), mutate('op-2', 2_300), mutate('op-3', 2_000)];
    await clock.runUntil(() => sentAt.length === 3);
    await Promise.all(mutations);
    // op-2 is expected to take 2 s: the third mutation is tried then (423); after the 423's short backoff
    // (125 ms) the project is drained with one poll (0.5 s later, op-2 has ended by then) and it goes again.
    const second = sentAt[1] as number;
    expect(lockedAt.map((at) => at - second)).toEqual([2_000]);
    expect(polledAt.filter((at) => at > second).map((at) => at - second)).toEqual([2_625]);
    expect((sentAt[2] as number) - second).toBe(2_625);
    s.close();
  });

  it("a wait is answered when its own operations end, while later mutations keep the project busy", async () => {
    const clock = new VirtualClock();
    const { s, sentAt, mutate } = projectOn(clock);
    let learned = false;
    const first = mutate('op-0', 1_000)
      .then(() => s.waitForOperations(ACCOUNT, 'p1', ['op-0'])) // learns 1 s
      .then(() => (learned = true));
    await clock.runUntil(() => learned);
    await first;
    let answeredAt: number | undefined;
    const waited = mutate('op-1', 1_000)
      .then(() => s.waitForOperations(ACCOUNT, 'p1', ['op-1']))
      .then(() => (answeredAt = clock.now()));
    const later = [2, 3, 4, 5].map((i) => mutate(`op-${i}`, 1_000));
    await clock.runUntil(() => sentAt.length === 6);
    await Promise.all([waited, ...later]);
    // op-1 ends 1 s after it was sent: its caller hears it then (or at the next batch), not after op-5.
    expect(answeredAt).toBeDefined();
    expect((answeredAt as number) - (sentAt[1] as number)).toBeLessThanOrEqual(2_000);
    expect(answeredAt as number).toBeLessThan(sentAt[5] as number);
    s.close();
  });

  it('an operation queued behind one a poll saw end is timed from what that poll saw, so the next mutation is not early', async () => {
    const clock = new VirtualClock();
    const { s, sentAt, lockedAt, runs, mutate, mutateAndWait } = projectOn(clock);
    // Learn both actions' durations (the ids share the action of op()), then a mutation starting two operations.
    await mutateAndWait('a-0', 100, { id: 'b-0', durationMs: 1_000 });
    // Later, so the next poll round is not held back by the batch window of the last one.
    clock.t += 10_000;
    let waited = false;
    const second = mutate('a-1', 100, { id: 'b-1', durationMs: 1_000 })
      .then(() => s.waitForOperations(ACCOUNT, 'p1', ['a-1'])) // a poll sees a-1 end while b-1 runs
      .then(() => (waited = true));
    const third = mutate('a-2', 100);
    // Other work wakes the scheduler in between (here a read of another project), so the held mutation is
    // looked at again before b-1 ends.
    const other = clock.sleep(1_050).then(() => call(s, 'p2', 'read', async () => undefined));
    await clock.runUntil(() => waited && sentAt.length === 3);
    await Promise.all([second, third, other]);
    expect(lockedAt).toEqual([]);
    expect(sentAt[2]).toBeGreaterThanOrEqual(runs.get('b-1')?.end as number);
    s.close();
  });

  it('a wait for two operations, after a round saw the first end, is next polled at the second one\'s expected end, not blind', async () => {
    const clock = new VirtualClock();
    const { s, polledAt, mutate, mutateAndWait } = projectOn(clock);
    await mutateAndWait('a-0', 100, { id: 'b-0', durationMs: 1_000 }); // learns both durations
    clock.t += 10_000;
    const start = clock.now();
    const before = polledAt.length;
    let done = 0;
    // Like a branch created with its compute: one caller waits for the first operation, another for both.
    const both = mutate('a-1', 100, { id: 'b-1', durationMs: 1_000 }).then(() =>
      Promise.all([s.waitForOperations(ACCOUNT, 'p1', ['a-1']), s.waitForOperations(ACCOUNT, 'p1', ['a-1', 'b-1'])]).then(() => done++),
    );
    await clock.runUntil(() => done === 1);
    await both;
    // The round at a-1's end answers the first caller; the second then waits for b-1, whose end is known: one
    // more round, when the batch window allows (5 s later), not a blind backoff from 0.5 s.
    expect(polledAt.slice(before).map((at) => at - start)).toEqual([100, 5_100]);
    s.close();
  });

  it("Neon's typical durations time the first poll of an action never seen to finish; the first one measured replaces them", async () => {
    const clock = new VirtualClock();
    const { s, polledAt, mutateAndWait } = projectOn(clock, { typicalOperationMs: { apply_config: 70, start_compute: 2_000 } });
    await mutateAndWait('a-0', 70, { id: 'b-0', durationMs: 1_000 });
    // No blind backoff (0.5, 1.25 s): one poll at the typical end, 70 ms + 2 s.
    expect(polledAt).toEqual([2_070]);
    clock.t += 10_000;
    const start = clock.now();
    await mutateAndWait('a-1', 70, { id: 'b-1', durationMs: 1_000 });
    // start_compute measured 1 s: that replaces the 2 s prior outright (a blend would poll at 1.77 s).
    expect(polledAt.slice(1).map((at) => at - start)).toEqual([1_070]);
    s.close();
  });

  it('a typical duration shorter than the real one costs a poll, never a 423: only measured ones send a mutation unpolled', async () => {
    const clock = new VirtualClock();
    const { s, polledAt, sentAt, lockedAt, mutate } = projectOn(clock, { typicalOperationMs: { apply_config: 70 } });
    const mutations = [mutate('op-1', 200), mutate('op-2', 200)];
    await clock.runUntil(() => sentAt.length === 2);
    await Promise.all(mutations);
    expect(lockedAt).toEqual([]);
    // The drain's first poll comes at the typical end (70 ms), then overdue polls until op-1 is seen to end.
    expect(polledAt[0]).toBe(70);
    expect(sentAt[1]).toBe(polledAt.at(-1));
    expect(sentAt[1]).toBeGreaterThanOrEqual(200);
    s.close();
  });

  it('waits whose operations have ended are answered together, one poll round per batch', async () => {
    const clock = new VirtualClock();
    const { s, polledAt, sentAt, mutate } = projectOn(clock);
    const first = mutate('op-0', 100).then(() => s.waitForOperations(ACCOUNT, 'p1', ['op-0'])); // learns the duration
    await clock.runUntil(() => polledAt.length > 0);
    await first;
    const before = polledAt.length;
    let answered = 0;
    const waits = Array.from({ length: 6 }, (_, i) =>
      mutate(`op-${i + 1}`, 100)
        .then(() => s.waitForOperations(ACCOUNT, 'p1', [`op-${i + 1}`]))
        .then(() => answered++),
    );
    await clock.runUntil(() => answered === 6);
    await Promise.all(waits);
    expect(sentAt).toHaveLength(7);
    // Six 100 ms operations, each waited for by its caller: the waits are answered by rounds at least 5 s
    // (batchMs) apart, not one poll per operation.
    expect(polledAt.length - before).toBeLessThanOrEqual(2);
    s.close();
  });

  it("a project's quick mutations go before queued long ones, and the oldest is passed by at most 8", async () => {
    const clock = new VirtualClock();
    const runs = new Map<string, { start: number; end: number; action: string }>();
    const source: OperationsSource = {
      listOperations: async () => ({
        operations: [...runs].map(([id, r]) => ({
          ...op(id, clock.now() >= r.end ? 'finished' : 'running'),
          action: r.action,
          total_duration_ms: Math.max(0, Math.min(clock.now(), r.end) - r.start),
        })),
      }),
      getOperation: async (_p, id) => op(id, 'finished'),
    };
    const s = new NeonScheduler({ clock, random: () => 0.5, rampUpMs: 0, typicalOperationMs: {}, operationPoll: { initialMs: 500, factor: 1.5 } });
    s.registerAccount(ACCOUNT, source);
    const sent: string[] = [];
    const mutate = (id: string, route: '/long' | '/short') => {
      const [action, ms] = route === '/long' ? ['start_compute', 2_000] : ['apply_config', 100];
      return s.run({
        account: ACCOUNT,
        projectId: 'p1',
        kind: 'mutation',
        method: 'POST',
        route,
        attempt: async () => {
          if ([...runs.values()].some((r) => clock.now() < r.end)) throw new LockedError(details(423, false));
          sent.push(id);
          runs.set(id, { start: clock.now(), end: clock.now() + ms, action });
          return { value: undefined, status: 201, requestId: 'r', operations: [{ ...op(id, 'running'), action }] };
        },
      });
    };
    // Both routes are seen once and their operations waited for: what they start and how long that takes is known.
    for (const [id, route] of [['l0', '/long'], ['s0', '/short']] as const) {
      let waited = false;
      const wait = mutate(id, route)
        .then(() => s.waitForOperations(ACCOUNT, 'p1', [id]))
        .then(() => (waited = true));
      await clock.runUntil(() => waited);
      await wait;
    }
    const longs = ['l1', 'l2', 'l3'].map((id) => mutate(id, '/long'));
    const shorts = Array.from({ length: 12 }, (_, i) => mutate(`s${i + 1}`, '/short'));
    await clock.runUntil(() => sent.length === 17);
    await Promise.all([...longs, ...shorts]);
    expect(sent.slice(2)).toEqual(['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 'l1', 's9', 's10', 's11', 's12', 'l2', 'l3']);
    s.close();
  });

  it('a wait asked for after a poll round saw its operation end is answered from that round, without another poll', async () => {
    const clock = new VirtualClock();
    const { s, polledAt, mutate } = projectOn(clock);
    const first = mutate('op-0', 100).then(() => s.waitForOperations(ACCOUNT, 'p1', ['op-0'])); // learns the duration
    await clock.runUntil(() => polledAt.length > 0);
    await first;
    clock.t += 10_000;
    let waited = false;
    // op-a ends unwatched (its caller is still busy); a round for op-b's waiter sees it end.
    const b = mutate('op-a', 100)
      .then(() => mutate('op-b', 100))
      .then(() => s.waitForOperations(ACCOUNT, 'p1', ['op-b']))
      .then(() => (waited = true));
    await clock.runUntil(() => waited);
    await b;
    const polls = polledAt.length;
    const [a] = await s.waitForOperations(ACCOUNT, 'p1', ['op-a']);
    expect(a?.status).toBe('finished');
    expect(polledAt.length).toBe(polls);
    s.close();
  });
});

