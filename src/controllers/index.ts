/**
 * The operator's controllers: one per kind, wired to a runtime Manager. This is the only place where the
 * Kubernetes runtime and the Neon client meet.
 */
import { RESET_FROM_PARENT_ANNOTATION, ROTATE_PASSWORD_ANNOTATION, type NeonBranch, type NeonDatabase, type NeonEndpoint, type NeonRole } from '../api/index.ts';
import {
  coreResources,
  findCondition,
  keyOf,
  objectKeyString,
  parseObjectKey,
  ReferenceIndex,
  readableStateChanged,
  specOrMetadataChanged,
  SYNCED,
  type Controller,
  type KubeObject,
  type Manager,
  type ObjectKey,
} from '../runtime/index.ts';
import { branchReconciler } from './branch/reconciler.ts';
import { databaseReconciler } from './database/reconciler.ts';
import { endpointReconciler } from './endpoint/reconciler.ts';
import { projectReconciler } from './project/reconciler.ts';
import { roleReconciler } from './role/reconciler.ts';
import { requeueConflictsOnRelease } from './shared/claims.ts';
import type { ControllerDeps } from './shared/deps.ts';
import { frameReconciler, type KindReconciler } from './shared/frame.ts';
import { resourceTypes } from './shared/kinds.ts';
import { isReady } from './shared/references.ts';

export type { ControllerDeps } from './shared/deps.ts';
export { NeonAccounts, type ApiKeyRef, type NeonAccountsOptions } from './shared/neon-accounts.ts';
export { resourceTypes, FINALIZER, FIELD_MANAGER, BRANCH_OWNER_ANNOTATION } from './shared/kinds.ts';
export { CONNECTION_SECRET_KEYS, connectionSecretData, poolerHostOf } from './shared/connection-secret.ts';

/** Only the Secrets this operator writes are watched (not every Secret of the cluster), as metadata. */
export const MANAGED_SECRET_SELECTOR = 'app.kubernetes.io/managed-by=neon-operator';

/**
 * The Secrets watched for API key changes: every Secret of the watched namespaces except the connection
 * Secrets the operator writes (cached by their own informer) and Helm's release records (`owner=helm`, the
 * largest Secrets of many namespaces, never an API key). API key Secrets carry no label of ours, so a
 * label cannot narrow this further; the namespace scope is the operator's watched namespaces, and the watch
 * is metadata only.
 */
export const API_KEY_SECRET_SELECTOR = 'app.kubernetes.io/managed-by!=neon-operator,owner!=helm';

/** The API key Secrets an object names: its own spec.apiKeySecretRef and the account recorded in its status. */
export function apiKeySecretKeys(obj: KubeObject): ObjectKey[] {
  const namespace = obj.metadata?.namespace ?? '';
  const named = (ref: unknown): ObjectKey[] => {
    if (typeof ref !== 'object' || ref === null) return [];
    const { name, namespace: ns } = ref as { name?: unknown; namespace?: unknown };
    // A key in another namespace is never used (isForeignRecord), so its Secret is not watched for the object.
    return typeof name === 'string' && (ns === undefined || ns === namespace) ? [{ namespace, name }] : [];
  };
  const { spec, status } = obj as { spec?: { apiKeySecretRef?: unknown }; status?: { apiKeySecretRef?: unknown } };
  return [...named(spec?.apiKeySecretRef), ...named(status?.apiKeySecretRef)];
}

/**
 * Requeues the objects that name an API key Secret when it is created, changed (a rotated key) or
 * deleted, instead of waiting for their next requeue. Dependents that take the key from their NeonProject
 * follow through the project's status.
 */
function watchApiKeySecrets(controller: Controller): void {
  const index = new ReferenceIndex();
  const track = (obj: KubeObject): void => index.set(objectKeyString(keyOf(obj)), apiKeySecretKeys(obj).map(objectKeyString));
  controller.informer.on({ add: track, update: (_old, obj) => track(obj), delete: (obj) => index.delete(objectKeyString(keyOf(obj))) });
  controller.watchMapped(coreResources.secret, (secret) => index.dependentsOf(objectKeyString(keyOf(secret))).map(parseObjectKey), {
    labelSelector: API_KEY_SECRET_SELECTOR,
    // Only the fact that a Secret changed matters here (the reconcile reads the key fresh by name), so the
    // API server sends metadata only: this watch never receives a Secret's data.
    metadataOnly: true,
  });
}

/**
 * Needs no work now: Ready for its current generation, not being deleted, and no password rotation or branch
 * reset asked for and not yet done. Such objects found at start are re-observed spread over the resync period.
 */
export function settledAtStart(obj: KubeObject): boolean {
  const o = obj as KubeObject & { status?: { conditions?: never[]; passwordRotation?: { request?: string }; reset?: { request?: string } } };
  if (!isReady({ metadata: o.metadata ?? {}, status: o.status })) return false;
  // A refused change is retried with backoff; after a restart it is tried again at once, not at the resync.
  if (findCondition(o.status?.conditions, SYNCED)?.status === 'False') return false;
  const rotate = o.metadata?.annotations?.[ROTATE_PASSWORD_ANNOTATION];
  const reset = o.metadata?.annotations?.[RESET_FROM_PARENT_ANNOTATION];
  return (rotate === undefined || rotate === o.status?.passwordRotation?.request) && (reset === undefined || reset === o.status?.reset?.request);
}

/** A NeonRole as its NeonDatabases see it: readableStateChanged, or the role recorded in Neon (name, branch). */
function ownerRecorded(oldObj: KubeObject, newObj: KubeObject): boolean {
  const recorded = (o: KubeObject) => {
    const status = (o as { status?: { roleName?: unknown; branchId?: unknown } }).status;
    return `${String(status?.roleName)}/${String(status?.branchId)}`;
  };
  return readableStateChanged(oldObj, newObj) || recorded(oldObj) !== recorded(newObj);
}

export interface RegisteredControllers {
  project: Controller;
  branch: Controller;
  endpoint: Controller;
  role: Controller;
  database: Controller;
}

type Spec<T> = T extends { spec: infer S } ? S : never;

/** Keys of the local references a spec makes (same namespace), for requeueing dependents. */
function refs(obj: KubeObject, ...names: Array<{ name: string } | undefined>): ObjectKey[] {
  const namespace = obj.metadata?.namespace ?? '';
  return names.filter((n): n is { name: string } => n !== undefined).map((n) => ({ namespace, name: n.name }));
}

function specOf<T>(obj: KubeObject): Partial<Spec<T>> {
  return ((obj as { spec?: unknown }).spec ?? {}) as Partial<Spec<T>>;
}

/**
 * Registers the five controllers on `manager`: each reconciles its kind through the shared frame
 * (finalizer, conditions, status), is requeued when what it references changes (and when a Secret it
 * owns changes), and resyncs with Neon every `deps.resyncPeriodMs` (jittered) to repair drift.
 */
export function registerControllers(manager: Manager, deps: ControllerDeps): RegisteredControllers {
  const add = <T>(name: string, kind: KindReconciler<T>): Controller =>
    manager.addController({
      name,
      resource: kind.type,
      reconciler: frameReconciler(kind, deps),
      concurrency: deps.concurrency,
      resyncPeriodMs: deps.resyncPeriodMs,
      resyncJitter: deps.resyncJitter,
      updatePredicate: specOrMetadataChanged,
      settled: settledAtStart,
      log: deps.log,
    });

  // The connection Secrets: only their owner references are read here, and every pass reads its Secret by
  // name, so the watch is metadata only and no Secret's data is downloaded or cached.
  const ownedSecrets = { labelSelector: MANAGED_SECRET_SELECTOR, controllerOnly: true, metadataOnly: true };
  const project = add('neonproject', projectReconciler(deps));
  project.watchOwned(coreResources.secret, ownedSecrets);

  const branch = add('neonbranch', branchReconciler(deps));
  branch.watchReferences(resourceTypes.project, (b) => refs(b, specOf<NeonBranch>(b).projectRef), readableStateChanged);
  branch.watchReferences(resourceTypes.branch, (b) => refs(b, specOf<NeonBranch>(b).parentRef), readableStateChanged);

  const endpoint = add('neonendpoint', endpointReconciler(deps));
  endpoint.watchReferences(resourceTypes.project, (e) => refs(e, specOf<NeonEndpoint>(e).projectRef), readableStateChanged);
  endpoint.watchReferences(resourceTypes.branch, (e) => refs(e, specOf<NeonEndpoint>(e).branchRef), readableStateChanged);

  const role = add('neonrole', roleReconciler(deps));
  role.watchReferences(resourceTypes.project, (r) => refs(r, specOf<NeonRole>(r).projectRef), readableStateChanged);
  role.watchReferences(resourceTypes.branch, (r) => refs(r, specOf<NeonRole>(r).branchRef), readableStateChanged);
  role.watchReferences(resourceTypes.endpoint, (r) => refs(r, specOf<NeonRole>(r).endpointRef), readableStateChanged);
  role.watchReferences(resourceTypes.database, (r) => refs(r, specOf<NeonRole>(r).databaseRef), readableStateChanged);
  role.watchOwned(coreResources.secret, ownedSecrets);

  const database = add('neondatabase', databaseReconciler(deps));
  database.watchReferences(resourceTypes.project, (d) => refs(d, specOf<NeonDatabase>(d).projectRef), readableStateChanged);
  database.watchReferences(resourceTypes.branch, (d) => refs(d, specOf<NeonDatabase>(d).branchRef), readableStateChanged);
  // The owner only has to exist in Neon (status.roleName on the branch), not be Ready: see database/reconciler.ts.
  database.watchReferences(resourceTypes.role, (d) => refs(d, specOf<NeonDatabase>(d).ownerRef), ownerRecorded);

  for (const controller of [project, branch, endpoint, role, database]) watchApiKeySecrets(controller);
  for (const controller of [endpoint, role, database]) requeueConflictsOnRelease(controller);

  return { project, branch, endpoint, role, database };
}
