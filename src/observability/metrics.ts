/**
 * The operator's Prometheus metrics. This is the one place where the Kubernetes runtime (controllers,
 * work queues, informers, leader election) and the Neon scheduler meet for observability: neither of them
 * knows about Prometheus or about each other; they expose hooks (`onReconciled`, `onEvent`, `stats()`),
 * and `OperatorMetrics` binds those hooks to prom-client metrics named by Prometheus conventions
 * (`neon_operator_` prefix, base units: seconds, `_total` for counters).
 *
 * Labels stay bounded: kinds, results, HTTP methods, Neon route templates (never concrete IDs), status
 * codes. No API key, account, project ID or object name is ever a label value.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import type { SchedulerEvent, SchedulerStats } from '../neon/index.ts';
import type { KubeObject, ReconcileObservation, ReconcileOutcome } from '../runtime/index.ts';
import { OPERATOR_VERSION } from '../version.ts';

/** Metric name prefix for everything the operator defines (process/Node.js defaults keep their standard names). */
export const METRIC_PREFIX = 'neon_operator_';

/** What the metrics need of the Neon scheduler (structural, so tests can hand in a stand-in). */
export interface SchedulerSource {
  onEvent(listener: (event: SchedulerEvent) => void): () => void;
  stats(): SchedulerStats;
}

/** What the metrics need of one runtime Controller (structural; `Controller` satisfies it). */
export interface ControllerSource {
  readonly name: string;
  readonly resource: { readonly kind: string };
  readonly queue: { readonly stats: { queued: number; processing: number; waiting: number } };
  readonly informer: { list(): KubeObject[] };
}

/** What the leader gauge needs (structural; `Manager` satisfies it). */
export interface LeaderSource {
  readonly isLeader: boolean;
}

/** What the metrics need of the Manager (structural; `Manager` satisfies it). */
export interface ManagerSource extends LeaderSource {
  /** Read at scrape time, so controllers added after binding are included. */
  readonly controllers: readonly ControllerSource[];
}

export interface OperatorMetricsOptions {
  /** Default: a fresh Registry (never the global one, so tests and several instances do not collide). */
  registry?: Registry;
  /** Registers prom-client's default process and Node.js metrics. Default true. */
  defaultMetrics?: boolean;
}

/** Readiness as the `Ready` condition says it; objects without one yet count as Unknown. */
type ReadyStatus = 'True' | 'False' | 'Unknown';

// Only the Ready condition is read, from objects of the informer caches; anything else in status is ignored.
const readyView = z.looseObject({
  status: z
    .looseObject({
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
    })
    .optional(),
});

function readyStatusOf(obj: KubeObject): ReadyStatus {
  const parsed = readyView.safeParse(obj);
  const ready = parsed.success ? parsed.data.status?.conditions?.find((c) => c.type === 'Ready') : undefined;
  return ready?.status === 'True' || ready?.status === 'False' ? ready.status : 'Unknown';
}

// Reconciles take from milliseconds (nothing to do) to minutes (waiting on Neon operations in-line).
const reconcileBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
// Neon answers in tens to hundreds of milliseconds; timeouts are tens of seconds.
const requestBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// Queue waits are zero when the budget is free and up to a minute after a 429 pause.
const queueWaitBuckets = [0, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60];

const reconcileResults: readonly ReconcileOutcome[] = ['success', 'requeue', 'conflict', 'error', 'terminal', 'aborted'];

/**
 * The operator's metrics on one registry. Bind sources with `bindScheduler` and `bindManager` (or
 * `bindController` and `bindLeader` one by one), and pass `onReconciled` as the Manager's (or every
 * controller's) `onReconciled` option. Gauges derived from state (queue
 * depths, resources by readiness, leadership) are computed at scrape time, so they can never drift.
 */
export class OperatorMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'kind' | 'result'>;
  readonly reconcileDuration: Histogram<'kind'>;
  readonly neonRequestsTotal: Counter<'method' | 'route' | 'status'>;
  readonly neonRequestDuration: Histogram<'method' | 'route'>;
  readonly neonRetriesTotal: Counter<'method' | 'route'>;
  readonly neonOutcomeUnknownTotal: Counter<'method' | 'route'>;
  readonly neonRateLimitedTotal: Counter<'route'>;
  readonly neonLockedTotal: Counter<'route'>;
  readonly neonOperationPollsTotal: Counter;
  readonly schedulerQueueDepth: Gauge;
  readonly schedulerInFlight: Gauge;
  readonly schedulerQueueWait: Histogram;
  readonly workqueueDepth: Gauge<'kind'>;
  readonly workqueueInProgress: Gauge<'kind'>;
  readonly workqueueDelayed: Gauge<'kind'>;
  readonly resources: Gauge<'kind' | 'ready'>;
  readonly leader: Gauge;
  readonly buildInfo: Gauge<'version'>;

  readonly #schedulers = new Set<SchedulerSource>();
  readonly #controllers = new Map<string, ControllerSource>();
  readonly #managers = new Set<ManagerSource>();
  #leaderSource: LeaderSource | undefined;

  constructor(options: OperatorMetricsOptions = {}) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    const registers = [registry];
    const p = METRIC_PREFIX;

    const allControllers = (): ControllerSource[] => this.#allControllers();
    this.reconcileTotal = new Counter({
      name: `${p}reconcile_total`,
      help: 'Reconciles finished, by kind and result (success, requeue, conflict, error, terminal, aborted).',
      labelNames: ['kind', 'result'],
      registers,
      // Every bound kind shows every result from the first scrape (at 0), so rate() and alerts work at once.
      collect() {
        for (const c of allControllers()) {
          for (const result of reconcileResults) this.inc({ kind: c.resource.kind, result }, 0);
        }
      },
    });
    this.reconcileDuration = new Histogram({
      name: `${p}reconcile_duration_seconds`,
      help: 'Time one reconcile took, by kind.',
      labelNames: ['kind'],
      buckets: reconcileBuckets,
      registers,
    });
    this.neonRequestsTotal = new Counter({
      name: `${p}neon_api_requests_total`,
      help: 'HTTP requests sent to the Neon API (every attempt), by method, route template and status code (0: no response).',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.neonRequestDuration = new Histogram({
      name: `${p}neon_api_request_duration_seconds`,
      help: 'Latency of Neon API requests from send to answer, by method and route template.',
      labelNames: ['method', 'route'],
      buckets: requestBuckets,
      registers,
    });
    this.neonRetriesTotal = new Counter({
      name: `${p}neon_api_retries_total`,
      help: 'Neon API attempts that failed and were retried by the scheduler, by method and route template.',
      labelNames: ['method', 'route'],
      registers,
    });
    this.neonOutcomeUnknownTotal = new Counter({
      name: `${p}neon_api_outcome_unknown_total`,
      help: 'Neon API mutations whose outcome is unknown (not retried; resolved by observing Neon), by method and route.',
      labelNames: ['method', 'route'],
      registers,
    });
    this.neonRateLimitedTotal = new Counter({
      name: `${p}neon_api_rate_limited_total`,
      help: 'Neon API answers 429 Too Many Requests, by route template.',
      labelNames: ['route'],
      registers,
    });
    this.neonLockedTotal = new Counter({
      name: `${p}neon_api_locked_total`,
      help: 'Neon API answers 423 Locked (a project operation was in flight), by route template.',
      labelNames: ['route'],
      registers,
    });
    this.neonOperationPollsTotal = new Counter({
      name: `${p}neon_operation_poll_rounds_total`,
      help: 'Rounds of polling project operations (one round answers every waiter of a project).',
      registers,
    });

    const schedulers = this.#schedulers;
    const sumStats = (pick: (s: SchedulerStats) => number): number =>
      [...schedulers].reduce((sum, s) => sum + pick(s.stats()), 0);
    this.schedulerQueueDepth = new Gauge({
      name: `${p}neon_scheduler_queue_depth`,
      help: 'Neon API calls waiting for their project lane, the rate budget or a concurrency slot.',
      registers,
      collect() {
        this.set(sumStats((s) => s.queued));
      },
    });
    this.schedulerInFlight = new Gauge({
      name: `${p}neon_scheduler_in_flight`,
      help: 'Neon API requests sent and not yet answered.',
      registers,
      collect() {
        this.set(sumStats((s) => s.inFlight));
      },
    });
    this.schedulerQueueWait = new Histogram({
      name: `${p}neon_scheduler_queue_wait_seconds`,
      help: 'Time a Neon API attempt waited in the scheduler (lane, rate budget, concurrency) before it was sent.',
      buckets: queueWaitBuckets,
      registers,
    });

    const perController = (gauge: Gauge<'kind'>, pick: (c: ControllerSource) => number): void => {
      gauge.reset();
      for (const c of allControllers()) gauge.set({ kind: c.resource.kind }, pick(c));
    };
    this.workqueueDepth = new Gauge({
      name: `${p}workqueue_depth`,
      help: 'Keys queued for reconciling and not yet started, by kind.',
      labelNames: ['kind'],
      registers,
      collect() {
        perController(this, (c) => c.queue.stats.queued);
      },
    });
    this.workqueueInProgress = new Gauge({
      name: `${p}workqueue_in_progress`,
      help: 'Keys being reconciled right now, by kind.',
      labelNames: ['kind'],
      registers,
      collect() {
        perController(this, (c) => c.queue.stats.processing);
      },
    });
    this.workqueueDelayed = new Gauge({
      name: `${p}workqueue_delayed`,
      help: 'Keys waiting for a backoff or requeue-after delay before they are queued again, by kind.',
      labelNames: ['kind'],
      registers,
      collect() {
        perController(this, (c) => c.queue.stats.waiting);
      },
    });
    this.resources = new Gauge({
      name: `${p}resources`,
      help: 'Custom resources in the watched namespaces, by kind and status of their Ready condition (True, False, Unknown).',
      labelNames: ['kind', 'ready'],
      registers,
      collect() {
        this.reset();
        for (const c of allControllers()) {
          const counts: Record<ReadyStatus, number> = { True: 0, False: 0, Unknown: 0 };
          for (const obj of c.informer.list()) counts[readyStatusOf(obj)]++;
          for (const ready of ['True', 'False', 'Unknown'] as const) {
            this.set({ kind: c.resource.kind, ready }, counts[ready]);
          }
        }
      },
    });
    const leaderOf = (): LeaderSource | undefined => this.#leaderSource;
    this.leader = new Gauge({
      name: `${p}leader`,
      help: '1 while this replica holds the leader Lease (and reconciles), 0 otherwise.',
      registers,
      collect() {
        this.set(leaderOf()?.isLeader === true ? 1 : 0);
      },
    });
    this.buildInfo = new Gauge({
      name: `${p}build_info`,
      help: 'Always 1; the operator version is in the label.',
      labelNames: ['version'],
      registers,
    });
    this.buildInfo.set({ version: OPERATOR_VERSION }, 1);

    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  }

  /**
   * Pass as `onReconciled` in every controller's options. The `kind` label is the controller's resource
   * kind once `bindController` has seen it, else the controller's name.
   */
  readonly onReconciled = (observation: ReconcileObservation): void => {
    const kind = this.#allControllers().find((c) => c.name === observation.controller)?.resource.kind ?? observation.controller;
    this.recordReconcile(kind, observation.outcome, observation.durationMs);
  };

  /** Counts one finished reconcile and its duration. */
  recordReconcile(kind: string, result: ReconcileOutcome, durationMs: number): void {
    this.reconcileTotal.inc({ kind, result });
    this.reconcileDuration.observe({ kind }, Math.max(0, durationMs) / 1000);
  }

  /**
   * Subscribes to the scheduler's events and reads its stats at scrape time. Returns the unsubscribe
   * function. Binding the same scheduler twice is a no-op.
   */
  bindScheduler(scheduler: SchedulerSource): () => void {
    if (this.#schedulers.has(scheduler)) return () => undefined;
    this.#schedulers.add(scheduler);
    const unsubscribe = scheduler.onEvent((event) => this.#onSchedulerEvent(event));
    return () => {
      unsubscribe();
      this.#schedulers.delete(scheduler);
    };
  }

  /**
   * Reads the controller's work queue and its informer's cache at scrape time (queue gauges, resources
   * by Ready status) and labels its reconciles with its resource kind.
   */
  bindController(controller: ControllerSource): void {
    this.#controllers.set(controller.name, controller);
  }

  /** Reports leadership (`neon_operator_leader`) from the source at scrape time. */
  bindLeader(source: LeaderSource): void {
    this.#leaderSource = source;
  }

  /**
   * Binds the Manager: leadership and every controller it runs (read at scrape time). Pass
   * `metrics.onReconciled` as the Manager's `onReconciled` option for the reconcile counts.
   */
  bindManager(manager: ManagerSource): void {
    this.#managers.add(manager);
    this.bindLeader(manager);
  }

  #allControllers(): ControllerSource[] {
    const byName = new Map(this.#controllers);
    for (const m of this.#managers) for (const c of m.controllers) if (!byName.has(c.name)) byName.set(c.name, c);
    return [...byName.values()];
  }

  #onSchedulerEvent(event: SchedulerEvent): void {
    switch (event.type) {
      case 'request': {
        const { method, route } = event;
        this.neonRequestsTotal.inc({ method, route, status: String(event.status) });
        this.neonRequestDuration.observe({ method, route }, Math.max(0, event.durationMs) / 1000);
        this.schedulerQueueWait.observe(Math.max(0, event.queueWaitMs) / 1000);
        if (event.outcome === 'retry') this.neonRetriesTotal.inc({ method, route });
        if (event.outcome === 'outcome-unknown') this.neonOutcomeUnknownTotal.inc({ method, route });
        return;
      }
      case 'rate-limited':
        this.neonRateLimitedTotal.inc({ route: event.route });
        return;
      case 'locked':
        this.neonLockedTotal.inc({ route: event.route });
        return;
      case 'operations-poll':
        this.neonOperationPollsTotal.inc();
        return;
    }
  }
}
