import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { BackoffPolicy } from './backoff.ts';
import { describeError, keyOf, type Informer } from './informer.ts';
import { isConflict, type KubeObject, type ObjectMeta, type ResourceType } from './kube-client.ts';
import { jsonEqual } from './merge-patch.ts';
import { objectKeyString, parseObjectKey, ReportedError, RequeueAfterError, TerminalError, type ObjectKey, type Reconciler } from './reconcile.ts';
import { ReferenceIndex } from './reference-index.ts';
import { WorkQueue, type ShutdownReport, type WorkResult } from './work-queue.ts';

/** Where a controller gets (shared) informers from; the Manager is one. */
export interface InformerSource {
  informer<T extends KubeObject>(type: ResourceType, options?: InformerScope): Informer<T>;
}

/** Which objects of a type an informer caches, and how much of each (see InformerOptions). */
export interface InformerScope {
  labelSelector?: string;
  metadataOnly?: boolean;
}

/** How one reconcile ended, for metrics. */
export type ReconcileOutcome = 'success' | 'requeue' | 'conflict' | 'error' | 'terminal' | 'aborted';

export interface ReconcileObservation {
  controller: string;
  key: ObjectKey;
  outcome: ReconcileOutcome;
  durationMs: number;
}

/** Decides whether an update of the primary object should queue it. */
export type UpdatePredicate<T> = (oldObj: T, newObj: T) => boolean;

export interface ControllerOptions<T extends KubeObject> {
  /** Used in logs and metrics, e.g. `neonbranch`. */
  name: string;
  /** The primary resource: its keys are what `reconciler` is called with. */
  resource: ResourceType;
  reconciler: Reconciler;
  informers: InformerSource;
  clock: Clock;
  log: Logger;
  /** Distinct keys reconciled at once. Default 2. */
  concurrency?: number;
  backoff?: BackoffPolicy;
  /** After a successful reconcile without `requeueAfter`, reconcile again after this long (drift repair). */
  resyncPeriodMs?: number;
  /** Spread of the resync, as a fraction of the period (0.1 → ±10%). Default 0.1. */
  resyncJitter?: number;
  /** Filter for primary-object updates; default: every update queues. See `specOrMetadataChanged`. */
  updatePredicate?: UpdatePredicate<T>;
  /**
   * True for an object that needs no work now (e.g. Ready for its current generation). Objects the informer's
   * first list brings that are settled are queued at a random time within the resync period instead of at
   * once, so a start or restart serves first the objects that need work and re-observes the rest spread out,
   * never all at once. Needs resyncPeriodMs.
   */
  settled?: (obj: T) => boolean;
  /**
   * True for a version of an object this process wrote itself (KubeClient.wroteVersion): an update event
   * carrying it requeues nothing for the primary or the objects it owns, since the pass that wrote it knows.
   */
  ownWrite?: (obj: KubeObject) => boolean;
  random?: () => number;
  onReconciled?: (observation: ReconcileObservation) => void;
}

/**
 * Queues primary objects when their generation, labels, annotations, finalizers or deletion state
 * change, ignoring status-only writes (our own status writes would otherwise echo back as reconciles).
 */
export function specOrMetadataChanged<T extends KubeObject>(oldObj: T, newObj: T): boolean {
  const pick = (m: ObjectMeta | undefined) => ({
    generation: m?.generation,
    labels: m?.labels,
    annotations: m?.annotations,
    finalizers: m?.finalizers,
    deletionTimestamp: m?.deletionTimestamp,
  });
  return !jsonEqual(pick(oldObj.metadata), pick(newObj.metadata));
}

/**
 * Predicate for referenced objects: true when what a dependent can use of `newObj` changed — its spec
 * (generation), deletion, its Ready condition (status and the generation it was computed for), or, while it is
 * Ready, any status field other than conditions (IDs, hosts). The fields a referenced object records on its way
 * to Ready wake nobody: dependents wait for Ready. A dependent that needs such a field earlier says so with
 * its own predicate.
 */
export function readableStateChanged<T extends KubeObject>(oldObj: T, newObj: T): boolean {
  const pick = (o: T) => {
    const { conditions, observedGeneration: _observed, ...rest } = ((o as { status?: Record<string, unknown> }).status ?? {}) as {
      conditions?: Array<{ type?: string; status?: string; observedGeneration?: number }>;
      observedGeneration?: number;
    } & Record<string, unknown>;
    const ready = conditions?.find((c) => c.type === 'Ready');
    const isReady = ready?.status === 'True' && ready.observedGeneration === o.metadata?.generation;
    return {
      generation: o.metadata?.generation,
      deletionTimestamp: o.metadata?.deletionTimestamp,
      ready: ready ? [ready.status, ready.observedGeneration] : undefined,
      status: isReady ? rest : undefined,
    };
  };
  return !jsonEqual(pick(oldObj), pick(newObj));
}

/**
 * One controller: the primary resource's informer (and any watched ones) feed keys into a deduplicating
 * queue; workers call the reconciler per key. Keys are queued as soon as the controller is created;
 * `start` runs the workers (the Manager does that when this replica leads).
 */
export class Controller<T extends KubeObject = KubeObject> {
  readonly name: string;
  readonly resource: ResourceType;
  readonly queue: WorkQueue;
  /** The primary informer's store: reconcilers read from here. */
  readonly informer: Informer<T>;
  readonly #options: ControllerOptions<T>;
  readonly #log: Logger;
  readonly #unsubscribe: Array<() => void> = [];
  #started = false;

  constructor(options: ControllerOptions<T>) {
    this.#options = options;
    this.name = options.name;
    this.resource = options.resource;
    this.#log = options.log.child({ controller: options.name });
    this.queue = new WorkQueue({
      clock: options.clock,
      concurrency: options.concurrency ?? 2,
      ...(options.backoff ? { backoff: options.backoff } : {}),
    });
    this.informer = options.informers.informer<T>(options.resource);
    const predicate = options.updatePredicate;
    this.#unsubscribe.push(
      this.informer.on({
        add: (obj) => {
          const period = options.resyncPeriodMs;
          if (period && options.settled && !this.informer.hasSynced() && options.settled(obj)) {
            this.queue.addAfter(objectKeyString(keyOf(obj)), Math.round(period * (options.random ?? Math.random)()));
          } else {
            this.enqueue(keyOf(obj));
          }
        },
        update: (oldObj, newObj) => {
          if (options.ownWrite?.(newObj)) return;
          if (!predicate || predicate(oldObj, newObj)) this.enqueue(keyOf(newObj));
        },
        delete: (obj) => this.enqueue(keyOf(obj)),
      }),
    );
  }

  enqueue(key: ObjectKey): void {
    this.queue.add(objectKeyString(key));
  }

  /**
   * Requeues the owning primary object when an object of `type` that it owns (by ownerReference with
   * the primary's kind and group) is added, changed or deleted — e.g. a Secret the primary writes. With
   * `metadataOnly` the watch gets metadata only: a change of any field still arrives as an event, but the
   * owned objects' contents (a Secret's data) are neither sent nor cached, and the informer is not the one
   * `informer(type)` returns, so a reconciler must read the object itself (by name), not from a cache.
   */
  watchOwned(type: ResourceType, options: { labelSelector?: string; controllerOnly?: boolean; metadataOnly?: boolean } = {}): this {
    const { group, kind } = this.resource;
    const owners = (obj: KubeObject): ObjectKey[] =>
      (obj.metadata?.ownerReferences ?? [])
        .filter((ref) => ref.kind === kind && apiGroupOf(ref.apiVersion) === group)
        .filter((ref) => !options.controllerOnly || ref.controller === true)
        .map((ref) => ({ namespace: obj.metadata?.namespace ?? '', name: ref.name }));
    return this.watchMapped(type, owners, {
      ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
      ...(options.metadataOnly ? { metadataOnly: true } : {}),
    });
  }

  /** Requeues the primary keys `map` returns whenever an object of `type` is added, changed or deleted. */
  watchMapped(type: ResourceType, map: (obj: KubeObject) => ObjectKey[], options: InformerScope = {}): this {
    const informer = this.#options.informers.informer(type, options);
    const enqueueAll = (obj: KubeObject): void => {
      for (const key of map(obj)) this.enqueue(key);
    };
    this.#unsubscribe.push(
      informer.on({
        add: enqueueAll,
        update: (oldObj, newObj) => {
          if (this.#options.ownWrite?.(newObj)) return;
          enqueueAll(oldObj);
          enqueueAll(newObj);
        },
        delete: enqueueAll,
      }),
    );
    return this;
  }

  /**
   * Dependents follow what they reference: `references(primary)` names the objects of `type` a primary
   * object depends on (e.g. a branch → its project). When one of them changes, every primary object that
   * references it is requeued (through an index, no scan); an update only when `changed(old, new)` says so
   * (e.g. readableStateChanged). Returns the index for inspection.
   */
  watchReferences(
    type: ResourceType,
    references: (primary: T) => ObjectKey[],
    changed: (oldObj: KubeObject, newObj: KubeObject) => boolean = () => true,
  ): ReferenceIndex {
    const index = new ReferenceIndex();
    const track = (obj: T): void => index.set(objectKeyString(keyOf(obj)), references(obj).map(objectKeyString));
    this.#unsubscribe.push(
      this.informer.on({
        add: track,
        update: (_old, obj) => track(obj),
        delete: (obj) => index.delete(objectKeyString(keyOf(obj))),
      }),
    );
    const requeueDependents = (obj: KubeObject): void => {
      for (const dependent of index.dependentsOf(objectKeyString(keyOf(obj)))) this.queue.add(dependent);
    };
    this.#unsubscribe.push(
      this.#options.informers.informer(type).on({
        add: requeueDependents,
        update: (old, obj) => {
          if (changed(old, obj)) requeueDependents(obj);
        },
        delete: requeueDependents,
      }),
    );
    return index;
  }

  /** Runs the workers. Call once, after the informers have synced. */
  start(): void {
    if (this.#started || this.queue.isShuttingDown) return;
    this.#started = true;
    this.queue.start((key, signal) => this.#process(key, signal));
    this.#log.info({ concurrency: this.#options.concurrency ?? 2 }, 'controller started');
  }

  /** Stops intake and lets in-flight reconciles finish up to `deadlineMs`, then aborts them. */
  async stop(deadlineMs: number): Promise<ShutdownReport> {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    const report = await this.queue.shutdown(deadlineMs);
    if (report.abortedKeys.length > 0) {
      this.#log.warn({ abortedKeys: report.abortedKeys }, 'reconciles aborted at the shutdown deadline');
    }
    return report;
  }

  async #process(keyString: string, signal: AbortSignal): Promise<WorkResult> {
    const key = parseObjectKey(keyString);
    const log = this.#log.child({ namespace: key.namespace, name: key.name });
    const { clock } = this.#options;
    const started = clock.now();
    const observe = (outcome: ReconcileOutcome): void =>
      this.#options.onReconciled?.({ controller: this.name, key, outcome, durationMs: clock.now() - started });
    try {
      const result = await this.#options.reconciler(key, { signal, log });
      const requeueAfter = result?.requeueAfter;
      if (result?.wakeWhen) {
        // Ahead of the queue: the object started this work, and what waits for it waits for this pass.
        const wake = (): void => this.queue.addFirst(keyString);
        result.wakeWhen.then(wake, wake);
      }
      if (result?.backoff) {
        // Not an error, but not settled either: visible at debug on every attempt, paced by the backoff.
        log.debug({ attempt: this.queue.failures(keyString) + 1, minDelayMs: requeueAfter }, 'requeued with backoff');
        observe('requeue');
        return { type: 'retry', ...(requeueAfter !== undefined ? { minDelayMs: requeueAfter } : {}) };
      }
      observe(requeueAfter !== undefined ? 'requeue' : 'success');
      return { type: 'done', requeueAfterMs: requeueAfter ?? this.#resyncDelay() };
    } catch (err) {
      if (signal.aborted) {
        observe('aborted');
        return { type: 'drop' };
      }
      if (err instanceof RequeueAfterError) {
        log.debug({ retryInMs: err.delayMs, why: err.message }, 'requeued');
        observe('requeue');
        return { type: 'done', requeueAfterMs: err.delayMs };
      }
      if (err instanceof TerminalError) {
        log.error({ err: describeError(err) }, 'reconcile failed; not retrying until the object changes');
        observe('terminal');
        return { type: 'drop' };
      }
      if (isConflict(err)) {
        // Someone wrote the object since we read it: the informer brings the new version; just go again.
        log.debug({ err: describeError(err) }, 'conflict; requeued');
        observe('conflict');
        return { type: 'retry' };
      }
      const failures = this.queue.failures(keyString) + 1;
      if (err instanceof ReportedError) {
        log.debug({ err: describeError(err.cause), failures }, 'reconcile failed (reported on the object); retrying with backoff');
        observe('error');
        return { type: 'retry' };
      }
      log.error({ err: describeError(err), failures }, 'reconcile failed; retrying with backoff');
      observe('error');
      return { type: 'retry' };
    }
  }

  #resyncDelay(): number | undefined {
    const period = this.#options.resyncPeriodMs;
    if (!period) return undefined;
    const jitter = this.#options.resyncJitter ?? 0.1;
    const random = this.#options.random ?? Math.random;
    return Math.round(period * (1 + jitter * (2 * random() - 1)));
  }
}

/** `group/version` → group; `v1` → '' (core). */
export function apiGroupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}
