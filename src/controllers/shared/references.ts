import {
  parseNeonBranch,
  parseNeonProject,
  type LocalRef,
  type NeonBranch,
  type NeonProject,
  type RecordedApiKeyRef,
  type SecretKeyRef,
} from '../../api/index.ts';
import type { NeonClient } from '../../neon/index.ts';
import { isBeingDeleted, isConditionTrue, type Condition, type KubeObject, type ResourceType } from '../../runtime/index.ts';
import type { ControllerDeps } from './deps.ts';
import { isForeignRecord, keyRefFromStatus, sameKeyRef, type ApiKeyRef } from './neon-accounts.ts';
import { isNeonNotFound } from './neon-failures.ts';
import { resourceTypes } from './kinds.ts';
import { NotReadyError } from './not-ready.ts';
import { assertProjectReachable } from './tenancy.ts';

/** How an endpoint, role or database names its branch (the `branchTargetShape` fields of the API). */
export interface BranchTargetSpec {
  branchRef?: LocalRef | undefined;
  projectRef?: LocalRef | undefined;
  projectId?: string | undefined;
  branchId?: string | undefined;
  apiKeySecretRef?: SecretKeyRef | undefined;
}

export interface ResolvedProject {
  client: NeonClient;
  /** The account of `client` (undefined: the operator's own key), for `SyncContext.useAccount`. */
  keyRef: ApiKeyRef | undefined;
  projectId: string;
  defaultBranchId: string | undefined;
}

export interface ResolvedBranch {
  client: NeonClient;
  /** The account of `client` (undefined: the operator's own key), for `SyncContext.useAccount`. */
  keyRef: ApiKeyRef | undefined;
  projectId: string;
  branchId: string;
  /** Through a NeonBranch: the last reset from its parent it recorded (`status.reset.request`). */
  reset?: string | undefined;
}

/** Reads a referenced object from the shared informer's store and parses it; undefined when absent or unreadable. */
export function lookup<T>(deps: ControllerDeps, type: ResourceType, namespace: string, name: string, parse: (raw: unknown) => T): T | undefined {
  const raw = deps.informers.informer<KubeObject>(type).get({ namespace, name });
  if (!raw) return undefined;
  try {
    return parse(raw);
  } catch {
    return undefined;
  }
}

/** True when a referenced object's Ready condition is True for its current generation and it is not being deleted. */
export function isReady(obj: { metadata: { generation?: number | undefined; deletionTimestamp?: string | undefined }; status?: { conditions?: Condition[] | undefined } | undefined }): boolean {
  if (isBeingDeleted(obj as KubeObject)) return false;
  return isConditionTrue(obj.status?.conditions, 'Ready', obj.metadata.generation);
}

/** The account an object's own `apiKeySecretRef` names (undefined: the operator's key). */
export function keyRef(namespace: string, ref: SecretKeyRef | undefined): ApiKeyRef | undefined {
  return ref ? { namespace, name: ref.name, key: ref.key } : undefined;
}

/** The account of a NeonProject: its apiKeySecretRef or the operator's key. */
export function projectKeyRef(project: NeonProject): ApiKeyRef | undefined {
  return keyRef(project.metadata.namespace ?? '', project.spec.apiKeySecretRef);
}

/** The client for a NeonProject (its apiKeySecretRef or the operator's key). */
export function clientForProject(deps: ControllerDeps, project: NeonProject, signal?: AbortSignal): Promise<NeonClient> {
  return deps.accounts.clientFor(projectKeyRef(project), signal);
}

/** A NeonProject that must be Ready with a project ID. Throws NotReadyError(ProjectNotReady) otherwise. */
export async function resolveProjectRef(deps: ControllerDeps, namespace: string, name: string, signal?: AbortSignal): Promise<ResolvedProject> {
  const project = lookup(deps, resourceTypes.project, namespace, name, parseNeonProject);
  if (!project) throw new NotReadyError('ProjectNotReady', `NeonProject ${name} does not exist yet`);
  const projectId = project.status?.projectId;
  if (!projectId || !isReady(project)) {
    throw new NotReadyError('ProjectNotReady', `waiting for NeonProject ${name} to become Ready`);
  }
  const ref = projectKeyRef(project);
  assertProjectReachable(deps, namespace, projectId, ref);
  const client = await deps.accounts.clientFor(ref, signal);
  return { client, keyRef: ref, projectId, defaultBranchId: project.status?.defaultBranchId };
}

/**
 * The account of a NeonBranch: its project's key (projectRef) or its own apiKeySecretRef (projectId).
 * When its NeonProject is gone, the account the branch recorded in its status.
 */
export function branchKeyRef(deps: ControllerDeps, branch: NeonBranch): ApiKeyRef | undefined {
  const namespace = branch.metadata.namespace ?? '';
  const current = specKeyRef(deps, namespace, branch.spec);
  return current === 'unknown' ? keyRefFromStatus(branch.status?.apiKeySecretRef, namespace) : current;
}

/** A NeonBranch that must be Ready with its IDs. Throws NotReadyError(BranchNotReady) otherwise. */
export async function resolveBranchRef(deps: ControllerDeps, namespace: string, name: string, signal?: AbortSignal): Promise<ResolvedBranch> {
  const branch = lookup(deps, resourceTypes.branch, namespace, name, parseNeonBranch);
  if (!branch) throw new NotReadyError('BranchNotReady', `NeonBranch ${name} does not exist yet`);
  const { projectId, branchId } = branch.status ?? {};
  if (!projectId || !branchId || !isReady(branch)) {
    throw new NotReadyError('BranchNotReady', `waiting for NeonBranch ${name} to become Ready`);
  }
  const ref = branchKeyRef(deps, branch);
  assertProjectReachable(deps, namespace, projectId, ref);
  const client = await deps.accounts.clientFor(ref, signal);
  return { client, keyRef: ref, projectId, branchId, reset: branch.status?.reset?.request };
}

/** The branch an endpoint, role or database lives on, resolved from whichever way its spec names it. */
export async function resolveBranchTarget(deps: ControllerDeps, namespace: string, spec: BranchTargetSpec, signal?: AbortSignal): Promise<ResolvedBranch> {
  if (spec.branchRef) return resolveBranchRef(deps, namespace, spec.branchRef.name, signal);
  if (spec.projectRef) {
    const project = await resolveProjectRef(deps, namespace, spec.projectRef.name, signal);
    if (!project.defaultBranchId) {
      throw new NotReadyError('ProjectNotReady', `NeonProject ${spec.projectRef.name} has no default branch recorded yet`);
    }
    return { client: project.client, keyRef: project.keyRef, projectId: project.projectId, branchId: project.defaultBranchId };
  }
  if (spec.projectId && spec.branchId) {
    const ref = keyRef(namespace, spec.apiKeySecretRef);
    assertProjectReachable(deps, namespace, spec.projectId, ref);
    const client = await deps.accounts.clientFor(ref, signal);
    return { client, keyRef: ref, projectId: spec.projectId, branchId: spec.branchId };
  }
  throw new NotReadyError('InvalidSpec', 'set exactly one of branchRef, projectRef, or projectId with branchId');
}

/**
 * The account the spec names the key through now: its own apiKeySecretRef (projectId), or that of the
 * referenced NeonProject / NeonBranch; 'unknown' when the referenced object is gone.
 */
export function specKeyRef(deps: ControllerDeps, namespace: string, spec: BranchTargetSpec): ApiKeyRef | undefined | 'unknown' {
  if (spec.projectId) return keyRef(namespace, spec.apiKeySecretRef);
  if (spec.projectRef) {
    const project = lookup(deps, resourceTypes.project, namespace, spec.projectRef.name, parseNeonProject);
    return project ? projectKeyRef(project) : 'unknown';
  }
  if (spec.branchRef) {
    const branch = lookup(deps, resourceTypes.branch, namespace, spec.branchRef.name, parseNeonBranch);
    return branch ? branchKeyRef(deps, branch) : 'unknown';
  }
  return undefined;
}

/**
 * The client to clean up a Neon resource of `projectId` with, while the object is being deleted (its
 * references may be gone already, so this never waits for readiness).
 *
 * The account is the one recorded in `status.apiKeySecretRef` with `status.projectId` (absent: the
 * operator's key; nothing recorded at all: the spec's key): that is where the resource is, whatever
 * became of the NeonProject that named the key. Neon answers 404 both for a project that is gone and for one the key cannot see, so a 404 is only
 * taken as "gone" from that recorded account. If its Secret cannot be read, the key the spec names now is
 * tried, but only after a GET of the project proves that key sees it; otherwise the Secret's absence is
 * thrown (NotReadyError ApiKeySecretNotFound: the object waits, or in a terminating namespace is released
 * with CleanupSkipped).
 */
export async function clientForCleanup(
  deps: ControllerDeps,
  namespace: string,
  current: ApiKeyRef | undefined | 'unknown',
  status: { projectId?: string | undefined; apiKeySecretRef?: RecordedApiKeyRef | undefined } | undefined,
  projectId: string,
  signal?: AbortSignal,
): Promise<NeonClient> {
  // Nothing recorded yet (the object never got as far as recording its project, e.g. a crash right
  // after a create call), or a record naming another namespace's key (not the operator's: ignored, see
  // isForeignRecord): the spec is all there is to go by.
  if (status?.projectId === undefined || isForeignRecord(status.apiKeySecretRef, namespace)) {
    return deps.accounts.clientFor(current === 'unknown' ? undefined : current, signal);
  }
  const recordedRef = keyRefFromStatus(status.apiKeySecretRef, namespace);
  try {
    return await deps.accounts.clientFor(recordedRef, signal);
  } catch (err) {
    if (!(err instanceof NotReadyError) || current === 'unknown' || sameKeyRef(current, recordedRef)) throw err;
    let client: NeonClient;
    try {
      client = await deps.accounts.clientFor(current, signal);
    } catch {
      throw err;
    }
    try {
      await client.getProject(projectId, signal ? { signal } : undefined);
    } catch (getErr) {
      if (isNeonNotFound(getErr)) throw err; // not visible with this key: it proves nothing
      throw getErr;
    }
    return client;
  }
}
