import { parseNeonDatabase, parseNeonRole, postgresDatabaseName, type NeonDatabase } from '../../api/index.ts';
import { ConflictError, type Database } from '../../neon/index.ts';
import type { ControllerDeps } from '../shared/deps.ts';
import { adoptedAfterConflict, type FinalizeOutcome, type KindReconciler, type SyncContext, type SyncOutcome } from '../shared/frame.ts';
import { resourceTypes } from '../shared/kinds.ts';
import { assertUnclaimed, databaseClaims } from '../shared/claims.ts';
import { isNeonNotFound } from '../shared/neon-failures.ts';
import { NotReadyError } from '../shared/not-ready.ts';
import { announceFound, keepsResource, matchesPendingCreate } from '../shared/ownership.ts';
import { annotatedOrigin, nameIdentity } from '../shared/identity.ts';
import { toKubeTime } from '../../runtime/index.ts';
import { clientForCleanup, specKeyRef, lookup, resolveBranchTarget, type ResolvedBranch } from '../shared/references.ts';

/**
 * The owner's role name. A referenced NeonRole only has to exist in Neon on the same branch (recorded in
 * its status), not be Ready: the role's own readiness waits for this database (its Secret points here).
 */
function ownerName(deps: ControllerDeps, d: NeonDatabase, target: ResolvedBranch): string {
  if (d.spec.ownerName) return d.spec.ownerName;
  const refName = d.spec.ownerRef?.name ?? '';
  const role = lookup(deps, resourceTypes.role, d.metadata.namespace ?? '', refName, parseNeonRole);
  if (!role) throw new NotReadyError('RoleNotReady', `NeonRole ${refName} does not exist yet`);
  const { roleName, branchId } = role.status ?? {};
  if (!roleName) throw new NotReadyError('RoleNotReady', `waiting for NeonRole ${refName} to be created in Neon`);
  if (branchId !== target.branchId) {
    throw new NotReadyError('RoleNotReady', `NeonRole ${refName} is on branch ${branchId ?? 'unknown'}, not on the database's branch ${target.branchId}`);
  }
  return roleName;
}

/** NeonDatabase: adopt by name or create; rename and change owner with one PATCH; recreate if deleted outside. */
export function databaseReconciler(deps: ControllerDeps): KindReconciler<NeonDatabase> {
  return {
    type: resourceTypes.database,
    parse: parseNeonDatabase,
    identity: nameIdentity,

    async sync(d: NeonDatabase, ctx: SyncContext): Promise<SyncOutcome> {
      const { signal } = ctx;
      const o = { signal };
      const target = await resolveBranchTarget(deps, d.metadata.namespace ?? '', d.spec, signal);
      const { client, projectId, branchId } = target;
      ctx.useAccount(target.keyRef);
      assertUnclaimed(deps, databaseClaims, d, target);
      const owner = ownerName(deps, d, target);
      const name = postgresDatabaseName(d);
      const databases = await client.listDatabases(projectId, branchId, o);
      let db: Database | undefined = databases.find((x) => x.name === name);
      const previous = d.status?.branchId === branchId ? d.status.databaseName : undefined;
      let renamed = false;

      if (!db && previous && previous !== name) {
        const old = databases.find((x) => x.name === previous);
        if (old) {
          // spec.name changed: rename in place (and fix the owner in the same call).
          const answer = await client.updateDatabase(projectId, branchId, previous, { name, ...(old.owner_name !== owner ? { owner_name: owner } : {}) }, o);
          db = answer.database;
          renamed = true;
          ctx.event('Normal', 'Renamed', 'Update', `renamed database ${previous} to ${name}`);
        }
      }
      if (!db) {
        if (previous === name) {
          ctx.event('Warning', 'DeletedOutside', 'Reconcile', `database ${name} was deleted outside the operator; creating it again (empty)`);
        }
        let created;
        // Recorded before the call: a database found after a crash with this name and a later creation time is ours.
        await ctx.recordPendingCreate({ startedAt: toKubeTime(deps.clock.now()), name });
        try {
          created = await client.createDatabase(projectId, branchId, { name, owner_name: owner }, o);
        } catch (err) {
          if (err instanceof ConflictError) return adoptedAfterConflict(ctx, `database ${name} appeared on the branch meanwhile; adopting it`);
          throw err;
        }
        db = created.database;
        await ctx.saveStatus({ projectId, branchId, databaseName: name, origin: 'Created', pendingCreate: undefined });
        ctx.event('Normal', 'Created', 'Create', `created database ${name} on Neon branch ${branchId}`);
        // Ready once Neon has applied it to the branch's computes: the next pass comes when that has ended.
        return {
          status: { projectId, branchId, databaseName: db.name, ownerName: db.owner_name },
          ready: { ok: false, reason: 'Provisioning', message: `database ${name} is being created` },
          wakeWhen: client.waitForOperations(projectId, created.operations, o),
        };
      } else if (!renamed && previous !== name) {
        // Restored without status, the origin it had is in its annotation; otherwise it existed before.
        const restored = d.status?.databaseName ? undefined : annotatedOrigin(d);
        const origin = matchesPendingCreate(d.status?.pendingCreate, name, db.created_at) ? 'Created' : (restored ?? 'Adopted');
        await ctx.saveStatus({ projectId, branchId, databaseName: name, origin, pendingCreate: undefined });
        announceFound(ctx, origin, `database ${name} on Neon branch ${branchId}`, d.spec);
      }
      if (db.owner_name !== owner) {
        const answer = await client.updateDatabase(projectId, branchId, name, { owner_name: owner }, o);
        db = answer.database;
        ctx.event('Normal', 'Updated', 'Update', `changed the owner of database ${name} to ${owner}`);
      }
      return {
        status: { projectId, branchId, databaseName: db.name, ownerName: db.owner_name },
        ready: { ok: true, reason: 'Ready', message: `database ${db.name} exists, owned by ${db.owner_name}` },
      };
    },

    async finalize(d: NeonDatabase, ctx: SyncContext): Promise<FinalizeOutcome> {
      const { projectId, branchId, databaseName } = d.status ?? {};
      if (keepsResource(d, ctx, `database ${databaseName ?? ''}`)) return { done: true };
      if (!projectId || !branchId || !databaseName) return { done: true };
      const namespace = d.metadata.namespace ?? '';
      const client = await clientForCleanup(deps, namespace, specKeyRef(deps, namespace, d.spec), d.status, projectId, ctx.signal);
      try {
        const answer = await client.deleteDatabase(projectId, branchId, databaseName, { signal: ctx.signal });
        if (answer) ctx.event('Normal', 'Deleted', 'Delete', `deleted database ${databaseName} from Neon branch ${branchId}`);
      } catch (err) {
        if (!isNeonNotFound(err)) throw err;
      }
      return { done: true };
    },
  };
}
