import { neonBranchName, parseNeonBranch, parseNeonEndpoint, type NeonBranch, type NeonEndpoint } from '../../api/index.ts';
import { ConflictError, type Annotation, type Branch, type NeonClient } from '../../neon/index.ts';
import type { ControllerDeps } from '../shared/deps.ts';
import { adoptingSoon, type FinalizeOutcome, type KindReconciler, type SyncContext, type SyncOutcome } from '../shared/frame.ts';
import { BRANCH_COMPUTE_FOR_ANNOTATION, BRANCH_OWNER_ANNOTATION, resourceTypes } from '../shared/kinds.ts';
import { branchEndpointInput } from '../endpoint/drift.ts';
import { isNeonNotFound } from '../shared/neon-failures.ts';
import { NotReadyError } from '../shared/not-ready.ts';
import type { ApiKeyRef } from '../shared/neon-accounts.ts';
import { clientForCleanup, keyRef, resolveBranchRef, resolveProjectRef, specKeyRef } from '../shared/references.ts';
import { assertProjectReachable, isProjectReachable } from '../shared/tenancy.ts';
import { announceFound, keepsResource } from '../shared/ownership.ts';
import { annotatedId, annotatedOrigin, BRANCH_ID_ANNOTATION, branchIdentity, identityNotFound } from '../shared/identity.ts';
import { branchCreateInput, branchUpdate } from './drift.ts';
import { assertNoParentCycle } from './parent-chain.ts';
import { resetAnsweredByCreation, resetFromParent } from './reset.ts';
import { ANONYMIZING_RECHECK_MS, createBranchFor, syncAnonymization } from './anonymization.ts';

/** How often a branch waiting for its child branches to go is looked at again. */
const CHILDREN_RECHECK_MS = 5_000;

async function resolveProject(deps: ControllerDeps, b: NeonBranch, signal: AbortSignal): Promise<{ client: NeonClient; keyRef: ApiKeyRef | undefined; projectId: string }> {
  const namespace = b.metadata.namespace ?? '';
  if (b.spec.projectRef) return resolveProjectRef(deps, namespace, b.spec.projectRef.name, signal);
  if (!b.spec.projectId) throw new NotReadyError('InvalidSpec', 'set exactly one of projectRef or projectId');
  const ref = keyRef(namespace, b.spec.apiKeySecretRef);
  assertProjectReachable(deps, namespace, b.spec.projectId, ref);
  return { client: await deps.accounts.clientFor(ref, signal), keyRef: ref, projectId: b.spec.projectId };
}

/** The Neon branch created for this object: by recorded ID, else by the UID annotation, else by name. */
function findOwn(b: NeonBranch, name: string, branches: Branch[], annotations: Record<string, Annotation>): { branch: Branch | undefined; how: 'id' | 'annotation' | 'name' | 'none' } {
  const byId = b.status?.branchId ? branches.find((x) => x.id === b.status?.branchId) : undefined;
  if (byId) return { branch: byId, how: 'id' };
  const uid = b.metadata.uid;
  const byAnnotation = uid ? branches.find((x) => annotations[x.id]?.value[BRANCH_OWNER_ANNOTATION] === uid) : undefined;
  if (byAnnotation) return { branch: byAnnotation, how: 'annotation' };
  const byName = branches.find((x) => x.name === name);
  return byName ? { branch: byName, how: 'name' } : { branch: undefined, how: 'none' };
}

/**
 * The NeonEndpoint whose read_write compute rides in this branch's create call (`endpoints[]`, as Neon intends:
 * one mutation instead of two): one that names this NeonBranch with branchRef, has no compute yet and is not
 * being deleted; of several, the oldest (the one the read_write claim would pick).
 */
function computeToCarry(deps: ControllerDeps, b: NeonBranch): NeonEndpoint | undefined {
  const candidates = deps.informers
    .informer(resourceTypes.endpoint)
    .list(b.metadata.namespace)
    .flatMap((raw) => {
      try {
        const e = parseNeonEndpoint(raw);
        const wants = e.spec.type === 'read_write' && e.spec.branchRef?.name === b.metadata.name;
        return wants && !e.metadata.deletionTimestamp && !e.status?.endpointId && e.metadata.uid ? [e] : [];
      } catch {
        return [];
      }
    });
  const key = (e: NeonEndpoint) => `${e.metadata.creationTimestamp ?? '\uffff'}\n${e.metadata.name}`;
  return candidates.sort((x, y) => (key(x) < key(y) ? -1 : 1))[0];
}

function statusOf(projectId: string, branch: Branch) {
  return {
    projectId,
    branchId: branch.id,
    parentId: branch.parent_id,
    name: branch.name,
    default: branch.default,
    state: branch.current_state,
  };
}

/**
 * NeonBranch: adopt (by UID annotation, then name) or create stamped with the object's UID, so a crash
 * between the create call and the status write can never produce a second branch; repair name,
 * protection and expiry drift; recreate a branch deleted outside the operator; reset it from its parent when
 * the reset-from-parent annotation has a new value (reset.ts).
 */
export function branchReconciler(deps: ControllerDeps): KindReconciler<NeonBranch> {
  return {
    type: resourceTypes.branch,
    parse: parseNeonBranch,
    identity: branchIdentity,

    async sync(b: NeonBranch, ctx: SyncContext): Promise<SyncOutcome> {
      const { signal } = ctx;
      const o = { signal };
      const namespace = b.metadata.namespace ?? '';
      assertNoParentCycle(deps, b);
      const { client, keyRef: account, projectId } = await resolveProject(deps, b, signal);
      ctx.useAccount(account);
      let parentId = b.spec.parentId;
      if (b.spec.parentRef) {
        const parent = await resolveBranchRef(deps, namespace, b.spec.parentRef.name, signal);
        if (parent.projectId !== projectId) {
          throw new NotReadyError('InvalidSpec', `parent NeonBranch ${b.spec.parentRef.name} is in project ${parent.projectId}, not ${projectId}`);
        }
        parentId = parent.branchId;
      }
      const name = neonBranchName(b);
      const { branches, annotations } = await client.listAllBranches(projectId, {}, o);
      // Restored without status: exactly the branch the annotation names, or nothing (never a second one).
      const restoredId = b.status?.branchId ? undefined : annotatedId(b, BRANCH_ID_ANNOTATION);
      if (restoredId) {
        const restored = branches.find((x) => x.id === restoredId);
        if (!restored) throw identityNotFound('Neon branch', restoredId, BRANCH_ID_ANNOTATION, `project ${projectId}`);
        const origin = annotatedOrigin(b);
        await ctx.saveStatus({ projectId, branchId: restored.id, origin });
        ctx.event('Normal', 'Adopted', 'Restore', `found Neon branch ${restored.id} named by the annotation ${BRANCH_ID_ANNOTATION} (origin ${origin ?? 'not recorded'})`);
      }
      let { branch, how } = restoredId ? { branch: branches.find((x) => x.id === restoredId), how: 'id' as const } : findOwn(b, name, branches, annotations);

      if (!branch && b.status?.branchId) {
        const message = `Neon branch ${b.status.branchId} was deleted outside the operator; creating it again from its parent`;
        ctx.log.warn({ branchId: b.status.branchId }, 'branch deleted outside the operator');
        ctx.event('Warning', 'DeletedOutside', 'Reconcile', message);
        await ctx.saveStatus({ branchId: undefined, state: undefined }, { ok: false, reason: 'DeletedOutside', message });
      }
      if (branch && how !== 'id') {
        // Found by our UID annotation, it is the branch an interrupted create made; by name, it existed before.
        const origin = how === 'annotation' ? 'Created' : 'Adopted';
        await ctx.saveStatus({ projectId, branchId: branch.id, origin });
        announceFound(ctx, origin, `Neon branch ${branch.id}${origin === 'Adopted' ? ` (found by ${how})` : ''}`, b.spec);
      }
      if (!branch) {
        const uid = b.metadata.uid ?? '';
        // An anonymized branch gets its compute only once its data is masked (the NeonEndpoint waits for Ready).
        const compute = b.spec.anonymization ? undefined : computeToCarry(deps, b);
        const annotations = { [BRANCH_OWNER_ANNOTATION]: uid, ...(compute ? { [BRANCH_COMPUTE_FOR_ANNOTATION]: compute.metadata.uid ?? '' } : {}) };
        let created;
        try {
          created = await createBranchFor(
            client,
            projectId,
            b.spec,
            { ...branchCreateInput(b.spec, name, parentId, annotations), ...(compute ? { endpoints: [branchEndpointInput(compute.spec)] } : {}) },
            o,
          );
        } catch (err) {
          // A branch of that name appeared since we listed: the next pass adopts it by name.
          if (err instanceof ConflictError) return adoptingSoon(`a Neon branch named ${name} already exists; adopting it`);
          throw err;
        }
        // A reset asked for already is answered by the creation: the new branch is the parent's latest state.
        await ctx.saveStatus({ projectId, branchId: created.branch.id, origin: 'Created', ...resetAnsweredByCreation(deps, b, parentId ?? branches.find((x) => x.default)?.id) });
        const carried = created.endpoints.find((x) => x.type === 'read_write');
        ctx.event('Normal', 'Created', 'Create', `created Neon branch ${created.branch.id}${compute && carried ? ` with compute ${carried.id} for NeonEndpoint ${compute.metadata.name}` : ''}`);
        // Neon finishes the branch on its own: the next pass, when its operations have ended, finds it ready
        // in the project view (which they settle), and no worker waits meanwhile.
        return {
          status: statusOf(projectId, created.branch),
          ready: { ok: false, reason: 'BranchNotReady', message: `Neon branch ${created.branch.id} is being created` },
          wakeWhen: client.waitForOperations(projectId, created.operations, o),
        };
      } else {
        const update = branchUpdate(b.spec, name, branch);
        if (update) {
          const answer = await client.updateBranch(projectId, branch.id, update, o);
          branch = answer.branch;
          ctx.event('Normal', 'Updated', 'Update', `updated Neon branch ${branch.id}: ${Object.keys(update).join(', ')}`);
        }
        branch = await resetFromParent(deps, b, ctx, { client, projectId, branch, parentId, branches });
      }
      const status = statusOf(projectId, branch);
      if (branch.current_state !== 'ready') {
        return {
          status,
          ready: { ok: false, reason: 'BranchNotReady', message: `Neon branch ${branch.id} is ${branch.current_state}` },
          requeueAfterMs: 2_000,
          backoff: true,
        };
      }
      if (b.spec.anonymization) {
        const masked = await syncAnonymization(client, projectId, branch, b.spec.anonymization, ctx);
        if (masked.notReady) {
          return {
            status: { ...status, ...masked.status },
            ready: masked.notReady,
            ...(masked.backoff ? { requeueAfterMs: ANONYMIZING_RECHECK_MS, backoff: true } : {}),
          };
        }
        return { status: { ...status, ...masked.status }, ready: { ok: true, reason: 'Ready', message: `Neon branch ${branch.id} is ready and its data is masked` } };
      }
      return { status, ready: { ok: true, reason: 'Ready', message: `Neon branch ${branch.id} is ready` } };
    },

    async finalize(b: NeonBranch, ctx: SyncContext): Promise<FinalizeOutcome> {
      if (b.status?.default || keepsResource(b, ctx, `Neon branch ${b.status?.branchId ?? ''}`)) return { done: true };
      const projectId = b.status?.projectId ?? b.spec.projectId;
      if (!projectId) return { done: true };
      const o = { signal: ctx.signal };
      const namespace = b.metadata.namespace ?? '';
      // Nothing recorded: a create may have landed unrecorded, but only in a project the tenancy rule let the
      // branch reach; any other project is not even looked at.
      if (!b.status?.projectId && !isProjectReachable(deps, namespace, projectId, keyRef(namespace, b.spec.apiKeySecretRef))) return { done: true };
      const client = await clientForCleanup(deps, namespace, specKeyRef(deps, namespace, b.spec), b.status, projectId, ctx.signal);
      let listed: { branches: Branch[]; annotations: Record<string, Annotation> };
      try {
        listed = await client.listAllBranches(projectId, {}, o);
      } catch (err) {
        // Asked with the account that last reached the project (see clientForCleanup): it is gone, and the branch with it.
        if (isNeonNotFound(err)) return { done: true };
        throw err;
      }
      const uid = b.metadata.uid;
      const branch =
        listed.branches.find((x) => x.id === b.status?.branchId) ??
        (uid ? listed.branches.find((x) => listed.annotations[x.id]?.value[BRANCH_OWNER_ANNOTATION] === uid) : undefined);
      if (!branch) return { done: true };
      if (branch.default) return { done: true };
      const children = listed.branches.filter((x) => x.parent_id === branch.id);
      if (children.length > 0) {
        return {
          done: false,
          reason: 'BranchHasChildren',
          message: `waiting for child branches to be deleted first: ${children.map((c) => c.name).join(', ')}`,
          requeueAfterMs: CHILDREN_RECHECK_MS,
          backoff: true,
        };
      }
      // deletionPolicy Delete is an explicit request: lift Neon's protection, which would refuse it.
      if (branch.protected) await client.updateBranch(projectId, branch.id, { protected: false }, o);
      await client.deleteBranch(projectId, branch.id, o);
      ctx.event('Normal', 'Deleted', 'Delete', `deleted Neon branch ${branch.id}`);
      return { done: true };
    },
  };
}
