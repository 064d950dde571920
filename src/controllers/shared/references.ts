import {
  parseNeonBranch,
  parseNeonProject,
  type LocalRef,
  type NeonBranch,
  type NeonProject,
  type SecretKeyRef,
} from '../../api/index.ts';
import type { NeonClient } from '../../neon/index.ts';
import { isBeingDeleted, isConditionTrue, type Condition, type KubeObject, type ResourceType } from '../../runtime/index.ts';
import type { ControllerDeps } from './deps.ts';
import { resourceTypes } from './kinds.ts';
import { NotReadyError } from './not-ready.ts';

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
  projectId: string;
  defaultBranchId: string | undefined;
}

export interface ResolvedBranch {
  client: NeonClient;
  projectId: string;
  branchId: string;
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

function keyRef(namespace: string, ref: SecretKeyRef | undefined) {
  return ref ? { namespace, name: ref.name, key: ref.key } : undefined;
}

/** The client for a NeonProject (its apiKeySecretRef or the operator's key). */
export function clientForProject(deps: ControllerDeps, project: NeonProject, signal?: AbortSignal): Promise<NeonClient> {
  return deps.accounts.clientFor(keyRef(project.metadata.namespace ?? '', project.spec.apiKeySecretRef), signal);
}

/** A NeonProject that must be Ready with a project ID. Throws NotReadyError(ProjectNotReady) otherwise. */
export async function resolveProjectRef(deps: ControllerDeps, namespace: string, name: string, signal?: AbortSignal): Promise<ResolvedProject> {
  const project = lookup(deps, resourceTypes.project, namespace, name, parseNeonProject);
  if (!project) throw new NotReadyError('ProjectNotReady', `NeonProject ${name} does not exist yet`);
  const projectId = project.status?.projectId;
  if (!projectId || !isReady(project)) {
    throw new NotReadyError('ProjectNotReady', `waiting for NeonProject ${name} to become Ready`);
  }
  const client = await clientForProject(deps, project, signal);
  deps.accounts.noteProject(projectId, client);
  return { client, projectId, defaultBranchId: project.status?.defaultBranchId };
}

/** The client of a NeonBranch: its project's key (projectRef) or its own apiKeySecretRef (projectId). */
export async function clientForBranch(deps: ControllerDeps, branch: NeonBranch, signal?: AbortSignal): Promise<NeonClient> {
  const namespace = branch.metadata.namespace ?? '';
  if (branch.spec.projectRef) {
    const project = lookup(deps, resourceTypes.project, namespace, branch.spec.projectRef.name, parseNeonProject);
    if (project) return clientForProject(deps, project, signal);
    return deps.accounts.clientFor(undefined, signal);
  }
  return deps.accounts.clientFor(keyRef(namespace, branch.spec.apiKeySecretRef), signal);
}

/** A NeonBranch that must be Ready with its IDs. Throws NotReadyError(BranchNotReady) otherwise. */
export async function resolveBranchRef(deps: ControllerDeps, namespace: string, name: string, signal?: AbortSignal): Promise<ResolvedBranch> {
  const branch = lookup(deps, resourceTypes.branch, namespace, name, parseNeonBranch);
  if (!branch) throw new NotReadyError('BranchNotReady', `NeonBranch ${name} does not exist yet`);
  const { projectId, branchId } = branch.status ?? {};
  if (!projectId || !branchId || !isReady(branch)) {
    throw new NotReadyError('BranchNotReady', `waiting for NeonBranch ${name} to become Ready`);
  }
  const client = await clientForBranch(deps, branch, signal);
  deps.accounts.noteProject(projectId, client);
  return { client, projectId, branchId };
}

/** The branch an endpoint, role or database lives on, resolved from whichever way its spec names it. */
export async function resolveBranchTarget(deps: ControllerDeps, namespace: string, spec: BranchTargetSpec, signal?: AbortSignal): Promise<ResolvedBranch> {
  if (spec.branchRef) return resolveBranchRef(deps, namespace, spec.branchRef.name, signal);
  if (spec.projectRef) {
    const project = await resolveProjectRef(deps, namespace, spec.projectRef.name, signal);
    if (!project.defaultBranchId) {
      throw new NotReadyError('ProjectNotReady', `NeonProject ${spec.projectRef.name} has no default branch recorded yet`);
    }
    return { client: project.client, projectId: project.projectId, branchId: project.defaultBranchId };
  }
  if (spec.projectId && spec.branchId) {
    const client = await deps.accounts.clientFor(keyRef(namespace, spec.apiKeySecretRef), signal);
    deps.accounts.noteProject(spec.projectId, client);
    return { client, projectId: spec.projectId, branchId: spec.branchId };
  }
  throw new NotReadyError('InvalidSpec', 'set exactly one of branchRef, projectRef, or projectId with branchId');
}

/**
 * The client to clean up with while the object is being deleted: the referenced objects may be gone
 * already (a namespace being deleted), so this never waits for readiness. It prefers the client last
 * used for the project, then the references, then the operator's own key.
 */
export async function clientForCleanup(
  deps: ControllerDeps,
  namespace: string,
  spec: BranchTargetSpec,
  projectId: string | undefined,
  signal?: AbortSignal,
): Promise<NeonClient> {
  const known = projectId ? deps.accounts.clientForProjectId(projectId) : undefined;
  if (known) return known;
  if (spec.projectId) return deps.accounts.clientFor(keyRef(namespace, spec.apiKeySecretRef), signal);
  if (spec.projectRef) {
    const project = lookup(deps, resourceTypes.project, namespace, spec.projectRef.name, parseNeonProject);
    if (project) return clientForProject(deps, project, signal);
  }
  if (spec.branchRef) {
    const branch = lookup(deps, resourceTypes.branch, namespace, spec.branchRef.name, parseNeonBranch);
    if (branch) return clientForBranch(deps, branch, signal);
  }
  return deps.accounts.clientFor(undefined, signal);
}
