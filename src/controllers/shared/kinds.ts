import { neonBranchKind, neonDatabaseKind, neonEndpointKind, neonProjectKind, neonRoleKind } from '../../api/index.ts';
import type { ResourceType } from '../../runtime/index.ts';

function typeOf(kind: { group: string; version: string; plural: string; kind: string }): ResourceType {
  return { group: kind.group, version: kind.version, plural: kind.plural, kind: kind.kind, namespaced: true };
}

/** How the runtime addresses each of the operator's kinds on the API server. */
export const resourceTypes = {
  project: typeOf(neonProjectKind),
  branch: typeOf(neonBranchKind),
  endpoint: typeOf(neonEndpointKind),
  role: typeOf(neonRoleKind),
  database: typeOf(neonDatabaseKind),
} as const satisfies Record<string, ResourceType>;

/** The finalizer every kind carries while its Neon resource may still need cleaning up. */
export const FINALIZER = 'neon-operator.dev/finalizer';
/** Field manager of every write the operator makes (server-side apply of Secrets). */
export const FIELD_MANAGER = 'neon-operator';
/** Branch annotation key (Neon side) holding the UID of the NeonBranch that created the branch. */
export const BRANCH_OWNER_ANNOTATION = 'neon-operator.dev/uid';
/**
 * Branch annotation key (Neon side) holding the UID of the NeonEndpoint whose read_write compute was created in
 * the same call as the branch: that NeonEndpoint finds it as its own (origin Created), even after a crash.
 */
export const BRANCH_COMPUTE_FOR_ANNOTATION = 'neon-operator.dev/compute-for';
