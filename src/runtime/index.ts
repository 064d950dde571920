// The runtime's public surface: a small, Kubernetes-only controller runtime (no Neon knowledge here).
export { backoffDelay, defaultReconcileBackoff, type BackoffPolicy } from './backoff.ts';
export {
  findCondition,
  isConditionTrue,
  READY,
  RECONCILE_SUCCESS,
  reconcileError,
  reconcileSuccess,
  removeCondition,
  setCondition,
  setConditions,
  SYNCED,
  toKubeMicroTime,
  toKubeTime,
  type Condition,
  type ConditionUpdate,
} from './conditions.ts';
export {
  apiGroupOf,
  Controller,
  readableStateChanged,
  specOrMetadataChanged,
  type ControllerOptions,
  type InformerScope,
  type InformerSource,
  type ReconcileObservation,
  type ReconcileOutcome,
  type UpdatePredicate,
} from './controller.ts';
export { EventRecorder, type EventInput, type EventRecorderOptions, type EventType } from './events.ts';
export { ensureFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from './finalizers.ts';
export { describeError, Informer, keyOf, type InformerHandlers, type InformerOptions, type InformerStats } from './informer.ts';
export {
  apiVersionOf,
  coreResources,
  httpTransport,
  isAlreadyExists,
  isConflict,
  isGone,
  isNotFound,
  KubeApiError,
  KubeClient,
  METADATA_ACCEPT,
  METADATA_LIST_ACCEPT,
  PatchType,
  resourcePath,
  resourceTypeId,
  type KubeList,
  type KubeObject,
  type KubeRequest,
  type KubeTransport,
  type ObjectMeta,
  type OwnerReference,
  type PatchOptions,
  type ResourceType,
  type WatchOptions,
} from './kube-client.ts';
export { KubeLeaseLock, LeaderElector, type LeaderCallbacks, type LeaderElectorOptions, type LeaseLock, type LeaseRecord } from './leader-election.ts';
export { installSignalHandlers, LeadershipLostError, Manager, type LeaderElectionOptions, type ManagerOptions } from './manager.ts';
export { createMergePatch, jsonEqual, type Json } from './merge-patch.ts';
export {
  objectKeyString,
  parseObjectKey,
  ReportedError,
  RequeueAfterError,
  TerminalError,
  type ObjectKey,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
} from './reconcile.ts';
export { ReferenceIndex } from './reference-index.ts';
export { applySecret, controllerReference, secretUpToDate, type DesiredSecret, type SecretObject } from './secrets.ts';
export { writeStatus, type StatusWriteResult } from './status.ts';
export { parkWhile, WorkQueue, type ShutdownReport, type WorkFn, type WorkQueueOptions, type WorkResult } from './work-queue.ts';
