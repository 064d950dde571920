import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from './fake-clock.ts';
import { KubeApiError } from './kube-client.ts';
import { LeaderElector, type LeaseLock, type LeaseRecord } from './leader-election.ts';

const log = pino({ level: 'silent' });

/** An in-memory Lease with resourceVersion preconditions, like the API server's. */
class FakeLeaseLock {
  readonly description = 'ns/lease';
  record: LeaseRecord | undefined;
  version = 0;
  /** Identities whose calls fail (a partitioned replica). */
  readonly partitioned = new Set<string>();
  writes = 0;

  forIdentity(identity: string): LeaseLock {
    const check = (): void => {
      if (this.partitioned.has(identity)) throw new Error('connection refused');
    };
    return {
      description: this.description,
      get: async () => {
        check();
        return this.record ? { record: { ...this.record }, resourceVersion: String(this.version) } : undefined;
      },
      create: async (record) => {
        check();
        if (this.record) throw new KubeApiError(409, 'AlreadyExists', 'exists');
        this.record = { ...record };
        this.version++;
        this.writes++;
      },
      update: async (record, resourceVersion) => {
        check();
        if (resourceVersion !== String(this.version)) throw new KubeApiError(409, 'Conflict', 'modified');
        this.record = { ...record };
        this.version++;
        this.writes++;
      },
    };
  }
}

function candidate(lock: FakeLeaseLock, clock: FakeClock, identity: string) {
  const elector = new LeaderElector({ lock: lock.forIdentity(identity), identity, clock, log, random: () => 0 });
  const stop = new AbortController();
  const history: string[] = [];
  let leadership: AbortSignal | undefined;
  const done = elector.run(
    {
      onStartedLeading: (signal) => {
        leadership = signal;
        history.push('started');
      },
      onStoppedLeading: () => history.push('stopped'),
    },
    stop.signal,
  );
  return { elector, stop, history, done, leadership: () => leadership };
}

describe('LeaderElector', () => {
  it('exactly one of two candidates leads, and it keeps renewing', async () => {
    const clock = new FakeClock();
    const lock = new FakeLeaseLock();
    const a = candidate(lock, clock, 'a');
    await flushMicrotasks();
    const b = candidate(lock, clock, 'b');
    await clock.advance(60_000);
    expect(a.elector.isLeader).toBe(true);
    expect(b.elector.isLeader).toBe(false);
    expect(lock.record?.holderIdentity).toBe('a');
    expect(lock.record?.leaseTransitions).toBe(0);
    expect(lock.writes).toBeGreaterThan(20); // renewals every 2 s
    a.stop.abort();
    b.stop.abort();
    await Promise.all([a.done, b.done]);
  });

  it('a standby takes over only after the lease duration when the leader vanishes without releasing', async () => {
    const clock = new FakeClock();
    const lock = new FakeLeaseLock();
    const a = candidate(lock, clock, 'a');
    await flushMicrotasks();
    const b = candidate(lock, clock, 'b');
    await clock.advance(4_000);
    lock.partitioned.add('a'); // a is gone: no renewals, no release
    await clock.advance(12_000); // < 15 s since b last saw the record change
    expect(b.elector.isLeader).toBe(false);
    await clock.advance(6_000);
    expect(b.elector.isLeader).toBe(true);
    expect(lock.record?.holderIdentity).toBe('b');
    expect(lock.record?.leaseTransitions).toBe(1);
    // a could not renew for its renew deadline: it stepped down before b took over, and run() says so.
    expect(await a.done).toBe('lost');
    expect(a.history).toEqual(['started', 'stopped']);
    expect(a.leadership()?.aborted).toBe(true);
    b.stop.abort();
    await b.done;
  });

  it('the leader steps down after the renew deadline, before the lease expires for others', async () => {
    const clock = new FakeClock();
    const lock = new FakeLeaseLock();
    const a = candidate(lock, clock, 'a');
    await flushMicrotasks();
    expect(a.elector.isLeader).toBe(true);
    lock.partitioned.add('a');
    await clock.advance(9_000);
    expect(a.elector.isLeader).toBe(true);
    await clock.advance(2_000);
    expect(a.elector.isLeader).toBe(false);
    expect(await a.done).toBe('lost');
  });

  it('releasing on stop makes the hand-over immediate', async () => {
    const clock = new FakeClock();
    const lock = new FakeLeaseLock();
    const a = candidate(lock, clock, 'a');
    await flushMicrotasks();
    const b = candidate(lock, clock, 'b');
    await clock.advance(4_000);
    a.stop.abort();
    expect(await a.done).toBe('stopped');
    expect(lock.record?.holderIdentity).toBe('');
    expect(lock.record?.leaseDurationSeconds).toBe(1);
    await clock.advance(2_000); // b's next retry
    expect(b.elector.isLeader).toBe(true);
    b.stop.abort();
    await b.done;
  });

  it('stopping before ever leading still calls onStoppedLeading and writes nothing', async () => {
    const clock = new FakeClock();
    const lock = new FakeLeaseLock();
    const a = candidate(lock, clock, 'a');
    await flushMicrotasks();
    const b = candidate(lock, clock, 'b');
    await flushMicrotasks();
    const writes = lock.writes;
    b.stop.abort();
    expect(await b.done).toBe('stopped');
    expect(b.history).toEqual(['stopped']);
    expect(lock.writes).toBe(writes);
    expect(lock.record?.holderIdentity).toBe('a');
    a.stop.abort();
    await a.done;
  });
});
