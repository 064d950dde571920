import { PAUSED_ANNOTATION, ResourceParseError, type PendingCreate, type RecordedApiKeyRef } from '../../api/index.ts';
import {
  coreResources,
  ensureFinalizer,
  findCondition,
  hasFinalizer,
  isBeingDeleted,
  READY,
  reconcileError,
  reconcileSuccess,
  removeCondition,
  removeFinalizer,
  ReportedError,
  setConditions,
  SYNCED,
  writeStatus,
  type Condition,
  type ConditionUpdate,
  type EventType,
  type KubeObject,
  type ObjectKey,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
  type ResourceType,
} from '../../runtime/index.ts';
import { BlockedError } from './blocked.ts';
import type { ControllerDeps } from './deps.ts';
import { identityPatch, type IdentityFields } from './identity.ts';
import { FINALIZER } from './kinds.ts';
import { isForeignRecord, recordedKeyRef, type ApiKeyRef } from './neon-accounts.ts';
import { classifyNeonFailure } from './neon-failures.ts';
import { NotReadyError } from './not-ready.ts';

export type StatusFields = Record<string, unknown>;

/** What one pass of a kind's reconciler has to say about the object. */
export interface SyncOutcome {
  /** Status fields to set; `undefined` removes a field. Conditions and observedGeneration are the frame's. */
  status?: StatusFields;
  ready: { ok: boolean; reason: string; message: string };
  /**
   * False when the pass ended without applying the spec (the resource is gone, a create met a 409): Synced=False
   * with the Ready reason and message. Default: the pass ran to the end, Synced=True (even while Ready is False,
   * e.g. a branch still being created).
   */
  synced?: boolean;
  /** Reconcile again after this long (default: the resync period). */
  requeueAfterMs?: number;
  /**
   * The pass called Neon and must look again: come back after the per-key exponential backoff (at least
   * `requeueAfterMs`), so a state that does not clear cannot poll Neon at a fixed rate. A not-Ready
   * condition that is new gets one Event; every such pass logs at debug.
   */
  backoff?: boolean;
  /**
   * Work in Neon that this pass started and that Neon finishes on its own (the operations of a create): the
   * object is reconciled again as soon as it settles, without a worker waiting for it. Until then the object
   * shows this outcome. A failure (an operation that failed) is reported as a Warning Event; the next pass
   * sees what Neon made of it.
   */
  wakeWhen?: Promise<unknown>;
}

/**
 * Neon answered 409 to a create: what exists is adopted on the next pass, which comes after the per-key
 * backoff (1 s, 2 s, 4 s … 5 min) so a 409 that keeps coming cannot become a hot loop.
 */
export function adoptingSoon(message: string): SyncOutcome {
  return { ready: { ok: false, reason: 'Adopting', message }, synced: false, backoff: true };
}

/**
 * Neon answered 409 to a create that `status.pendingCreate` announced: what exists was made before that call, by
 * someone else, so the marker is dropped (the next pass adopts it as `Adopted`, never as created by the
 * operator, so deletion keeps it unless `ownAdopted`), then as `adoptingSoon`. Lists the create was decided
 * on may be up to the view's age old; a 409 is how a resource made outside meanwhile shows up.
 */
export async function adoptedAfterConflict(ctx: SyncContext, message: string): Promise<SyncOutcome> {
  await ctx.saveStatus({ pendingCreate: undefined });
  return adoptingSoon(message);
}

export type FinalizeOutcome = { done: true } | { done: false; reason: string; message: string; requeueAfterMs: number; backoff?: boolean };

/** Handed to a kind's reconciler for one pass. */
export interface SyncContext {
  readonly log: ReconcileContext['log'];
  readonly signal: AbortSignal;
  /** The object as last read or written (for owner references). */
  readonly raw: KubeObject;
  /** The status as it is now on the server (including what `saveStatus` wrote in this pass). */
  readonly status: StatusFields;
  /**
   * Writes status fields at once (before a Neon create, or right after one): what must survive a crash
   * of the operator between two calls. `undefined` removes a field. `ready`, when given, sets the Ready
   * condition in the same write (e.g. False while a resource deleted outside is being recreated).
   */
  saveStatus(fields: StatusFields, ready?: SyncOutcome['ready']): Promise<void>;
  /**
   * Records `status.pendingCreate` before a create call, on the version of the object this pass read: if anything
   * wrote to the object since (another operator instance, a pass on a stale cache), the write fails with 409 and
   * the pass is retried on a fresh read, so two writers cannot both go on to create.
   */
  recordPendingCreate(pending: PendingCreate): Promise<void>;
  /** Records an Event on the object (aggregated, best-effort). */
  event(type: EventType, reason: string, action: string, note: string): void;
  /**
   * Names the Neon account this pass works in (undefined: the operator's key). From then on every
   * `saveStatus` and the pass's final status record it in `status.apiKeySecretRef`, so cleanup can find
   * the account after a restart even when what named the key (a NeonProject) is gone.
   */
  useAccount(ref: ApiKeyRef | undefined): void;
}

/** One kind of the operator: observe → create | update in `sync`, delete in `finalize`. */
export interface KindReconciler<T> {
  readonly type: ResourceType;
  parse(raw: unknown): T;
  /** Converges Neon (and the object's Secret) to the spec. Idempotent; may throw NotReadyError or Neon errors. */
  sync(obj: T, ctx: SyncContext): Promise<SyncOutcome>;
  /** Cleans up in Neon according to the deletion policy. Idempotent; `done` lets the object go. */
  finalize(obj: T, ctx: SyncContext): Promise<FinalizeOutcome>;
  /** Status fields mirrored in annotations of the object, so a restore without status finds the resource (identity.ts). */
  readonly identity?: IdentityFields;
}

type StatusObject = KubeObject & { status?: StatusFields };

function readyCondition(ready: SyncOutcome['ready']): ConditionUpdate {
  return { type: READY, status: ready.ok ? 'True' : 'False', reason: ready.reason, message: ready.message };
}

function withoutUndefined(fields: StatusFields): StatusFields {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** Status fields that name a Neon resource an object stands for, or one it was about to create. */
const RECORDED_NEON_FIELDS = ['projectId', 'branchId', 'endpointId', 'pendingCreate'] as const;

/** `projectId proj-1`-style entries for what status records (read unparsed: the object failed its schema). */
function recordedNeonIds(status: StatusFields | undefined): string[] {
  const out: string[] = [];
  for (const field of RECORDED_NEON_FIELDS) {
    const value = status?.[field];
    if (typeof value === 'string' && value !== '') out.push(`${field} ${value.slice(0, 64)}`);
    else if (typeof value === 'object' && value !== null) out.push(`${field} since ${String((value as { startedAt?: unknown }).startedAt ?? '?').slice(0, 64)}`);
  }
  return out;
}

/**
 * Wraps a kind's reconciler in the steps every kind shares: a fresh read of the object, parsing, the
 * finalizer, the Ready and Synced conditions with observedGeneration (a pass that runs to the end is Synced),
 * status through /status (skipped when unchanged), and what each kind of failure means:
 * - NotReadyError → Ready=False and Synced=False with its reason, requeued slowly (dependencies requeue it
 *   sooner), no error log;
 * - a Neon error retrying cannot fix → Synced=False with Neon's message (Ready too unless it is True: a refused
 *   change does not make a working resource unusable), a Warning Event, retried with backoff (logged at warn
 *   when it first shows, at debug on the retries that fail the same way);
 * - a transient Neon error or an unknown outcome → Synced=False (Ready too unless True), retried with backoff
 *   (the next pass re-observes and adopts);
 * - an invalid object → Ready=False, InvalidSpec, not retried until it changes; being deleted, it keeps the
 *   finalizer (Warning Event, InvalidSpec saying how to proceed) while status records a Neon resource.
 * - a BlockedError (a claim held by another object, a parent cycle) → Ready=False with its reason, one
 *   Warning Event per new condition, retried with backoff or when something changes; no Neon call made.
 */
export function frameReconciler<T>(kind: KindReconciler<T>, deps: ControllerDeps): Reconciler {
  return async (key: ObjectKey, rctx: ReconcileContext): Promise<ReconcileResult> => {
    const { kube, clock } = deps;
    let raw = await kube.get<StatusObject>(kind.type, key, rctx.signal);
    if (!raw) return;
    const generation = raw.metadata?.generation;

    const status = (): StatusFields => ({ ...(raw?.status ?? {}) });
    const conditionOf = (type: string): Condition | undefined => findCondition(raw?.status?.['conditions'] as Condition[] | undefined, type);
    const write = async (fields: StatusFields, ...conditions: ConditionUpdate[]): Promise<void> => {
      await writeWith({}, fields, ...conditions);
    };
    const writeWith = async (options: { precondition?: boolean; drop?: string }, fields: StatusFields, ...updates: ConditionUpdate[]): Promise<void> => {
      if (!raw) return;
      const current = status();
      delete current['observedGeneration'];
      const next: StatusFields = withoutUndefined({ ...current, ...fields });
      let conditions = current['conditions'] as Condition[] | undefined;
      if (options.drop !== undefined) conditions = removeCondition(conditions, options.drop);
      if (updates.length > 0) conditions = setConditions(conditions, updates, generation, clock.now());
      if (conditions !== current['conditions']) next['conditions'] = conditions;
      const result = await writeStatus(kube, kind.type, raw, next as never, { signal: rctx.signal, preconditionOnResourceVersion: options.precondition ?? false });
      raw = result.object;
      await annotateIdentity(fields);
    };
    // The IDs a status write records (or removes) go to the object's annotations right after it: see identity.ts.
    const annotateIdentity = async (fields: StatusFields): Promise<void> => {
      if (!raw || !kind.identity || isBeingDeleted(raw)) return;
      const patch = identityPatch(kind.identity, fields, raw.metadata?.annotations);
      if (!patch) return;
      raw = await kube.patch<StatusObject>(kind.type, key, { metadata: { annotations: patch } }, { type: 'merge', signal: rctx.signal });
    };
    // Every Event is also a log line (notes never hold secrets), so logs alone tell the story; a repeat of what
    // the object already shows is logged at debug (the Event recorder aggregates repeats into one series).
    const recordEvent = (type: EventType, reason: string, action: string, note: string, repeat = false): void => {
      if (repeat) rctx.log.debug({ reason, action }, note);
      else if (type === 'Warning') rctx.log.warn({ reason, action }, note);
      else rctx.log.info({ reason, action }, note);
      if (raw) void deps.events.record(kind.type, raw, { type, reason, action, note });
    };
    // Set by useAccount: merged into the writes that record what this pass did in Neon.
    let account: StatusFields = {};
    const ctx: SyncContext = {
      log: rctx.log,
      signal: rctx.signal,
      get raw() {
        return raw as KubeObject;
      },
      get status() {
        return status();
      },
      saveStatus: (fields, ready) => write({ ...account, ...fields }, ...(ready ? [readyCondition(ready)] : [])),
      recordPendingCreate: (pending) => writeWith({ precondition: true }, { ...account, pendingCreate: pending }),
      event: recordEvent,
      useAccount: (ref) => {
        account = { apiKeySecretRef: ref ? recordedKeyRef(ref, key.namespace) : undefined };
      },
    };
    const notReady = (reason: string, message: string): ConditionUpdate => ({ type: READY, status: 'False', reason, message });
    // A pass that will be repeated (backoff, blocked) shows its state as the condition on every pass, but
    // only one Event when that condition is new, and a debug line per pass.
    const reportRepeated = async (type: EventType, reason: string, message: string): Promise<void> => {
      const previous = conditionOf(READY);
      const isNew = previous?.status !== 'False' || previous.reason !== reason || previous.message !== message;
      rctx.log.debug({ reason }, message);
      if (isNew) recordEvent(type, reason, 'Reconcile', message);
    };

    // Paused: no Neon call and no change but the Paused condition, whatever the object asks for, deletion
    // included (the finalizer stays). Removing the annotation is a metadata change that wakes the object,
    // and the pass after it continues where the operator left off.
    const paused = findCondition(raw.status?.['conditions'] as Condition[] | undefined, 'Paused');
    if (raw.metadata?.annotations?.[PAUSED_ANNOTATION] === 'true') {
      const message = isBeingDeleted(raw)
        ? `Paused by the annotation ${PAUSED_ANNOTATION}: the deletion waits and the Neon resource is left as it is; remove the annotation to let the deletion proceed`
        : `Paused by the annotation ${PAUSED_ANNOTATION}: the operator makes no Neon call and no change for this object; remove the annotation to resume`;
      if (paused?.status !== 'True' || paused.message !== message) {
        recordEvent('Normal', 'Paused', 'Reconcile', message);
        await write({}, { type: 'Paused', status: 'True', reason: 'Paused', message });
      }
      return;
    }
    if (paused) {
      recordEvent('Normal', 'Resumed', 'Reconcile', `The annotation ${PAUSED_ANNOTATION} was removed: the operator manages this object again`);
      await writeWith({ drop: 'Paused' }, {});
    }

    let obj: T;
    try {
      obj = kind.parse(raw);
    } catch (err) {
      if (!(err instanceof ResourceParseError)) throw err;
      if (isBeingDeleted(raw)) return finalizeUnreadable(err);
      await write({}, notReady('InvalidSpec', err.message), reconcileError('InvalidSpec', err.message));
      return;
    }

    const recorded = raw.status?.['apiKeySecretRef'] as RecordedApiKeyRef | undefined;
    if (isForeignRecord(recorded, key.namespace)) {
      recordEvent(
        'Warning',
        'UntrustedStatus',
        'Reconcile',
        `status.apiKeySecretRef names a Secret in namespace ${recorded?.namespace ?? ''}; the operator never records another namespace's key, so it is ignored`,
      );
    }

    if (isBeingDeleted(raw)) {
      if (!hasFinalizer(raw, FINALIZER)) return;
      try {
        const outcome = await kind.finalize(obj, ctx);
        if (outcome.done) {
          await removeFinalizer(kube, kind.type, raw, FINALIZER, rctx.signal);
          return;
        }
        if (outcome.backoff) await reportRepeated('Normal', outcome.reason, outcome.message);
        await write({}, notReady(outcome.reason, outcome.message));
        return { requeueAfter: outcome.requeueAfterMs, ...(outcome.backoff ? { backoff: true } : {}) };
      } catch (err) {
        if (err instanceof NotReadyError && err.reason === 'ApiKeySecretNotFound' && (await namespaceTerminating())) {
          // The namespace is going and took the API key with it: nothing can be cleaned up in Neon any
          // more, and holding the finalizer would hold the namespace forever.
          recordEvent('Warning', 'CleanupSkipped', 'Delete', `${err.message}; the Neon resource was left in place`);
          await removeFinalizer(kube, kind.type, raw, FINALIZER, rctx.signal);
          return;
        }
        return handleFailure(err);
      }
    }

    raw = await ensureFinalizer(kube, kind.type, raw, FINALIZER, rctx.signal);
    try {
      const outcome = await kind.sync(obj, ctx);
      if (outcome.backoff && !outcome.ready.ok) await reportRepeated('Normal', outcome.ready.reason, outcome.ready.message);
      // The pass ran to the end: Synced, whatever Ready says (a branch still being created is Synced, not Ready),
      // unless the kind says the spec could not be applied (the resource is gone).
      const synced = outcome.synced === false ? reconcileError(outcome.ready.reason, outcome.ready.message) : reconcileSuccess();
      await write({ ...account, ...(outcome.status ?? {}) }, readyCondition(outcome.ready), synced);
      if (outcome.wakeWhen) return { requeueAfter: outcome.requeueAfterMs ?? deps.waitingRequeueMs, wakeWhen: reportFailure(outcome.wakeWhen) };
      if (outcome.backoff) return { ...(outcome.requeueAfterMs !== undefined ? { requeueAfter: outcome.requeueAfterMs } : {}), backoff: true };
      if (outcome.requeueAfterMs !== undefined) return { requeueAfter: outcome.requeueAfterMs };
      return;
    } catch (err) {
      return handleFailure(err);
    }

    /**
     * An object that no longer parses (e.g. after an upgrade tightened its schema) is being deleted. Its
     * deletionPolicy cannot be read, so nothing is deleted in Neon. Where status names a Neon resource the
     * finalizer stays until a person decides, never silently; with nothing recorded there is nothing to lose.
     * Not requeued: fixing the object or removing the finalizer is an update that wakes it.
     */
    async function finalizeUnreadable(err: ResourceParseError): Promise<ReconcileResult> {
      if (!raw || !hasFinalizer(raw, FINALIZER)) return;
      const recorded = recordedNeonIds(raw.status);
      if (recorded.length === 0) {
        recordEvent('Warning', 'InvalidSpec', 'Delete', `${err.message}; nothing was recorded in Neon for it, so the finalizer is released`);
        await removeFinalizer(kube, kind.type, raw, FINALIZER, rctx.signal);
        return;
      }
      const message =
        `${err.message}; cannot apply the deletion policy to what status records in Neon (${recorded.join(', ')}). ` +
        `Fix the object so it is valid again and the deletion proceeds, or remove the finalizer ${FINALIZER} to leave the Neon resource in place`;
      recordEvent('Warning', 'InvalidSpec', 'Delete', message);
      await write({}, notReady('InvalidSpec', message), reconcileError('InvalidSpec', message));
      return;
    }

    /** What a pass left running in Neon: a failure is told (Warning Event, warn log) when it comes. */
    function reportFailure(work: Promise<unknown>): Promise<unknown> {
      return work.catch((err: unknown) => {
        if (rctx.signal.aborted) return;
        const failure = classifyNeonFailure(err);
        if (failure) recordEvent('Warning', failure.reason, 'Reconcile', failure.message);
        else rctx.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'waiting for Neon failed');
      });
    }

    async function namespaceTerminating(): Promise<boolean> {
      const ns = await kube.get(coreResources.namespace, { namespace: '', name: key.namespace }, rctx.signal);
      return !ns || isBeingDeleted(ns);
    }

    async function handleFailure(err: unknown): Promise<ReconcileResult> {
      if (rctx.signal.aborted) throw err;
      if (err instanceof BlockedError) {
        await reportRepeated('Warning', err.reason, err.message);
        await write({}, notReady(err.reason, err.message), reconcileError(err.reason, err.message));
        return err.retry === 'backoff' ? { backoff: true } : undefined;
      }
      if (err instanceof NotReadyError) {
        await write({}, notReady(err.reason, err.message), reconcileError(err.reason, err.message));
        return { requeueAfter: deps.waitingRequeueMs };
      }
      const failure = classifyNeonFailure(err);
      if (!failure) throw err;
      const ready = conditionOf(READY);
      const synced = conditionOf(SYNCED);
      // A failed call does not make a working Neon resource unusable: Ready stays True (stamped with this
      // generation, so dependents keep using it) and Synced=False says the spec was not applied. A resource
      // that was never Ready shows the failure on Ready too.
      const readyNow = ready?.status === 'True' ? { type: READY, status: 'True' as const, reason: ready.reason, message: ready.message } : notReady(failure.reason, failure.message);
      await write({}, readyNow, reconcileError(failure.reason, failure.message));
      if (failure.permanent) {
        // A refusal retried with backoff keeps failing the same way until something changes: the user reads it on
        // the condition and the Event, the log says it once (warn), and each retry after that only at debug.
        const repeat = synced?.status === 'False' && synced.reason === failure.reason && synced.message === failure.message;
        recordEvent('Warning', failure.reason, 'Reconcile', failure.message, repeat);
        throw new ReportedError(err);
      }
      // Retried with the queue's per-key backoff (capped); the runtime logs each attempt of a transient failure.
      throw err;
    }
  };
}
