import { connectionSecretName, parseNeonDatabase, parseNeonRole, postgresRoleName, ROTATE_PASSWORD_ANNOTATION, type NeonRole } from '../../api/index.ts';
import { toKubeTime, type SecretObject } from '../../runtime/index.ts';
import { assertSecretOwned, deleteOldSecret, poolerHostOf, readSecret, readSecretMetadata, secretValue, writeConnectionSecret, type ConnectionInfo } from '../shared/connection-secret.ts';
import type { ControllerDeps } from '../shared/deps.ts';
import { adoptedAfterConflict, type FinalizeOutcome, type KindReconciler, type SyncContext, type SyncOutcome } from '../shared/frame.ts';
import { ConflictError } from '../../neon/index.ts';
import { resourceTypes } from '../shared/kinds.ts';
import { assertUnclaimed, roleClaims } from '../shared/claims.ts';
import { isNeonNotFound } from '../shared/neon-failures.ts';
import { clientForCleanup, specKeyRef, resolveBranchTarget } from '../shared/references.ts';
import { resetPasswordAnswer, validPassword } from '../shared/role-password.ts';
import { secretDatabase, secretEndpoint } from './targets.ts';
import { announceFound, keepsResource, matchesPendingCreate } from '../shared/ownership.ts';
import { annotatedOrigin, nameIdentity } from '../shared/identity.ts';

/** How often a role being deleted looks again whether the databases it owns are gone. */
const OWNED_DATABASES_RECHECK_MS = 2_000;

/**
 * NeonRole: adopt by name or create, and keep its connection Secret right. A password is written to the
 * Secret as soon as Neon returns it (create, reset) before any other call; otherwise the Secret's password
 * is checked against Neon (reveal_password) and repaired, or reset when Neon does not store passwords and
 * the Secret has none. The rotate-password annotation resets it; the handled value goes to status only
 * after the Secret holds the new password, so an interrupted rotation is simply done again.
 */
export function roleReconciler(deps: ControllerDeps): KindReconciler<NeonRole> {
  return {
    type: resourceTypes.role,
    parse: parseNeonRole,
    identity: nameIdentity,

    async sync(r: NeonRole, ctx: SyncContext): Promise<SyncOutcome> {
      const { signal } = ctx;
      const o = { signal };
      const namespace = r.metadata.namespace ?? '';
      const target = await resolveBranchTarget(deps, namespace, r.spec, signal);
      const { client, projectId, branchId } = target;
      ctx.useAccount(target.keyRef);
      assertUnclaimed(deps, roleClaims, r, target);
      const roleName = postgresRoleName(r);
      const secretName = connectionSecretName(r);
      const database = await secretDatabase(deps, r, target, signal);
      const endpoint = await secretEndpoint(deps, r, target, signal);
      const at = { projectId, branchId, roleName };
      const info = (password: string, roleUpdatedAt: string | undefined): ConnectionInfo => ({
        host: endpoint.host,
        poolerHost: poolerHostOf(endpoint.host),
        dbname: database.name,
        username: roleName,
        password,
        roleUpdatedAt,
      });
      // The owner is read at call time: ctx.raw changes with every status write (its resourceVersion).
      const writeSecret = (password: string, roleUpdatedAt: string | undefined, current?: SecretObject) =>
        writeConnectionSecret(deps, { namespace, name: secretName, owner: { type: resourceTypes.role, object: ctx.raw }, current }, info(password, roleUpdatedAt), signal);

      assertSecretOwned(await readSecretMetadata(deps, namespace, secretName, signal), { name: secretName, owner: { type: resourceTypes.role, object: ctx.raw } });
      const roles = await client.listRoles(projectId, branchId, o);
      const existing = roles.find((x) => x.name === roleName);
      const exists = existing !== undefined;
      let fresh: string | undefined;
      // The role's updated_at in Neon as of the last password this pass knows to be current.
      let roleUpdatedAt = existing?.updated_at;
      const rotateRequest = r.metadata.annotations?.[ROTATE_PASSWORD_ANNOTATION];
      let rotation = r.status?.passwordRotation;
      // The branch was reset from its parent since the last pass: roles, passwords and data are the parent's now.
      const afterReset = target.reset !== undefined && target.reset !== r.status?.branchReset;

      if (!exists) {
        if (afterReset) {
          ctx.event('Normal', 'RecreatedAfterReset', 'Reconcile', `the branch was reset from its parent, which has no role ${roleName}; creating it again with a new password`);
        } else if (r.status?.roleName === roleName && r.status.branchId === branchId) {
          ctx.event('Warning', 'DeletedOutside', 'Reconcile', `role ${roleName} was deleted outside the operator; creating it again with a new password`);
        }
        let created;
        // Recorded before the call: a role found after a crash with this name and a later creation time is ours.
        await ctx.recordPendingCreate({ startedAt: toKubeTime(deps.clock.now()), name: roleName });
        try {
          created = await client.createRole(projectId, branchId, { name: roleName }, o);
        } catch (err) {
          if (err instanceof ConflictError) return adoptedAfterConflict(ctx, `role ${roleName} appeared on the branch meanwhile; adopting it`);
          throw err;
        }
        fresh = created.role.password;
        roleUpdatedAt = created.role.updated_at;
        // The only copy of the password: into the Secret before anything else can fail.
        if (fresh) await writeSecret(fresh, roleUpdatedAt);
        await ctx.saveStatus({ projectId, branchId, roleName, origin: 'Created', pendingCreate: undefined });
        ctx.event('Normal', 'Created', 'Create', `created role ${roleName} on Neon branch ${branchId}; wrote Secret ${secretName}`);
        // A brand-new password also answers a rotation request made before the role existed.
        if (rotateRequest && rotateRequest !== rotation?.request && fresh) rotation = { request: rotateRequest, completedAt: toKubeTime(deps.clock.now()) };
      } else if (r.status?.roleName !== roleName || r.status.branchId !== branchId) {
        // Restored without status, the origin it had is in its annotation; otherwise it existed before.
        const restored = r.status?.roleName ? undefined : annotatedOrigin(r);
        const origin = matchesPendingCreate(r.status?.pendingCreate, roleName, existing.created_at) ? 'Created' : (restored ?? 'Adopted');
        await ctx.saveStatus({ projectId, branchId, roleName, origin, pendingCreate: undefined });
        announceFound(ctx, origin, `role ${roleName} on Neon branch ${branchId}`, r.spec);
      }

      if (rotateRequest && rotateRequest !== rotation?.request) {
        ({ password: fresh, roleUpdatedAt } = await resetPasswordAnswer(client, at, signal));
        await writeSecret(fresh, roleUpdatedAt);
        rotation = { request: rotateRequest, completedAt: toKubeTime(deps.clock.now()) };
        ctx.event('Normal', 'PasswordRotated', 'Rotate', `reset the password of role ${roleName} and updated Secret ${secretName}`);
      }

      const current = await readSecret(deps, namespace, secretName, signal);
      let password = fresh;
      if (password === undefined) {
        // After a reset the Secret's password is the one from before it: never trusted, even when Neon does not
        // store passwords (then the password is reset).
        const answer = await validPassword(client, at, afterReset ? undefined : secretValue(current, 'password'), signal, { secret: current, roleUpdatedAt });
        password = answer.password;
        if (answer.roleUpdatedAt) roleUpdatedAt = answer.roleUpdatedAt;
        if (afterReset) {
          // A changed password is expected here: the Secret follows it (SecretUpdated below), no warning.
        } else if (answer.source === 'reset') ctx.event('Warning', 'PasswordReset', 'Reconcile', `the password of role ${roleName} could not be recovered; it was reset`);
        else if (answer.source === 'revealed' && secretValue(current, 'password') !== undefined) {
          ctx.event('Warning', 'PasswordRepaired', 'Reconcile', `Secret ${secretName} had a stale password; it was replaced with the current one`);
        }
      }
      const changed = await writeSecret(password, roleUpdatedAt, current);
      if (changed && !fresh) ctx.event('Normal', 'SecretUpdated', 'Reconcile', `updated Secret ${secretName}${afterReset ? ' after the branch was reset from its parent' : ''}`);
      if (await deleteOldSecret(deps, namespace, r.status?.secretName, secretName, ctx.raw, signal)) {
        ctx.event('Normal', 'SecretRenamed', 'Reconcile', `moved the connection Secret from ${r.status?.secretName ?? ''} to ${secretName}`);
      }

      const status = {
        projectId,
        branchId,
        roleName,
        endpointId: endpoint.id,
        databaseName: database.name,
        secretName,
        passwordRotation: rotation,
        branchReset: target.reset,
      };
      if (!database.ready) {
        return {
          status,
          ready: { ok: false, reason: 'DatabaseNotReady', message: `Secret ${secretName} is written; waiting for ${database.waitingFor ?? 'the database'} to exist and be Ready` },
          requeueAfterMs: deps.waitingRequeueMs,
        };
      }
      return { status, ready: { ok: true, reason: 'Ready', message: `role ${roleName} exists; Secret ${secretName} is up to date` } };
    },

    async finalize(r: NeonRole, ctx: SyncContext): Promise<FinalizeOutcome> {
      const { projectId, branchId, roleName } = r.status ?? {};
      if (keepsResource(r, ctx, `role ${roleName ?? ''}`)) return { done: true };
      if (!projectId || !branchId || !roleName) return { done: true };
      const namespace = r.metadata.namespace ?? '';
      // Neon will not drop a role that still owns databases: let the NeonDatabases it owns go first.
      const owned = deps.informers
        .informer(resourceTypes.database)
        .list(namespace)
        .flatMap((raw) => {
          try {
            const db = parseNeonDatabase(raw);
            return db.spec.ownerRef?.name === r.metadata.name ? [db.metadata.name] : [];
          } catch {
            return [];
          }
        });
      if (owned.length > 0) {
        return { done: false, reason: 'RoleOwnsDatabases', message: `waiting for NeonDatabases owned by this role to be deleted: ${owned.join(', ')}`, requeueAfterMs: OWNED_DATABASES_RECHECK_MS };
      }
      const client = await clientForCleanup(deps, namespace, specKeyRef(deps, namespace, r.spec), r.status, projectId, ctx.signal);
      try {
        const answer = await client.deleteRole(projectId, branchId, roleName, { signal: ctx.signal });
        if (answer) ctx.event('Normal', 'Deleted', 'Delete', `deleted role ${roleName} from Neon branch ${branchId}`);
      } catch (err) {
        if (!isNeonNotFound(err)) throw err; // role, branch or project already gone
      }
      return { done: true };
    },
  };
}
