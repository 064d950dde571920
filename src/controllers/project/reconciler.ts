import { connectionSecretName, neonProjectName, parseNeonProject, type NeonProject, type Origin, type PendingCreate } from '../../api/index.ts';
import type { CreatedProjectResponse, NeonClient, Project } from '../../neon/index.ts';
import { toKubeTime } from '../../runtime/index.ts';
import { assertSecretOwned, deleteOldSecret, readSecret, readSecretMetadata, secretValue, writeConnectionSecret, poolerHostOf } from '../shared/connection-secret.ts';
import type { ControllerDeps } from '../shared/deps.ts';
import type { FinalizeOutcome, KindReconciler, SyncContext, SyncOutcome } from '../shared/frame.ts';
import { resourceTypes } from '../shared/kinds.ts';
import { isNeonNotFound } from '../shared/neon-failures.ts';
import { clientForCleanup, clientForProject, projectKeyRef } from '../shared/references.ts';
import { validPassword } from '../shared/role-password.ts';
import { adoptedNote, keepsResource, matchesPendingCreate } from '../shared/ownership.ts';
import { annotatedId, identityNotFound, PROJECT_ID_ANNOTATION, projectIdentity } from '../shared/identity.ts';
import { assertProjectReachable, projectCreateMarks, restoredProjectOrigin } from '../shared/tenancy.ts';
import { projectCreateInput, projectUpdate } from './drift.ts';

/**
 * After a crash between the create call and the status write, the project is found again by the name
 * recorded in `status.pendingCreate` and a creation time after the recorded start. Neon projects carry no
 * annotations, so this is the only ownership mark available; it is written before the create call.
 */
export async function findPendingProject(client: NeonClient, pending: PendingCreate, signal?: AbortSignal): Promise<Project | undefined> {
  const candidates = (await client.listAllProjects({ search: pending.name }, signal ? { signal } : undefined))
    .filter((p) => matchesPendingCreate(pending, p.name, p.created_at))
    .sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
  const first = candidates[0];
  return first ? client.getProject(first.id, signal ? { signal } : undefined) : undefined;
}

interface Defaults {
  branchId: string | undefined;
  endpoint: { id: string; host: string } | undefined;
  roleName: string | undefined;
  databaseName: string | undefined;
  /** Only right after the create call. */
  password: string | undefined;
  /** The default role's updated_at in Neon, when known (the Secret's password check). */
  roleUpdatedAt?: string | undefined;
}

function defaultsFromCreate(created: CreatedProjectResponse): Defaults {
  const role = created.roles.find((r) => !r.protected && r.password !== undefined) ?? created.roles[0];
  const database = created.databases.find((d) => d.owner_name === role?.name) ?? created.databases[0];
  const endpoint = created.endpoints.find((e) => e.type === 'read_write');
  return {
    branchId: created.branch.id,
    endpoint: endpoint ? { id: endpoint.id, host: endpoint.host } : undefined,
    roleName: role?.name,
    databaseName: database?.name,
    password: role?.password,
    roleUpdatedAt: role?.updated_at,
  };
}

async function observeDefaults(client: NeonClient, p: NeonProject, projectId: string, signal: AbortSignal): Promise<Defaults> {
  const o = { signal };
  const { branches } = await client.listAllBranches(projectId, {}, o);
  const branch = branches.find((b) => b.default);
  const endpoint = branch ? (await client.listEndpoints(projectId, o)).find((e) => e.branch_id === branch.id && e.type === 'read_write') : undefined;
  let roleName = p.spec.defaultRole?.name ?? p.status?.defaultRoleName;
  let databaseName = p.spec.defaultDatabase?.name ?? p.status?.defaultDatabaseName;
  if (branch && (!roleName || !databaseName)) {
    // An adopted project: its default role and database are the first pair Neon lists.
    const databases = await client.listDatabases(projectId, branch.id, o);
    const roles = (await client.listRoles(projectId, branch.id, o)).filter((r) => !r.protected);
    const database = databaseName ? databases.find((d) => d.name === databaseName) : (databases.find((d) => roles.some((r) => r.name === d.owner_name)) ?? databases[0]);
    databaseName ??= database?.name;
    roleName ??= database?.owner_name ?? roles[0]?.name;
  }
  return { branchId: branch?.id, endpoint: endpoint ? { id: endpoint.id, host: endpoint.host } : undefined, roleName, databaseName, password: undefined };
}

/** NeonProject: create (crash-safe) or adopt by ID, repair settings drift, write the default role's Secret. */
export function projectReconciler(deps: ControllerDeps): KindReconciler<NeonProject> {
  return {
    type: resourceTypes.project,
    parse: parseNeonProject,
    identity: projectIdentity,

    async sync(p: NeonProject, ctx: SyncContext): Promise<SyncOutcome> {
      const { signal } = ctx;
      const o = { signal };
      const account = projectKeyRef(p);
      // Adopting by ID is the one way a NeonProject names a project it did not create: the tenancy rule decides.
      if (p.spec.projectId) assertProjectReachable(deps, p.metadata.namespace ?? '', p.spec.projectId, account);
      const client = await deps.accounts.clientFor(account, signal);
      const name = neonProjectName(p);
      let origin: Origin = p.spec.projectId ? 'Adopted' : (p.status?.origin ?? 'Created');
      const knownId = p.spec.projectId ?? p.status?.projectId;
      // Restored without status: the annotation names the project; it is adopted, never created a second time.
      const restoredId = knownId ? undefined : annotatedId(p, PROJECT_ID_ANNOTATION);
      let project: Project | undefined;
      let created: CreatedProjectResponse | undefined;

      if (restoredId) {
        try {
          origin = await restoredProjectOrigin(deps, p.metadata.namespace ?? '', restoredId, account, client, signal);
          project = await client.getProject(restoredId, o);
        } catch (err) {
          if (isNeonNotFound(err)) throw identityNotFound('Neon project', restoredId, PROJECT_ID_ANNOTATION, 'the account of this object');
          throw err;
        }
        ctx.useAccount(account);
        await ctx.saveStatus({ projectId: project.id, origin });
        ctx.event('Normal', 'Adopted', 'Restore', `found Neon project ${project.id} named by the annotation ${PROJECT_ID_ANNOTATION} (origin ${origin})`);
      } else if (knownId) {
        try {
          project = await client.getProject(knownId, o);
          // Recorded only once this key has reached the project: a key that cannot see it must not
          // replace the account cleanup will use.
          ctx.useAccount(account);
          if (p.spec.projectId && p.status?.projectId !== p.spec.projectId) {
            await ctx.saveStatus({ projectId: project.id, origin });
            ctx.event('Normal', 'Adopted', 'Adopt', `adopted Neon project ${project.id}; ${adoptedNote(p.spec)}`);
          }
        } catch (err) {
          if (!isNeonNotFound(err)) throw err;
          if (p.spec.projectId) {
            const message = `Neon project ${knownId} does not exist or this API key cannot see it`;
            ctx.event('Warning', 'ProjectNotFound', 'Adopt', message);
            return { ready: { ok: false, reason: 'ProjectNotFound', message }, synced: false, requeueAfterMs: deps.waitingRequeueMs };
          }
          // Never recreated: a new project would have new IDs, hosts and passwords and none of the data.
          const message =
            `Neon project ${knownId} was deleted outside the operator. It is not recreated automatically; ` +
            'delete and re-apply this NeonProject to create a new one.';
          ctx.event('Warning', 'DeletedOutside', 'Reconcile', message);
          return { ready: { ok: false, reason: 'ProjectDeletedOutside', message }, synced: false, requeueAfterMs: deps.waitingRequeueMs };
        }
      } else {
        ctx.useAccount(account); // where the project is (being) created
        origin = 'Created';
        const pending = p.status?.pendingCreate;
        if (pending) project = await findPendingProject(client, pending, signal);
        if (project) {
          ctx.log.info({ projectId: project.id }, 'adopted the project an interrupted create had made');
          ctx.event('Normal', 'Adopted', 'Create', `found Neon project ${project.id} from an interrupted create and adopted it`);
          await ctx.saveStatus({ projectId: project.id, origin, pendingCreate: undefined });
        } else {
          const secretName = connectionSecretName(p);
          assertSecretOwned(await readSecretMetadata(deps, p.metadata.namespace ?? '', secretName, signal), { name: secretName, owner: { type: resourceTypes.project, object: ctx.raw } });
          await ctx.recordPendingCreate({ startedAt: toKubeTime(deps.clock.now()), name });
          created = await client.createProject(projectCreateInput(p.spec, name, projectCreateMarks(p.metadata.namespace ?? '')), o);
          project = created.project;
          await ctx.saveStatus({ projectId: project.id, origin });
        }
      }

      const defaults = created ? defaultsFromCreate(created) : await observeDefaults(client, p, project.id, signal);
      const secretName = connectionSecretName(p);
      const namespace = p.metadata.namespace ?? '';
      if (created) {
        // The password exists only in this answer: it goes into the Secret before anything else can fail.
        if (defaults.endpoint && defaults.roleName && defaults.databaseName && defaults.password) {
          await writeConnectionSecret(
            deps,
            { namespace, name: secretName, owner: { type: resourceTypes.project, object: ctx.raw } },
            {
              host: defaults.endpoint.host,
              poolerHost: poolerHostOf(defaults.endpoint.host),
              dbname: defaults.databaseName,
              username: defaults.roleName,
              password: defaults.password,
              roleUpdatedAt: defaults.roleUpdatedAt,
            },
            signal,
          );
        }
        await ctx.saveStatus({ pendingCreate: undefined, defaultBranchId: defaults.branchId, defaultRoleName: defaults.roleName, defaultDatabaseName: defaults.databaseName });
        ctx.event('Normal', 'Created', 'Create', `created Neon project ${project.id}`);
        await client.waitForOperations(project.id, created.operations, o);
      } else {
        // An adopted project keeps its name unless the spec sets one: only fields the spec sets are managed.
        const update = projectUpdate(p.spec, origin === 'Adopted' ? p.spec.name : name, project);
        if (update) {
          await client.updateProject(project.id, update, o);
          ctx.event('Normal', 'Updated', 'Update', `updated Neon project ${project.id}: ${Object.keys(update).join(', ')}`);
        }
      }

      const status = {
        projectId: project.id,
        origin,
        regionId: project.region_id,
        pgVersion: project.pg_version,
        orgId: project.org_id,
        defaultBranchId: defaults.branchId,
        defaultEndpointId: defaults.endpoint?.id,
        host: defaults.endpoint?.host,
        poolerHost: defaults.endpoint ? poolerHostOf(defaults.endpoint.host) : undefined,
        defaultRoleName: defaults.roleName,
        defaultDatabaseName: defaults.databaseName,
        secretName,
        pendingCreate: undefined,
      };
      if (!defaults.branchId || !defaults.endpoint || !defaults.roleName || !defaults.databaseName) {
        return {
          status,
          ready: { ok: false, reason: 'DefaultsMissing', message: 'the project has no default branch with a read-write compute, role and database to write the Secret for' },
          requeueAfterMs: deps.waitingRequeueMs,
        };
      }
      if (!created) {
        const current = await readSecret(deps, namespace, secretName, signal);
        const roleName = defaults.roleName;
        let roleUpdatedAt = (await client.listRoles(project.id, defaults.branchId, o)).find((r) => r.name === roleName)?.updated_at;
        const answer = await validPassword(
          client,
          { projectId: project.id, branchId: defaults.branchId, roleName },
          secretValue(current, 'password'),
          signal,
          { secret: current, roleUpdatedAt },
        );
        const { password, source } = answer;
        if (answer.roleUpdatedAt) roleUpdatedAt = answer.roleUpdatedAt;
        const changed = await writeConnectionSecret(
          deps,
          { namespace, name: secretName, owner: { type: resourceTypes.project, object: ctx.raw }, current },
          { host: defaults.endpoint.host, poolerHost: poolerHostOf(defaults.endpoint.host), dbname: defaults.databaseName, username: roleName, password, roleUpdatedAt },
          signal,
        );
        if (changed) ctx.event('Normal', 'SecretUpdated', 'Reconcile', `wrote Secret ${secretName}${source === 'reset' ? ' with a new password (the old one could not be recovered)' : ''}`);
      }
      if (await deleteOldSecret(deps, namespace, p.status?.secretName, secretName, ctx.raw, signal)) {
        ctx.event('Normal', 'SecretRenamed', 'Reconcile', `moved the connection Secret from ${p.status?.secretName ?? ''} to ${secretName}`);
      }
      return { status, ready: { ok: true, reason: 'Ready', message: `Neon project ${project.id} is ready; connection Secret ${secretName}` } };
    },

    async finalize(p: NeonProject, ctx: SyncContext): Promise<FinalizeOutcome> {
      if (keepsResource(p, ctx, `Neon project ${p.status?.projectId ?? p.spec.projectId ?? ''}`, p.spec.projectId !== undefined || p.status?.origin === 'Adopted')) {
        return { done: true };
      }
      let projectId = p.status?.projectId ?? p.spec.projectId;
      if (!projectId && p.status?.pendingCreate) {
        // A create may have landed without being recorded: do not leak it.
        projectId = (await findPendingProject(await clientForProject(deps, p, ctx.signal), p.status.pendingCreate, ctx.signal))?.id;
      }
      if (!projectId) return { done: true };
      const client = await clientForCleanup(deps, p.metadata.namespace ?? '', projectKeyRef(p), p.status, projectId, ctx.signal);
      try {
        await client.deleteProject(projectId, { signal: ctx.signal });
        ctx.event('Normal', 'Deleted', 'Delete', `deleted Neon project ${projectId}`);
      } catch (err) {
        if (!isNeonNotFound(err)) throw err;
      }
      return { done: true };
    },
  };
}
