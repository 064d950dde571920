import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../clock.ts';
import { toKubeMicroTime } from './conditions.ts';
import { describeError } from './informer.ts';
import { coreResources, isAlreadyExists, isConflict, type KubeClient, type KubeObject } from './kube-client.ts';

/** The leader-election fields of a coordination.k8s.io/v1 Lease spec. Times are MicroTime strings. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: string;
  renewTime: string;
  leaseTransitions: number;
}

/** Where the lease lives. `create` fails if it exists; `update` fails (conflict) if `resourceVersion` is stale. */
export interface LeaseLock {
  get(signal?: AbortSignal): Promise<{ record: LeaseRecord; resourceVersion: string } | undefined>;
  create(record: LeaseRecord, signal?: AbortSignal): Promise<void>;
  update(record: LeaseRecord, resourceVersion: string, signal?: AbortSignal): Promise<void>;
  /** `namespace/name`, for logs. */
  readonly description: string;
}

const leaseSchema = z.object({
  metadata: z.looseObject({ resourceVersion: z.string() }),
  spec: z
    .looseObject({
      holderIdentity: z.string().nullish(),
      leaseDurationSeconds: z.number().nullish(),
      acquireTime: z.string().nullish(),
      renewTime: z.string().nullish(),
      leaseTransitions: z.number().nullish(),
    })
    .optional(),
});

/** A `LeaseLock` on a real Lease object through the API server. */
export class KubeLeaseLock implements LeaseLock {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #name: string;
  readonly description: string;

  constructor(client: KubeClient, namespace: string, name: string) {
    this.#client = client;
    this.#namespace = namespace;
    this.#name = name;
    this.description = `${namespace}/${name}`;
  }

  async get(signal?: AbortSignal) {
    const raw = await this.#client.get(coreResources.lease, { namespace: this.#namespace, name: this.#name }, signal);
    if (!raw) return undefined;
    const lease = leaseSchema.parse(raw);
    const spec = lease.spec ?? {};
    return {
      resourceVersion: lease.metadata.resourceVersion,
      record: {
        holderIdentity: spec.holderIdentity ?? '',
        leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
        acquireTime: spec.acquireTime ?? '',
        renewTime: spec.renewTime ?? '',
        leaseTransitions: spec.leaseTransitions ?? 0,
      },
    };
  }

  async create(record: LeaseRecord, signal?: AbortSignal): Promise<void> {
    await this.#client.create(coreResources.lease, this.#object(record), signal ? { signal } : {});
  }

  async update(record: LeaseRecord, resourceVersion: string, signal?: AbortSignal): Promise<void> {
    await this.#client.replace(coreResources.lease, this.#object(record, resourceVersion), signal ? { signal } : {});
  }

  #object(record: LeaseRecord, resourceVersion?: string): KubeObject {
    return {
      metadata: { namespace: this.#namespace, name: this.#name, ...(resourceVersion ? { resourceVersion } : {}) },
      spec: {
        holderIdentity: record.holderIdentity,
        leaseDurationSeconds: record.leaseDurationSeconds,
        ...(record.acquireTime ? { acquireTime: record.acquireTime } : {}),
        ...(record.renewTime ? { renewTime: record.renewTime } : {}),
        leaseTransitions: record.leaseTransitions,
      },
    } as KubeObject;
  }
}

export interface LeaderElectorOptions {
  lock: LeaseLock;
  /** Unique per replica, e.g. the pod name plus a random suffix. */
  identity: string;
  clock: Clock;
  log: Logger;
  /** How long others wait after the last renewal they saw before taking over. Default 15 s (client-go). */
  leaseDurationMs?: number;
  /** The leader gives up if it could not renew for this long. Default 10 s; must be < leaseDuration. */
  renewDeadlineMs?: number;
  /** Time between attempts to acquire or renew. Default 2 s. */
  retryPeriodMs?: number;
  random?: () => number;
}

export interface LeaderCallbacks {
  /** Leadership acquired; `signal` aborts the moment it ends (lost or released). */
  onStartedLeading(signal: AbortSignal): void;
  /** Leadership ended, or `run` ended without ever leading. */
  onStoppedLeading(): void;
  /** Someone (maybe this replica) was observed holding the lease. */
  onNewLeader?(identity: string): void;
}

/**
 * Leader election on a Lease, after client-go's `leaderelection` package: acquire by creating or taking
 * over a lease whose holder has not renewed it for its lease duration (measured on this replica's clock
 * from when the record last changed, so clock skew between replicas does not matter), renew every
 * retry period, step down when renewal failed for the renew deadline, and release the lease (empty
 * holder, 1 s duration) on a graceful stop so a standby takes over at its next retry.
 */
export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectorOptions, 'random'>> & { random: () => number };
  #observed: LeaseRecord | undefined;
  #observedAt = 0;
  #leading = false;
  #reportedLeader: string | undefined;

  constructor(options: LeaderElectorOptions) {
    this.#o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      random: Math.random,
      ...options,
    };
    if (this.#o.renewDeadlineMs >= this.#o.leaseDurationMs) throw new Error('renewDeadline must be shorter than leaseDuration');
    if (this.#o.retryPeriodMs >= this.#o.renewDeadlineMs) throw new Error('retryPeriod must be shorter than renewDeadline');
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /**
   * Campaigns until `signal` aborts: acquire, lead, and — if leadership is lost — return (like client-go,
   * a replica that lost the lease should exit and start afresh rather than campaign again with possibly
   * stale work in flight). On abort while leading, the lease is released.
   */
  async run(callbacks: LeaderCallbacks, signal: AbortSignal): Promise<'lost' | 'stopped'> {
    const { clock, log, retryPeriodMs, renewDeadlineMs } = this.#o;
    const sleep = (ms: number): Promise<boolean> => clock.sleep(ms, signal).then(() => true, () => false);
    try {
      // Acquire.
      for (;;) {
        if (signal.aborted) return 'stopped';
        if (await this.#tryAcquireOrRenew(callbacks, signal)) break;
        if (!(await sleep(retryPeriodMs * (1 + 0.2 * this.#o.random())))) return 'stopped';
      }
      this.#leading = true;
      log.info({ lease: this.#o.lock.description, identity: this.#o.identity }, 'became leader');
      const leadership = new AbortController();
      callbacks.onStartedLeading(leadership.signal);
      let lastRenew = clock.now();
      try {
        for (;;) {
          if (!(await sleep(retryPeriodMs))) {
            leadership.abort(new Error('leader election stopped'));
            await this.#release();
            return 'stopped';
          }
          // An attempt may not outlive the renew deadline (a hung request must not keep us "leading").
          const budget = lastRenew + renewDeadlineMs - clock.now();
          const renewed = budget > 0 && (await this.#withTimeout(budget, (s) => this.#tryAcquireOrRenew(callbacks, s), signal));
          if (renewed) {
            lastRenew = clock.now();
          } else if (clock.now() - lastRenew >= renewDeadlineMs) {
            log.error({ lease: this.#o.lock.description }, 'could not renew the lease before the deadline; stepping down');
            leadership.abort(new Error('leadership lost'));
            return 'lost';
          }
        }
      } finally {
        this.#leading = false;
        leadership.abort(new Error('leadership ended'));
      }
    } finally {
      callbacks.onStoppedLeading();
    }
  }

  async #withTimeout(ms: number, attempt: (signal: AbortSignal) => Promise<boolean>, outer: AbortSignal): Promise<boolean> {
    const ctl = new AbortController();
    const onOuter = (): void => ctl.abort(outer.reason);
    outer.addEventListener('abort', onOuter, { once: true });
    const timer = new AbortController();
    const timeout = this.#o.clock.sleep(ms, timer.signal).then(
      () => {
        ctl.abort(new Error('lease attempt timed out'));
        return false;
      },
      () => false,
    );
    try {
      return await Promise.race([attempt(ctl.signal), timeout]);
    } finally {
      timer.abort();
      outer.removeEventListener('abort', onOuter);
    }
  }

  /** One client-go style attempt; true when this replica holds the lease afterwards. Never throws. */
  async #tryAcquireOrRenew(callbacks: LeaderCallbacks, signal: AbortSignal): Promise<boolean> {
    const { lock, identity, clock, log } = this.#o;
    const now = clock.now();
    const desired: LeaseRecord = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
      acquireTime: toKubeMicroTime(now),
      renewTime: toKubeMicroTime(now),
      leaseTransitions: 0,
    };
    try {
      const current = await lock.get(signal);
      if (!current) {
        await lock.create(desired, signal);
        this.#observe(desired, clock.now(), callbacks);
        return true;
      }
      if (!this.#observed || JSON.stringify(this.#observed) !== JSON.stringify(current.record)) {
        this.#observe(current.record, now, callbacks);
      }
      const held = current.record.holderIdentity;
      const expiresAt = this.#observedAt + current.record.leaseDurationSeconds * 1000;
      if (held && held !== identity && expiresAt > now) return false;
      if (held === identity) {
        desired.acquireTime = current.record.acquireTime || desired.acquireTime;
        desired.leaseTransitions = current.record.leaseTransitions;
      } else {
        desired.leaseTransitions = current.record.leaseTransitions + 1;
      }
      await lock.update(desired, current.resourceVersion, signal);
      this.#observe(desired, clock.now(), callbacks);
      return true;
    } catch (err) {
      if (!(isConflict(err) || isAlreadyExists(err)) && !signal.aborted) {
        log.warn({ err: describeError(err), lease: lock.description }, 'lease acquire/renew attempt failed');
      }
      return false;
    }
  }

  #observe(record: LeaseRecord, at: number, callbacks: LeaderCallbacks): void {
    this.#observed = record;
    this.#observedAt = at;
    if (record.holderIdentity && record.holderIdentity !== this.#reportedLeader) {
      this.#reportedLeader = record.holderIdentity;
      callbacks.onNewLeader?.(record.holderIdentity);
    }
  }

  /** Gives the lease up so a standby can take it at its next attempt. Best effort. */
  async #release(): Promise<void> {
    const { lock, identity, clock, log } = this.#o;
    try {
      const current = await lock.get();
      if (!current || current.record.holderIdentity !== identity) return;
      const now = toKubeMicroTime(clock.now());
      await lock.update(
        { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: current.record.leaseTransitions },
        current.resourceVersion,
      );
      log.info({ lease: lock.description }, 'released the lease');
    } catch (err) {
      log.warn({ err: describeError(err), lease: lock.description }, 'could not release the lease; standbys take over after it expires');
    }
  }
}
