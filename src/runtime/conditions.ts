/** `metav1.Condition` as it is stored in status.conditions. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  /** CamelCase, machine-readable (`ProjectNotReady`, `NeonApiError`). */
  reason: string;
  /** Human-readable, actionable; never a secret. */
  message: string;
  /** RFC 3339, second precision (as the API server stores metav1.Time). */
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type ConditionUpdate = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

/**
 * The two conditions of an object that stands for an external resource, after crossplane-runtime:
 * Ready says the external resource can be used (dependents wait on it, and only on it); Synced says the last
 * attempt to apply the spec worked. A refused change to a working resource is Synced=False, Ready=True.
 */
export const READY = 'Ready';
export const SYNCED = 'Synced';
/** Synced=True: the last reconcile ran to the end. */
export const RECONCILE_SUCCESS = 'ReconcileSuccess';

/** Synced=True with reason ReconcileSuccess. */
export function reconcileSuccess(message = 'the last reconcile applied the spec'): ConditionUpdate {
  return { type: SYNCED, status: 'True', reason: RECONCILE_SUCCESS, message };
}

/** Synced=False: the last reconcile could not apply the spec, for `reason` (CamelCase). */
export function reconcileError(reason: string, message: string): ConditionUpdate {
  return { type: SYNCED, status: 'False', reason, message };
}

/** metav1.Condition's limit; longer messages are cut so the status write is not rejected. */
const MAX_MESSAGE = 32_768;
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** metav1.Time: second precision. Writing milliseconds would make every comparison with what the server stored differ. */
export function toKubeTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** metav1.MicroTime (Leases, events.k8s.io Events): exactly six fractional digits. */
export function toKubeMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Returns a new conditions list with `update` applied. `lastTransitionTime` is set to `now` only when the
 * condition is new or its status flips; a new reason or message alone keeps the old time. Other
 * conditions are kept in place. Pure: the input is not modified.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  update: ConditionUpdate,
  observedGeneration: number | undefined,
  now: number,
): Condition[] {
  if (!REASON.test(update.reason)) throw new Error(`condition reason must be CamelCase, got "${update.reason}"`);
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === update.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    type: update.type,
    status: update.status,
    reason: update.reason,
    message: update.message.length > MAX_MESSAGE ? `${update.message.slice(0, MAX_MESSAGE - 3)}...` : update.message,
    lastTransitionTime:
      previous && previous.status === update.status ? previous.lastTransitionTime : toKubeTime(now),
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

/** setCondition for each update in turn (e.g. Ready and Synced in one status write). Pure. */
export function setConditions(
  conditions: readonly Condition[] | undefined,
  updates: readonly ConditionUpdate[],
  observedGeneration: number | undefined,
  now: number,
): Condition[] {
  let list = [...(conditions ?? [])];
  for (const update of updates) list = setCondition(list, update, observedGeneration, now);
  return list;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True when the condition exists with status True (and, if given, was observed at `generation` or later). */
export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string, generation?: number): boolean {
  const c = findCondition(conditions, type);
  if (!c || c.status !== 'True') return false;
  return generation === undefined || c.observedGeneration === undefined || c.observedGeneration >= generation;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}
