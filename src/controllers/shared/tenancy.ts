/**
 * Tenancy: which Neon projects a namespace may reach. One rule, decided here, that every reconciler applies
 * before its first Neon call (through the reference resolution in references.ts and the NeonProject
 * reconciler), so no object can act on another team's project with the operator's own API key.
 *
 * A project is reachable from namespace N when
 * 1. the account is N's own: an API key Secret in N (`apiKeySecretRef`), whatever that account holds; or
 * 2. with the operator's key: a NeonProject in N created it (status.projectId of a NeonProject without
 *    spec.projectId); or
 * 3. with the operator's key: the operator's configuration allows it for N (`--allowed-projects`, chart
 *    value `tenancy.allowedProjects`), empty by default.
 * Anything else is refused with `Ready=False, reason=ProjectNotAllowed` and no Neon call.
 *
 * A NeonProject restored without status names its project only in an annotation (identity.ts), which anyone who
 * can edit the object can write. `restoredProjectOrigin` lets it through rule 2 only on Neon's word: the mark the
 * operator puts on a project's default branch when it creates the project (`neon-operator.dev/namespace`), which
 * no tenant can write on another's project. A project created before that mark existed needs rule 1 or 3.
 */
import { parseNeonProject, type Origin } from '../../api/index.ts';
import type { NeonClient } from '../../neon/index.ts';
import type { ControllerDeps } from './deps.ts';
import { resourceTypes } from './kinds.ts';
import type { ApiKeyRef } from './neon-accounts.ts';
import { NotReadyError } from './not-ready.ts';

/** One entry of the allow-list: a namespace (or a `prefix*` / `*` pattern) and a project ID (or `*`). */
export interface AllowedProject {
  namespace: string;
  projectId: string;
}

export const PROJECT_NOT_ALLOWED = 'ProjectNotAllowed';

/** Parses `namespace/projectId` entries; `*` as the whole project ID, or at the end of the namespace, is a wildcard. */
export function parseAllowedProjects(entries: readonly string[]): AllowedProject[] {
  return entries.map((entry) => {
    const m = /^(?<namespace>[a-z0-9][-a-z0-9]*\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?|\*)\/(?<projectId>[a-z0-9-]{1,60}|\*)$/.exec(entry);
    if (!m?.groups) throw new Error(`"${entry}" is not namespace/projectId (a namespace may end with *, * alone means any; a project ID may be *)`);
    return { namespace: m.groups['namespace'] as string, projectId: m.groups['projectId'] as string };
  });
}

function namespaceMatches(pattern: string, namespace: string): boolean {
  return pattern.endsWith('*') ? namespace.startsWith(pattern.slice(0, -1)) : pattern === namespace;
}

/** True when the operator's configuration lets `namespace` reach `projectId` with the operator's key. */
export function allowListed(allowed: readonly AllowedProject[], namespace: string, projectId: string): boolean {
  return allowed.some((a) => namespaceMatches(a.namespace, namespace) && (a.projectId === '*' || a.projectId === projectId));
}

/** True when a NeonProject in `namespace` created `projectId` (not adopted it by ID) with the operator's key. */
function createdByNamespace(deps: ControllerDeps, namespace: string, projectId: string): boolean {
  for (const raw of deps.informers.informer(resourceTypes.project).list(namespace)) {
    try {
      const p = parseNeonProject(raw);
      if (p.status?.projectId === projectId && !p.spec.projectId && !p.spec.apiKeySecretRef && p.status.origin !== 'Adopted') return true;
    } catch {
      // an unreadable object vouches for nothing
    }
  }
  return false;
}

/**
 * Throws NotReadyError(ProjectNotAllowed) unless `namespace` may reach `projectId` with the account `account`
 * (undefined: the operator's own key). Reads only the informer caches and the configuration: no Neon call.
 */
export function assertProjectReachable(deps: ControllerDeps, namespace: string, projectId: string, account: ApiKeyRef | undefined): void {
  if (account) {
    if (account.namespace === namespace) return;
    throw new NotReadyError(PROJECT_NOT_ALLOWED, `the API key Secret ${account.namespace}/${account.name} is not in this object's namespace ${namespace}`);
  }
  if (allowListed(deps.allowedProjects, namespace, projectId)) return;
  if (createdByNamespace(deps, namespace, projectId)) return;
  throw new NotReadyError(
    PROJECT_NOT_ALLOWED,
    `Neon project ${projectId} is not reachable from namespace ${namespace} with the operator's API key: no NeonProject ` +
      `in this namespace created it and the operator's allowed projects do not list it. Name this namespace's own ` +
      `account with apiKeySecretRef, or ask the operator's administrator to allow it (--allowed-projects ${namespace}/${projectId}).`,
  );
}

/** The same rule as a boolean, for cleanup: what the rule refuses was never reached, so there is nothing of it to delete. */
export function isProjectReachable(deps: ControllerDeps, namespace: string, projectId: string, account: ApiKeyRef | undefined): boolean {
  try {
    assertProjectReachable(deps, namespace, projectId, account);
    return true;
  } catch (err) {
    if (err instanceof NotReadyError) return false;
    throw err;
  }
}

/** Neon branch annotation: the namespace of the NeonProject that created the project, stamped on its default branch at create. */
export const PROJECT_NAMESPACE_MARK = 'neon-operator.dev/namespace';

/** The branch annotations a project is created with (`branch.annotations` of the create call). */
export function projectCreateMarks(namespace: string): Record<string, string> {
  return { [PROJECT_NAMESPACE_MARK]: namespace };
}

/**
 * The tenancy rule for a NeonProject that names `projectId` only in its identity annotation (restored without
 * status). Reads the project's branch annotations (one list call, with the object's account): when one carries
 * the mark of this namespace, the operator created the project for it, so it is reachable and `Created`;
 * otherwise it must pass assertProjectReachable (its own account, the allow-list) and counts as `Adopted`, so a
 * forged annotation can neither reach another namespace's project nor make it count as created here. A 404
 * (the project is gone, or this key cannot see it) is Neon's answer, thrown as it comes.
 */
export async function restoredProjectOrigin(
  deps: ControllerDeps,
  namespace: string,
  projectId: string,
  account: ApiKeyRef | undefined,
  client: NeonClient,
  signal: AbortSignal,
): Promise<Origin> {
  const { annotations } = await client.listAllBranches(projectId, {}, { signal });
  if (Object.values(annotations).some((a) => a.value[PROJECT_NAMESPACE_MARK] === namespace)) return 'Created';
  assertProjectReachable(deps, namespace, projectId, account);
  return 'Adopted';
}
