import type { Logger } from 'pino';

/** Identifies one object: what a reconciler is asked to converge. Cluster-scoped objects have namespace ''. */
export interface ObjectKey {
  namespace: string;
  name: string;
}

export interface ReconcileContext {
  /** Aborted when the operator shuts down and the graceful deadline has passed: stop and return. */
  signal: AbortSignal;
  /** Bound with `{controller, namespace, name}`. */
  log: Logger;
}

/**
 * `requeueAfter` (ms) asks to be reconciled again after that delay even if nothing changes. With
 * `backoff` (controller-runtime's `Requeue: true`) the key comes back after its per-key exponential
 * backoff instead (at least `requeueAfter`), counted like a failure but not logged as an error: for a pass
 * that called Neon and must look again, so a condition that does not clear cannot poll Neon at a fixed
 * rate. The count is reset by the next pass that returns without `backoff`. `wakeWhen` brings the key back as
 * soon as that promise settles (either way), e.g. when operations a pass started have ended: the pass returns
 * and frees its worker instead of waiting; `requeueAfter` still applies as a safety net.
 */
export type ReconcileResult = { requeueAfter?: number; backoff?: boolean; wakeWhen?: Promise<unknown> } | void;

/**
 * Level-based reconcile contract (controller-runtime's `reconcile.Reconciler`): read the current state for
 * `key` and converge it; never act on "the event". Throwing requeues the key with per-key exponential
 * backoff; throwing a `TerminalError` does not (the next change to the object, or to something it
 * references, queues it again). Returning normally resets the key's backoff.
 */
export type Reconciler = (key: ObjectKey, ctx: ReconcileContext) => Promise<ReconcileResult>;

/**
 * An error that retrying cannot fix (invalid spec, a 4xx that will not change on its own). The reconciler
 * should have recorded it on the object's conditions before throwing; the runtime logs it once and does
 * not requeue.
 */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * A failure the reconciler has already shown the user (on the object's conditions, in an Event). It is retried
 * with the key's backoff like any error, but the runtime logs it at debug level: a failure that lasts (a name
 * Neon refuses) must not write an error line on every retry. `cause` is the original error.
 */
export class ReportedError extends Error {
  override readonly name = 'ReportedError';
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** Asks the runtime to retry after a given delay without counting a failure or logging an error (e.g. waiting for a dependency). */
export class RequeueAfterError extends Error {
  override readonly name = 'RequeueAfterError';
  readonly delayMs: number;
  constructor(delayMs: number, message = `requeue after ${delayMs}ms`) {
    super(message);
    this.delayMs = delayMs;
  }
}

/** `namespace/name`, or `name` for cluster-scoped objects: the queue key and store key. */
export function objectKeyString(key: ObjectKey): string {
  return key.namespace ? `${key.namespace}/${key.name}` : key.name;
}

/** Inverse of `objectKeyString`. */
export function parseObjectKey(key: string): ObjectKey {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
