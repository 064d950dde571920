import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../clock.ts';
import type { BackoffPolicy } from './backoff.ts';
import { Controller, type ControllerOptions, type InformerScope, type InformerSource } from './controller.ts';
import { EventRecorder } from './events.ts';
import { Informer } from './informer.ts';
import { resourceTypeId, type KubeClient, type KubeObject, type ResourceType } from './kube-client.ts';
import { KubeLeaseLock, LeaderElector } from './leader-election.ts';

export interface LeaderElectionOptions {
  /** Where the Lease lives (usually the operator's own namespace). */
  namespace: string;
  name: string;
  /** Default: hostname plus a random suffix (unique even across restarts of one pod). */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface ManagerOptions {
  client: KubeClient;
  log: Logger;
  clock?: Clock;
  /** Namespaces watched for namespaced kinds; undefined or empty: all namespaces. */
  namespaces?: readonly string[] | undefined;
  /** Run controllers only while holding this Lease. Undefined: always run (single replica). */
  leaderElection?: LeaderElectionOptions | undefined;
  /** On SIGTERM: how long in-flight reconciles may take before they are aborted. Default 20 s (fits the default 30 s grace period). */
  /**
   * Runs on a stop that did not lose the Lease, after the controllers and informers stopped and before the Lease
   * is released: the last moment this process is the only one reconciling (e.g. to save state for the next leader).
   */
  beforeRelease?: () => Promise<void>;
  shutdownDeadlineMs?: number;
  /** Defaults for every informer. */
  informers?: { relistPeriodMs?: number; stallTimeoutMs?: number; backoff?: BackoffPolicy };
  /** `reportingController` for Events, e.g. `example.dev/operator`. */
  eventReportingController?: string;
  /** Default `onReconciled` for every controller (metrics). */
  onReconciled?: ControllerOptions<KubeObject>['onReconciled'];
  random?: () => number;
}

/** Thrown by `Manager.run` when this replica lost the Lease: exit and let the process restart. */
export class LeadershipLostError extends Error {
  override readonly name = 'LeadershipLostError';
}

type ControllerSpec<T extends KubeObject> = Omit<ControllerOptions<T>, 'informers' | 'clock' | 'log'> & { log?: Logger };

/**
 * Runs a set of controllers: one shared informer per resource type (and label selector), started at
 * once so caches are warm on a standby; controllers' workers start when this replica leads and every
 * informer has synced. `stop()` (or SIGTERM via `installSignalHandlers`) shuts down in a safe order:
 * stop intake and let in-flight reconciles finish (up to the deadline), stop the informers, and only
 * then release the Lease, so the next leader never overlaps with our in-flight work.
 */
export class Manager implements InformerSource {
  readonly client: KubeClient;
  readonly clock: Clock;
  readonly log: Logger;
  readonly identity: string;
  readonly #options: ManagerOptions;
  readonly #informers = new Map<string, Informer>();
  readonly #controllers: Controller[] = [];
  readonly #stopRequested: Promise<void>;
  #requestStop: () => void = () => undefined;
  #running = false;
  #leading = false;
  #controllersStarted = false;
  #stopping = false;
  #runPromise: Promise<void> | undefined;
  #events: EventRecorder | undefined;

  constructor(options: ManagerOptions) {
    this.#options = options;
    this.client = options.client;
    this.clock = options.clock ?? systemClock;
    this.log = options.log;
    this.identity = options.leaderElection?.identity ?? `${hostname()}_${randomUUID().slice(0, 8)}`;
    this.#stopRequested = new Promise<void>((resolve) => (this.#requestStop = resolve));
  }

  /** The shared informer for `type` (created on first use; started if the manager runs). */
  informer<T extends KubeObject>(type: ResourceType, options: InformerScope = {}): Informer<T> {
    const id = `${resourceTypeId(type)}?${options.labelSelector ?? ''}${options.metadataOnly ? '#metadata' : ''}`;
    let informer = this.#informers.get(id);
    if (!informer) {
      informer = new Informer({
        client: this.client,
        type,
        clock: this.clock,
        log: this.log,
        namespaces: this.#options.namespaces,
        labelSelector: options.labelSelector,
        metadataOnly: options.metadataOnly,
        ...this.#options.informers,
        ...(this.#options.random ? { random: this.#options.random } : {}),
      });
      this.#informers.set(id, informer);
      if (this.#running) informer.start();
    }
    return informer as unknown as Informer<T>;
  }

  /** Creates a controller whose informers come from this manager. Add watches before `run`. */
  addController<T extends KubeObject>(spec: ControllerSpec<T>): Controller<T> {
    if (this.#running) throw new Error('add controllers before Manager.run()');
    const controller = new Controller<T>({
      ...spec,
      informers: this,
      clock: this.clock,
      log: spec.log ?? this.log,
      ownWrite: (obj) => this.client.wroteVersion(obj),
      ...(this.#options.random && !spec.random ? { random: this.#options.random } : {}),
      ...(this.#options.onReconciled && !spec.onReconciled ? { onReconciled: this.#options.onReconciled } : {}),
    });
    this.#controllers.push(controller as unknown as Controller);
    return controller;
  }

  /** An Event recorder shared by the controllers (one aggregation cache). */
  get events(): EventRecorder {
    this.#events ??= new EventRecorder({
      client: this.client,
      clock: this.clock,
      log: this.log,
      reportingController: this.#options.eventReportingController ?? 'operator',
      reportingInstance: this.identity,
    });
    return this.#events;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** The controllers, e.g. to export their queues' depth as metrics. */
  get controllers(): readonly Controller[] {
    return this.#controllers;
  }

  /** Liveness: the manager is running (informers retry on their own; a failing API server is not a reason to restart). */
  healthy(): boolean {
    return this.#running;
  }

  /** Readiness: every informer has completed its initial list. */
  ready(): boolean {
    return this.#running && [...this.#informers.values()].every((i) => i.hasSynced());
  }

  /**
   * Runs until `stop()`; resolves after a graceful shutdown. Rejects with `LeadershipLostError` if the
   * Lease was lost (after stopping the controllers quickly).
   */
  run(): Promise<void> {
    this.#runPromise ??= this.#run();
    return this.#runPromise;
  }

  /** Requests a graceful shutdown and waits for it. Safe to call more than once, or before `run`. */
  async stop(): Promise<void> {
    this.#requestStop();
    await this.#runPromise?.catch(() => undefined);
  }

  async #run(): Promise<void> {
    this.#running = true;
    for (const informer of this.#informers.values()) informer.start();
    const le = this.#options.leaderElection;
    const electorStop = new AbortController();
    let electorDone: Promise<'lost' | 'stopped'> | undefined;
    let leaseDurationMs = 15_000;
    let renewDeadlineMs = 10_000;
    if (le) {
      const elector = new LeaderElector({
        lock: new KubeLeaseLock(this.client, le.namespace, le.name),
        identity: this.identity,
        clock: this.clock,
        log: this.log,
        ...(le.leaseDurationMs !== undefined ? { leaseDurationMs: le.leaseDurationMs } : {}),
        ...(le.renewDeadlineMs !== undefined ? { renewDeadlineMs: le.renewDeadlineMs } : {}),
        ...(le.retryPeriodMs !== undefined ? { retryPeriodMs: le.retryPeriodMs } : {}),
        ...(this.#options.random ? { random: this.#options.random } : {}),
      });
      leaseDurationMs = le.leaseDurationMs ?? leaseDurationMs;
      renewDeadlineMs = le.renewDeadlineMs ?? renewDeadlineMs;
      electorDone = elector.run(
        {
          onStartedLeading: (signal) => {
            this.#leading = true;
            void this.#startControllers(signal);
          },
          onStoppedLeading: () => {
            this.#leading = false;
          },
          onNewLeader: (identity) => this.log.info({ leader: identity, self: identity === this.identity }, 'observed leader'),
        },
        electorStop.signal,
      );
    } else {
      this.#leading = true;
      void this.#startControllers(electorStop.signal);
    }

    const reason = await Promise.race([
      this.#stopRequested.then(() => 'stop' as const),
      ...(electorDone ? [electorDone.then((r) => (r === 'lost' ? ('lost' as const) : ('stop' as const)))] : []),
    ]);
    this.#stopping = true;
    this.log.info({ reason }, 'shutting down controllers');
    // After losing the lease another replica may lead once it expires for them: finish well before that.
    const deadline =
      reason === 'lost'
        ? Math.min(this.#options.shutdownDeadlineMs ?? 20_000, Math.max(0, leaseDurationMs - renewDeadlineMs - 1_000))
        : (this.#options.shutdownDeadlineMs ?? 20_000);
    await Promise.all(this.#controllers.map((c) => c.stop(deadline)));
    await Promise.all([...this.#informers.values()].map((i) => i.stop()));
    if (reason !== 'lost' && this.#leading) {
      await this.#options.beforeRelease?.().catch((err: unknown) => this.log.warn({ err }, 'beforeRelease failed'));
    }
    // Only now is it safe to let someone else lead.
    electorStop.abort(new Error('manager stopped'));
    await electorDone;
    this.#leading = false;
    this.#running = false;
    this.log.info('stopped');
    if (reason === 'lost') throw new LeadershipLostError('lost the leader lease');
  }

  async #startControllers(signal: AbortSignal): Promise<void> {
    if (this.#controllersStarted) return;
    try {
      await Promise.all([...this.#informers.values()].map((i) => i.waitForSync(signal)));
    } catch {
      return; // leadership ended or the manager stopped before the caches synced
    }
    if (signal.aborted || this.#stopping || this.#controllersStarted) return;
    this.#controllersStarted = true;
    for (const controller of this.#controllers) controller.start();
  }
}

/**
 * SIGTERM/SIGINT → graceful `manager.stop()`; a second signal exits at once. Returns a function that
 * removes the handlers.
 */
export function installSignalHandlers(manager: Manager, proc: NodeJS.Process = process): () => void {
  let received = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received) {
      manager.log.warn({ signal }, 'second signal: exiting without waiting');
      proc.exit(1);
    }
    received = true;
    manager.log.info({ signal }, 'signal received: graceful shutdown');
    void manager.stop();
  };
  proc.on('SIGTERM', onSignal);
  proc.on('SIGINT', onSignal);
  return () => {
    proc.off('SIGTERM', onSignal);
    proc.off('SIGINT', onSignal);
  };
}
