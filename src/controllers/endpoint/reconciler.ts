import { parseNeonEndpoint, type NeonEndpoint, type PendingCreate } from '../../api/index.ts';
import { ConflictError, type Endpoint, type NeonClient } from '../../neon/index.ts';
import { toKubeTime } from '../../runtime/index.ts';
import { poolerHostOf } from '../shared/connection-secret.ts';
import type { ControllerDeps } from '../shared/deps.ts';
import { adoptedAfterConflict, type FinalizeOutcome, type KindReconciler, type SyncContext, type SyncOutcome } from '../shared/frame.ts';
import { BRANCH_COMPUTE_FOR_ANNOTATION, resourceTypes } from '../shared/kinds.ts';
import { endpointClaims, assertUnclaimed } from '../shared/claims.ts';
import { isNeonNotFound } from '../shared/neon-failures.ts';
import { clientForCleanup, specKeyRef, resolveBranchTarget } from '../shared/references.ts';
import { announceFound, keepsResource, matchesPendingCreate } from '../shared/ownership.ts';
import { annotatedId, annotatedOrigin, ENDPOINT_ID_ANNOTATION, endpointIdentity, identityNotFound } from '../shared/identity.ts';
import { endpointCreateInput, endpointNameFor, endpointUpdate } from './drift.ts';

/** How soon a compute seen in transition (pending_state) is looked at again. */
const PENDING_STATE_RECHECK_MS = 5_000;

/** Endpoint IDs other NeonEndpoints of the namespace already claim (a read_only compute is adopted only if unclaimed). */
function claimedIds(deps: ControllerDeps, self: NeonEndpoint): Set<string> {
  const ids = new Set<string>();
  for (const raw of deps.informers.informer(resourceTypes.endpoint).list(self.metadata.namespace)) {
    if (raw.metadata?.uid === self.metadata.uid) continue;
    try {
      const id = parseNeonEndpoint(raw).status?.endpointId;
      if (id) ids.add(id);
    } catch {
      // an unreadable object claims nothing
    }
  }
  return ids;
}

/**
 * The compute this object should manage when it has none recorded: the branch's read_write compute
 * (Neon allows one per branch), or, for read_only, one with the name recorded in the pending create,
 * created after it and not claimed by another NeonEndpoint (Neon endpoints carry no annotations).
 */
function findAdoptable(e: NeonEndpoint, endpoints: Endpoint[], branchId: string, claimed: Set<string>): Endpoint | undefined {
  const onBranch = endpoints.filter((x) => x.branch_id === branchId && x.type === e.spec.type && !claimed.has(x.id));
  if (e.spec.type === 'read_write') return onBranch[0];
  const pending: PendingCreate | undefined = e.status?.pendingCreate;
  return onBranch
    .filter((x) => matchesPendingCreate(pending, x.name ?? '', x.created_at))
    .sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at))[0];
}

function statusOf(projectId: string, ep: Endpoint) {
  return {
    projectId,
    branchId: ep.branch_id,
    endpointId: ep.id,
    host: ep.host,
    poolerHost: poolerHostOf(ep.host),
    state: ep.current_state,
    pendingCreate: undefined,
  };
}

/** Whether the branch was created carrying its read_write compute for the NeonEndpoint with this UID. */
async function createdWithBranchFor(client: NeonClient, projectId: string, branchId: string, uid: string | undefined, signal: AbortSignal): Promise<boolean> {
  if (!uid) return false;
  const { annotations } = await client.listAllBranches(projectId, {}, { signal });
  return annotations[branchId]?.value[BRANCH_COMPUTE_FOR_ANNOTATION] === uid;
}

/** The compute with that ID, from the project's list (the operator's view of Neon: usually no call). */
async function findEndpoint(client: NeonClient, projectId: string, id: string, signal: AbortSignal): Promise<Endpoint | undefined> {
  return (await client.listEndpoints(projectId, { signal })).find((x) => x.id === id);
}

/** NeonEndpoint: adopt or create (crash-safe), one PATCH for what differs, status with hosts and state. */
export function endpointReconciler(deps: ControllerDeps): KindReconciler<NeonEndpoint> {
  return {
    type: resourceTypes.endpoint,
    parse: parseNeonEndpoint,
    identity: endpointIdentity,

    async sync(e: NeonEndpoint, ctx: SyncContext): Promise<SyncOutcome> {
      const { signal } = ctx;
      const o = { signal };
      const { client, keyRef, projectId, branchId } = await resolveBranchTarget(deps, e.metadata.namespace ?? '', e.spec, signal);
      ctx.useAccount(keyRef);
      assertUnclaimed(deps, endpointClaims, e, { projectId, branchId });
      let endpoint = e.status?.endpointId ? await findEndpoint(client, projectId, e.status.endpointId, signal) : undefined;
      // Restored without status: exactly the compute the annotation names, or nothing (never a second one).
      const restoredId = e.status?.endpointId ? undefined : annotatedId(e, ENDPOINT_ID_ANNOTATION);
      if (restoredId) {
        endpoint = await findEndpoint(client, projectId, restoredId, signal);
        if (!endpoint || endpoint.branch_id !== branchId) throw identityNotFound('Neon compute', restoredId, ENDPOINT_ID_ANNOTATION, `branch ${branchId} of project ${projectId}`);
        const origin = annotatedOrigin(e);
        await ctx.saveStatus({ projectId, branchId, endpointId: endpoint.id, origin, pendingCreate: undefined });
        ctx.event('Normal', 'Adopted', 'Restore', `found Neon compute ${endpoint.id} named by the annotation ${ENDPOINT_ID_ANNOTATION} (origin ${origin ?? 'not recorded'})`);
      }
      if (!endpoint && e.status?.endpointId) {
        const message = `Neon compute ${e.status.endpointId} was deleted outside the operator; creating it again`;
        ctx.event('Warning', 'DeletedOutside', 'Reconcile', message);
        await ctx.saveStatus(
          { endpointId: undefined, host: undefined, poolerHost: undefined, state: undefined },
          { ok: false, reason: 'DeletedOutside', message },
        );
      }
      if (!endpoint) {
        const adoptable = findAdoptable(e, await client.listEndpoints(projectId, o), branchId, claimedIds(deps, e));
        if (adoptable) {
          endpoint = adoptable;
          // What an interrupted create of ours made (recorded before the call) is ours, and so is a compute the
          // branch was created with for this object (its annotation names our UID); anything else existed before.
          const interrupted = matchesPendingCreate(e.status?.pendingCreate, endpointNameFor(e.metadata.name), endpoint.created_at);
          const withBranch = !interrupted && (await createdWithBranchFor(client, projectId, endpoint.branch_id, e.metadata.uid, signal));
          const origin = interrupted || withBranch ? 'Created' : 'Adopted';
          await ctx.saveStatus({ projectId, branchId, endpointId: endpoint.id, origin, pendingCreate: undefined });
          // The usual way a read_write compute comes to be: in its branch's create call, for this object.
          if (withBranch) ctx.event('Normal', 'Created', 'Create', `Neon compute ${endpoint.id} was created with its branch ${endpoint.branch_id}`);
          else announceFound(ctx, origin, `Neon compute ${endpoint.id}`, e.spec);
        }
      }
      if (!endpoint) {
        // Recorded before the call: after a crash the compute is found by name and creation time (see findAdoptable),
        // and known as created (not adopted). A read_write compute is found as the branch's one, so Neon is not
        // sent the name.
        const pendingName = endpointNameFor(e.metadata.name);
        const name = e.spec.type === 'read_only' ? pendingName : undefined;
        await ctx.recordPendingCreate({ startedAt: toKubeTime(deps.clock.now()), name: pendingName });
        try {
          const created = await client.createEndpoint(projectId, endpointCreateInput(e.spec, branchId, name), o);
          endpoint = created.endpoint;
          await ctx.saveStatus({ ...statusOf(projectId, endpoint), origin: 'Created' });
          ctx.event('Normal', 'Created', 'Create', `created Neon compute ${endpoint.id}`);
          // Ready once Neon has started it: the next pass comes when the operations have ended (no worker waits).
          return {
            status: statusOf(projectId, endpoint),
            ready: { ok: false, reason: 'Provisioning', message: `Neon compute ${endpoint.id} is being created` },
            wakeWhen: client.waitForOperations(projectId, created.operations, o),
          };
        } catch (err) {
          // Someone else (or an earlier, unrecorded attempt) made the branch's read_write compute: adopt it next pass.
          if (err instanceof ConflictError && e.spec.type === 'read_write') {
            return adoptedAfterConflict(ctx, 'the branch already has a read-write compute; adopting it');
          }
          throw err;
        }
      } else {
        const update = endpointUpdate(e.spec, endpoint);
        if (update) {
          const answer = await client.updateEndpoint(projectId, endpoint.id, update, o);
          endpoint = answer.endpoint;
          ctx.event('Normal', 'Updated', 'Update', `updated Neon compute ${endpoint.id}: ${Object.keys(update).join(', ')}`);
          // A change may suspend or restart the compute: once the operations it started are done (the
          // scheduler polls them per project, shared with every other waiter), the next pass finds its new state
          // in the view. Meanwhile it stays usable.
          if (answer.operations.length > 0) {
            return {
              status: statusOf(projectId, endpoint),
              ready: { ok: true, reason: 'Ready', message: `Neon compute ${endpoint.id} is being reconfigured` },
              wakeWhen: client.waitForOperations(projectId, answer.operations, o),
            };
          }
        }
      }
      // A compute still being created (`init`) is not usable yet, whichever pass sees it first: Ready comes once
      // Neon has started it (the create's own wake, or this recheck).
      if (endpoint.current_state === 'init') {
        return {
          status: statusOf(projectId, endpoint),
          ready: { ok: false, reason: 'Provisioning', message: `Neon compute ${endpoint.id} is being created` },
          requeueAfterMs: PENDING_STATE_RECHECK_MS,
          backoff: true,
        };
      }
      const ready = { ok: true, reason: 'Ready', message: `Neon compute ${endpoint.id} is ${endpoint.current_state}` };
      // A transition nobody here started (a connection starting it, a suspend timeout): look once more
      // soon, so status.state does not wait for the resync. It ends, so this is no polling loop.
      if (endpoint.pending_state) return { status: statusOf(projectId, endpoint), ready, requeueAfterMs: PENDING_STATE_RECHECK_MS, backoff: true };
      return { status: statusOf(projectId, endpoint), ready };
    },

    async finalize(e: NeonEndpoint, ctx: SyncContext): Promise<FinalizeOutcome> {
      const endpointId = e.status?.endpointId;
      if (keepsResource(e, ctx, `Neon compute ${endpointId ?? ''}`)) return { done: true };
      const projectId = e.status?.projectId ?? e.spec.projectId;
      if (!projectId || !endpointId) return { done: true };
      const namespace = e.metadata.namespace ?? '';
      const client = await clientForCleanup(deps, namespace, specKeyRef(deps, namespace, e.spec), e.status, projectId, ctx.signal);
      try {
        const answer = await client.deleteEndpoint(projectId, endpointId, { signal: ctx.signal });
        if (answer) ctx.event('Normal', 'Deleted', 'Delete', `deleted Neon compute ${endpointId}`);
      } catch (err) {
        if (!isNeonNotFound(err)) throw err; // project or branch already gone
      }
      return { done: true };
    },
  };
}
