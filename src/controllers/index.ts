/**
 * The operator's controllers: one per kind, wired to a runtime Manager. This is the only place where the
 * Kubernetes runtime and the Neon client meet.
 */
import type { NeonBranch, NeonDatabase, NeonEndpoint, NeonRole } from '../api/index.ts';
import { coreResources, specOrMetadataChanged, type Controller, type KubeObject, type Manager, type ObjectKey } from '../runtime/index.ts';
import { branchReconciler } from './branch/reconciler.ts';
import { databaseReconciler } from './database/reconciler.ts';
import { endpointReconciler } from './endpoint/reconciler.ts';
import { projectReconciler } from './project/reconciler.ts';
import { roleReconciler } from './role/reconciler.ts';
import type { ControllerDeps } from './shared/deps.ts';
import { frameReconciler, type KindReconciler } from './shared/frame.ts';
import { resourceTypes } from './shared/kinds.ts';

export type { ControllerDeps } from './shared/deps.ts';
export { NeonAccounts, type ApiKeyRef, type NeonAccountsOptions } from './shared/neon-accounts.ts';
export { resourceTypes, FINALIZER, FIELD_MANAGER, BRANCH_OWNER_ANNOTATION } from './shared/kinds.ts';
export { CONNECTION_SECRET_KEYS, connectionSecretData, poolerHostOf } from './shared/connection-secret.ts';

/** Only the Secrets this operator writes are cached (not every Secret of the cluster). */
export const MANAGED_SECRET_SELECTOR = 'app.kubernetes.io/managed-by=neon-operator';

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
      log: deps.log,
    });

  const project = add('neonproject', projectReconciler(deps));
  project.watchOwned(coreResources.secret, { labelSelector: MANAGED_SECRET_SELECTOR, controllerOnly: true });

  const branch = add('neonbranch', branchReconciler(deps));
  branch.watchReferences(resourceTypes.project, (b) => refs(b, specOf<NeonBranch>(b).projectRef));
  branch.watchReferences(resourceTypes.branch, (b) => refs(b, specOf<NeonBranch>(b).parentRef));

  const endpoint = add('neonendpoint', endpointReconciler(deps));
  endpoint.watchReferences(resourceTypes.project, (e) => refs(e, specOf<NeonEndpoint>(e).projectRef));
  endpoint.watchReferences(resourceTypes.branch, (e) => refs(e, specOf<NeonEndpoint>(e).branchRef));

  const role = add('neonrole', roleReconciler(deps));
  role.watchReferences(resourceTypes.project, (r) => refs(r, specOf<NeonRole>(r).projectRef));
  role.watchReferences(resourceTypes.branch, (r) => refs(r, specOf<NeonRole>(r).branchRef));
  role.watchReferences(resourceTypes.endpoint, (r) => refs(r, specOf<NeonRole>(r).endpointRef));
  role.watchReferences(resourceTypes.database, (r) => refs(r, specOf<NeonRole>(r).databaseRef));
  role.watchOwned(coreResources.secret, { labelSelector: MANAGED_SECRET_SELECTOR, controllerOnly: true });

  const database = add('neondatabase', databaseReconciler(deps));
  database.watchReferences(resourceTypes.project, (d) => refs(d, specOf<NeonDatabase>(d).projectRef));
  database.watchReferences(resourceTypes.branch, (d) => refs(d, specOf<NeonDatabase>(d).branchRef));
  database.watchReferences(resourceTypes.role, (d) => refs(d, specOf<NeonDatabase>(d).ownerRef));

  return { project, branch, endpoint, role, database };
}
