import { RESET_FROM_PARENT_ANNOTATION, RESET_PRESERVE_UNDER_NAME_ANNOTATION, type NeonBranch } from '../../api/index.ts';
import type { Branch, NeonClient } from '../../neon/index.ts';
import { toKubeTime } from '../../runtime/index.ts';
import { BlockedError } from '../shared/blocked.ts';
import type { ControllerDeps } from '../shared/deps.ts';
import type { SyncContext } from '../shared/frame.ts';

/** The reset the annotation asks for and status has not recorded as done; undefined when there is none. */
export function pendingResetRequest(b: NeonBranch): string | undefined {
  const request = b.metadata.annotations?.[RESET_FROM_PARENT_ANNOTATION];
  return request !== undefined && request !== b.status?.reset?.request ? request : undefined;
}

/**
 * Status fields for a branch being created while the annotation asks for a reset: the new branch is its parent's
 * latest state, so the value is recorded as handled without a restore.
 */
export function resetAnsweredByCreation(deps: ControllerDeps, b: NeonBranch, sourceId: string | undefined): { reset?: NonNullable<NeonBranch['status']>['reset'] } {
  const request = pendingResetRequest(b);
  if (request === undefined) return {};
  return { reset: { request, completedAt: toKubeTime(deps.clock.now()), ...(sourceId ? { sourceBranchId: sourceId } : {}) } };
}

/** Why a branch cannot be reset from its parent, or undefined when it can. */
function whyNotResettable(b: NeonBranch, branch: Branch, sourceId: string | undefined): string | undefined {
  if (b.spec.initSource === 'schema-only') {
    return "it is a schema-only branch, and a restore would copy the parent's data into it";
  }
  if (b.spec.anonymization) {
    return "it is an anonymized branch, and a restore would bring the parent's unmasked data into it; branch previews from a masked NeonBranch and reset those instead";
  }
  if (branch.default || sourceId === undefined || sourceId === branch.id) return 'it has no parent branch to restore from';
  return undefined;
}

/**
 * Acts on a new value of the reset-from-parent annotation: restores the branch to its parent's latest state
 * with Neon's branch restore (same branch ID, computes and hosts; roles, passwords and data follow the parent),
 * waits for the restore's operations, then records the value in `status.reset` and says so in an Event (a value
 * present when the branch was created is recorded then: resetAnsweredByCreation). `status.resetPending` is written before the call, so a restart after it finds Neon's `last_reset_at` and
 * records the reset instead of restoring twice. Returns the branch as Neon has it afterwards.
 */
export async function resetFromParent(
  deps: ControllerDeps,
  b: NeonBranch,
  ctx: SyncContext,
  at: { client: NeonClient; projectId: string; branch: Branch; parentId: string | undefined; branches: readonly Branch[] },
): Promise<Branch> {
  const request = pendingResetRequest(b);
  if (request === undefined) return at.branch;
  const { client, projectId, branch } = at;
  const o = { signal: ctx.signal };
  const sourceId = at.parentId ?? at.branches.find((x) => x.default)?.id;
  const now = () => toKubeTime(deps.clock.now());
  const why = whyNotResettable(b, branch, sourceId);
  if (why !== undefined || sourceId === undefined) {
    throw new BlockedError(
      'InvalidSpec',
      `annotation ${RESET_FROM_PARENT_ANNOTATION}: Neon branch ${branch.id} cannot be reset from its parent: ${why ?? 'no parent'}; remove the annotation`,
      'onChange',
    );
  }
  const preserve = b.metadata.annotations?.[RESET_PRESERVE_UNDER_NAME_ANNOTATION] || undefined;
  const pending = b.status?.resetPending;
  const alreadyRestored =
    pending?.request === request && branch.last_reset_at !== undefined && Date.parse(branch.last_reset_at) >= Date.parse(pending.startedAt);
  if (!alreadyRestored) {
    const message = `restoring Neon branch ${branch.id} to the latest state of its parent ${sourceId} (${RESET_FROM_PARENT_ANNOTATION}: ${request})`;
    await ctx.saveStatus({ resetPending: { request, startedAt: now() } }, { ok: false, reason: 'Resetting', message });
    const answer = await client.restoreBranch(
      projectId,
      branch.id,
      { source_branch_id: sourceId, ...(preserve !== undefined ? { preserve_under_name: preserve } : {}) },
      o,
    );
    await client.waitForOperations(projectId, answer.operations, o);
  }
  await ctx.saveStatus({
    reset: { request, completedAt: now(), sourceBranchId: sourceId, ...(preserve !== undefined ? { preservedUnderName: preserve } : {}) },
    resetPending: undefined,
  });
  ctx.event(
    'Normal',
    'Reset',
    'Reset',
    `restored Neon branch ${branch.id} to the latest state of its parent ${sourceId}` +
      `${preserve !== undefined ? `; its previous state is kept in the Neon branch ${preserve}` : ''} (${RESET_FROM_PARENT_ANNOTATION}: ${request})`,
  );
  return (await client.getBranch(projectId, branch.id, o)).branch;
}
