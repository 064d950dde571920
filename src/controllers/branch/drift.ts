import type { NeonBranchSpec } from '../../api/index.ts';
import type { Branch, BranchCreateInput, BranchUpdateInput } from '../../neon/index.ts';

function sameInstant(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Date.parse(a) === Date.parse(b);
}

/** The body of the create call; `ownerAnnotation` stamps the NeonBranch's UID on the Neon branch. */
export function branchCreateInput(spec: NeonBranchSpec, name: string, parentId: string | undefined, ownerAnnotation: Record<string, string>): BranchCreateInput {
  return {
    branch: {
      name,
      ...(parentId ? { parent_id: parentId } : {}),
      ...(spec.parentLsn ? { parent_lsn: spec.parentLsn } : {}),
      ...(spec.parentTimestamp ? { parent_timestamp: spec.parentTimestamp } : {}),
      ...(spec.protected !== undefined ? { protected: spec.protected } : {}),
      ...(spec.expiresAt ? { expires_at: spec.expiresAt } : {}),
      ...(spec.initSource ? { init_source: spec.initSource } : {}),
    },
    annotations: ownerAnnotation,
  };
}

/**
 * The smallest PATCH that brings the branch to the spec; undefined when nothing differs. `protected`
 * left out of the spec is not managed; `expiresAt` left out means no expiry (an expiry set in Neon is
 * removed).
 */
export function branchUpdate(spec: NeonBranchSpec, name: string, branch: Branch): BranchUpdateInput | undefined {
  const update: BranchUpdateInput = {};
  if (branch.name !== name) update.name = name;
  if (spec.protected !== undefined && branch.protected !== spec.protected) update.protected = spec.protected;
  if (!sameInstant(spec.expiresAt, branch.expires_at)) update.expires_at = spec.expiresAt ?? null;
  return Object.keys(update).length > 0 ? update : undefined;
}
