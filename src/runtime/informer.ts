import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../clock.ts';
import { backoffDelay, type BackoffPolicy } from './backoff.ts';
import {
  asMetadataOf,
  isGone,
  KubeApiError,
  METADATA_ACCEPT,
  resourcePath,
  resourceTypeId,
  type KubeClient,
  type KubeObject,
  type ResourceType,
} from './kube-client.ts';
import { objectKeyString, type ObjectKey } from './reconcile.ts';

/** Callbacks run synchronously, in order, after the store has changed. */
export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  /** Called with the last state seen (which may be stale if the delete was noticed on a relist). */
  delete?(obj: T): void;
}

export interface InformerOptions {
  client: KubeClient;
  type: ResourceType;
  clock: Clock;
  log: Logger;
  /** Namespaces to watch, one watch each; undefined or empty: all namespaces with one watch. */
  namespaces?: readonly string[] | undefined;
  labelSelector?: string | undefined;
  /**
   * List and watch metadata only (PartialObjectMetadata, as client-go's metadata informer does): for watches
   * that only need to know *that* an object changed, e.g. Secrets, whose data then never leaves the API
   * server. Stored objects carry the type's apiVersion and kind.
   */
  metadataOnly?: boolean | undefined;
  /** Full relist even when the watch looks healthy (catches anything a watch may have missed). Default 10 min. */
  relistPeriodMs?: number;
  /** No event and no bookmark for this long → the watch is presumed dead and restarted. Default 3 min (bookmarks come about every minute). */
  stallTimeoutMs?: number;
  /** Backoff between failed list/watch attempts. Default 500ms → 30s. */
  backoff?: BackoffPolicy;
  /** Injected randomness for jitter, in [0, 1). */
  random?: () => number;
}

export interface InformerStats {
  lists: number;
  watches: number;
  /** Watches restarted by the stall detector. */
  stalls: number;
  /** List or watch attempts that failed (followed by a backoff). */
  errors: number;
  /** Watches that ended because the resourceVersion expired (410), followed by a relist. */
  expired: number;
}

const watchEventSchema = z.object({
  type: z.enum(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']),
  object: z.looseObject({
    metadata: z.looseObject({ name: z.string().optional(), namespace: z.string().optional(), resourceVersion: z.string().optional() }).optional(),
    code: z.number().optional(),
    reason: z.string().optional(),
    message: z.string().optional(),
  }),
});

type WatchEnd = 'closed' | 'stalled' | 'relist' | 'expired' | 'stopped';

/**
 * List + watch of one resource type, with an in-memory store keyed by namespace/name.
 * Hardened where client-node's informer is not: any list or watch failure is retried with backoff
 * (client-node's informer stops on non-410 errors), the watch uses bookmarks and a stall detector
 * restarts a silent watch, an expired resourceVersion (410) leads to a relist, and a periodic relist
 * re-syncs the store even when the watch looks healthy.
 */
export class Informer<T extends KubeObject = KubeObject> {
  readonly type: ResourceType;
  readonly #options: InformerOptions;
  readonly #store = new Map<string, T>();
  readonly #handlers = new Set<InformerHandlers<T>>();
  readonly #synced = new Set<string>();
  readonly #scopes: Array<string | undefined>;
  readonly #stop = new AbortController();
  readonly #log: Logger;
  #running: Promise<void>[] = [];
  #syncWaiters: Array<() => void> = [];
  readonly stats: InformerStats = { lists: 0, watches: 0, stalls: 0, errors: 0, expired: 0 };

  constructor(options: InformerOptions) {
    this.#options = options;
    this.type = options.type;
    this.#scopes = options.type.namespaced && options.namespaces?.length ? [...new Set(options.namespaces)] : [undefined];
    this.#log = options.log.child({ informer: resourceTypeId(options.type) });
  }

  /** Registers handlers; already-stored objects are replayed as adds. Returns an unsubscribe function. */
  on(handlers: InformerHandlers<T>): () => void {
    this.#handlers.add(handlers);
    for (const obj of this.#store.values()) this.#call(() => handlers.add?.(obj));
    return () => this.#handlers.delete(handlers);
  }

  get(key: ObjectKey): T | undefined {
    return this.#store.get(objectKeyString(key));
  }

  /** All stored objects, or those of one namespace. */
  list(namespace?: string): T[] {
    const all = [...this.#store.values()];
    return namespace === undefined ? all : all.filter((o) => (o.metadata?.namespace ?? '') === namespace);
  }

  /** True once every watched namespace has completed its first list. */
  hasSynced(): boolean {
    return this.#synced.size === this.#scopes.length;
  }

  /** Resolves when `hasSynced()`; rejects if `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.hasSynced()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  get isRunning(): boolean {
    return this.#running.length > 0 && !this.#stop.signal.aborted;
  }

  start(): void {
    if (this.#running.length > 0) return;
    if (this.#stop.signal.aborted) throw new Error('informer was stopped');
    this.#running = this.#scopes.map((ns) => this.#runReflector(ns));
  }

  /** Stops all watches; the store keeps its last state. */
  async stop(): Promise<void> {
    this.#stop.abort(new Error('informer stopped'));
    await Promise.allSettled(this.#running);
  }

  async #runReflector(namespace: string | undefined): Promise<void> {
    const { clock, client, type } = this.#options;
    const signal = this.#stop.signal;
    const scope = namespace ?? '*';
    const log = namespace ? this.#log.child({ watchNamespace: namespace }) : this.#log;
    const backoff = this.#options.backoff ?? { baseMs: 500, capMs: 30_000 };
    const random = this.#options.random ?? Math.random;
    const relistPeriod = this.#options.relistPeriodMs ?? 10 * 60_000;
    let failures = 0;
    while (!signal.aborted) {
      try {
        this.stats.lists++;
        const listed = await client.list<T>(type, namespace, {
          signal,
          ...(this.#options.labelSelector ? { labelSelector: this.#options.labelSelector } : {}),
          ...(this.#options.metadataOnly ? { metadataOnly: true } : {}),
        });
        this.#replace(namespace, listed.items);
        this.#markSynced(scope);
        let resourceVersion = listed.resourceVersion;
        // Jitter so that many informers do not relist in lockstep.
        const relistAt = clock.now() + relistPeriod * (1 + 0.2 * random());
        for (;;) {
          const result = await this.#watchOnce(namespace, resourceVersion, relistAt, log);
          resourceVersion = result.resourceVersion;
          if (result.healthy) failures = 0;
          if (result.end === 'stopped' || result.end === 'relist' || result.end === 'expired') break;
          if (result.end === 'stalled') log.warn({ resourceVersion }, 'watch stalled (no event or bookmark); restarting it');
          if (result.end === 'closed' && !result.healthy) {
            // A watch the server closes at once without a single event: do not spin.
            await clock.sleep(backoffDelay(backoff, failures++, 0.2 * random()), signal).catch(() => undefined);
          }
        }
      } catch (err) {
        if (signal.aborted) break;
        this.stats.errors++;
        const delay = backoffDelay(backoff, failures++, 0.2 * random());
        log.warn({ err: describeError(err), retryInMs: delay }, 'list/watch failed; retrying');
        await clock.sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  /** One watch request from `resourceVersion`; returns how it ended. Throws on errors other than 410. */
  async #watchOnce(
    namespace: string | undefined,
    startVersion: string,
    relistAt: number,
    log: Logger,
  ): Promise<{ end: WatchEnd; resourceVersion: string; healthy: boolean }> {
    const { clock, client, type } = this.#options;
    const stallMs = this.#options.stallTimeoutMs ?? 3 * 60_000;
    const random = this.#options.random ?? Math.random;
    if (this.#stop.signal.aborted) return { end: 'stopped', resourceVersion: startVersion, healthy: false };
    if (clock.now() >= relistAt) return { end: 'relist', resourceVersion: startVersion, healthy: false };

    const ctl = new AbortController();
    const onStop = (): void => ctl.abort(new Error('informer stopped'));
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
    let resourceVersion = startVersion;
    let lastSeen = clock.now();
    let healthy = false;
    let end: WatchEnd = 'closed';
    const stopWatch = (why: WatchEnd): void => {
      end = why;
      ctl.abort(new Error(`watch ${why}`));
    };
    // Watchdog: the only way to notice a connection that is open but silent (e.g. a dead peer).
    const checkEvery = Math.max(10, Math.min(stallMs / 4, 5_000));
    const watchdog = (async () => {
      while (!ctl.signal.aborted) {
        await clock.sleep(checkEvery, ctl.signal);
        const now = clock.now();
        if (now - lastSeen >= stallMs) {
          this.stats.stalls++;
          stopWatch('stalled');
        } else if (now >= relistAt) stopWatch('relist');
      }
    })().catch(() => undefined);

    this.stats.watches++;
    try {
      const events = client.transport.watch(
        resourcePath(type, { namespace }),
        {
          resourceVersion,
          allowWatchBookmarks: true,
          // The server ends the watch after this; spreading it avoids synchronized reconnects.
          timeoutSeconds: Math.floor(300 + 300 * random()),
          labelSelector: this.#options.labelSelector,
        },
        ctl.signal,
        this.#options.metadataOnly ? { accept: METADATA_ACCEPT } : {},
      );
      for await (const raw of events) {
        lastSeen = clock.now();
        const parsed = watchEventSchema.safeParse(raw);
        if (!parsed.success) {
          log.warn({ issues: parsed.error.issues.length }, 'ignoring malformed watch event');
          continue;
        }
        const { type: eventType, object } = parsed.data;
        if (eventType === 'ERROR') {
          if (object.code === 410) {
            this.stats.expired++;
            return { end: 'expired', resourceVersion, healthy };
          }
          throw new KubeApiError(object.code ?? 500, object.reason ?? '', `watch error event: ${object.message ?? 'unknown'}`);
        }
        healthy = true;
        const version = object.metadata?.resourceVersion;
        if (version) resourceVersion = version;
        if (eventType === 'BOOKMARK') continue;
        const obj = object as unknown as T;
        if (eventType === 'DELETED') this.#remove(obj);
        else this.#upsert(obj);
      }
      return { end: ctl.signal.aborted ? end : 'closed', resourceVersion, healthy };
    } catch (err) {
      if (this.#stop.signal.aborted) return { end: 'stopped', resourceVersion, healthy };
      if (ctl.signal.aborted && end !== 'closed') return { end, resourceVersion, healthy };
      if (isGone(err)) {
        this.stats.expired++;
        return { end: 'expired', resourceVersion, healthy };
      }
      throw err;
    } finally {
      this.#stop.signal.removeEventListener('abort', onStop);
      ctl.abort();
      await watchdog;
    }
  }

  #replace(namespace: string | undefined, items: T[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(objectKeyString(keyOf(item)));
      this.#upsert(item);
    }
    for (const [key, obj] of this.#store) {
      if (seen.has(key)) continue;
      if (namespace !== undefined && (obj.metadata?.namespace ?? '') !== namespace) continue;
      this.#remove(obj);
    }
  }

  #upsert(item: T): void {
    const obj = this.#options.metadataOnly ? (asMetadataOf(this.type, item) as T) : item;
    // managedFields are often the largest part of an object and no reconciler reads them (client-go's
    // TransformStripManagedFields does the same).
    if (obj.metadata && 'managedFields' in obj.metadata) delete (obj.metadata as { managedFields?: unknown }).managedFields;
    const key = objectKeyString(keyOf(obj));
    const old = this.#store.get(key);
    this.#store.set(key, obj);
    if (!old) {
      for (const h of this.#handlers) this.#call(() => h.add?.(obj));
    } else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
      for (const h of this.#handlers) this.#call(() => h.update?.(old, obj));
    }
  }

  #remove(obj: T): void {
    const key = objectKeyString(keyOf(obj));
    const old = this.#store.get(key);
    if (!old) return;
    this.#store.delete(key);
    for (const h of this.#handlers) this.#call(() => h.delete?.(old));
  }

  #markSynced(scope: string): void {
    this.#synced.add(scope);
    if (this.hasSynced()) for (const wake of this.#syncWaiters.splice(0)) wake();
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err: describeError(err) }, 'informer event handler threw');
    }
  }
}

/** The key of a stored object. */
export function keyOf(obj: KubeObject): ObjectKey {
  return { namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' };
}

/** A log-safe description of an error: its name and message, never request bodies. */
export function describeError(err: unknown): { name: string; message: string; statusCode?: number } {
  if (err instanceof KubeApiError) return { name: err.name, message: err.message, statusCode: err.statusCode };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}
