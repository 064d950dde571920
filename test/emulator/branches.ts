import {
  ApiError,
  bodyObject,
  field,
  optBoolean,
  optNumber,
  optString,
  optStringMap,
  queryInt,
  requireBranch,
  requireNoConflict,
  requireProject,
  type Router,
} from './router.ts';
import { requireAutoscalingLimits, requireExpiry, requireParentTimestamp } from './refusals.ts';
import type { BranchRecord, EndpointRecord, OperationRecord } from './state.ts';
import {
  annotationView,
  branchView,
  connectionDetails,
  databaseView,
  endpointView,
  operationView,
  roleView,
} from './views.ts';

const BRANCH_EXISTS = 'BRANCH_ALREADY_EXISTS';

/** Branches: create (with endpoints and annotation_value), list (annotations, cursor), get, update, delete. Restore: restore.ts. */
export function registerBranchRoutes(router: Router): void {
  router.add('POST', '/projects/{project_id}/branches', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const body = bodyObject(ctx, false);
    const input = field(body, 'branch');
    const annotations = optStringMap(body, 'annotation_value') ?? {};
    const endpointsRaw = body['endpoints'];
    if (endpointsRaw !== undefined && !Array.isArray(endpointsRaw)) throw new ApiError(400, 'endpoints must be an array');
    const endpointInputs = (endpointsRaw ?? []).map((e: unknown) => {
      if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new ApiError(400, 'endpoint must be an object');
      return e as Record<string, unknown>;
    });
    const name = optString(input, 'name');
    if (name !== undefined && (name.length < 1 || name.length > 256)) throw new ApiError(400, 'branch name must be 1 to 256 characters');
    const parentId = optString(input, 'parent_id');
    const isProtected = optBoolean(input, 'protected');
    const expiresAt = optString(input, 'expires_at');
    if (expiresAt !== undefined) {
      requireExpiry(expiresAt, state.now());
      if (isProtected === true) throw new ApiError(400, 'a protected branch cannot have an expiration time');
    }
    const parentTimestamp = optString(input, 'parent_timestamp');
    if (parentTimestamp !== undefined) requireParentTimestamp(parentTimestamp, state.now(), project.historyRetentionSeconds);
    endpointInputs.forEach((e, i) =>
      requireAutoscalingLimits(`endpoints[${i}].`, optNumber(e, 'autoscaling_limit_min_cu'), optNumber(e, 'autoscaling_limit_max_cu')),
    );
    const types = endpointInputs.map((e) => {
      const t = e['type'];
      if (t !== 'read_write' && t !== 'read_only') throw new ApiError(400, 'endpoint type must be read_write or read_only');
      return t;
    });
    if (types.filter((t) => t === 'read_write').length > 1) throw new ApiError(409, 'read-write endpoint already exists');

    const parent = parentId !== undefined ? requireBranch(ctx, project, parentId) : [...project.branches.values()].find((b) => b.isDefault);
    if (!parent) throw new ApiError(404, 'parent branch not found');
    if (name !== undefined && [...project.branches.values()].some((b) => b.name === name)) {
      throw new ApiError(409, `branch with name "${name}" already exists`, BRANCH_EXISTS);
    }
    requireNoConflict(ctx, project);

    const branch = state.newBranch(project, {
      parentId: parent.id,
      annotations,
      ...(name !== undefined ? { name } : {}),
      ...(isProtected !== undefined ? { protected: isProtected } : {}),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
    });
    // Roles and databases are copied from the parent, passwords included, as Neon does.
    for (const r of parent.roles.values()) branch.roles.set(r.name, { ...r, createdAt: branch.createdAt, updatedAt: branch.createdAt });
    for (const d of parent.databases.values()) {
      branch.databases.set(d.name, { ...d, id: state.ids.databaseId(), createdAt: branch.createdAt, updatedAt: branch.createdAt });
    }
    const ops: OperationRecord[] = [state.addOperation(project, 'create_branch', { branchId: branch.id })];
    branch.readyOperationId = ops[0]?.id;
    const endpoints: EndpointRecord[] = [];
    endpointInputs.forEach((e, i) => {
      const minCu = optNumber(e, 'autoscaling_limit_min_cu');
      const maxCu = optNumber(e, 'autoscaling_limit_max_cu');
      const suspend = optNumber(e, 'suspend_timeout_seconds');
      const provisioner = optString(e, 'provisioner');
      const ep = state.newEndpoint(project, branch, {
        type: types[i] ?? 'read_only',
        ...(minCu !== undefined ? { minCu } : {}),
        ...(maxCu !== undefined ? { maxCu } : {}),
        ...(suspend !== undefined ? { suspendTimeoutSeconds: suspend } : {}),
        ...(provisioner !== undefined ? { provisioner } : {}),
        settings: field(e, 'settings'),
      });
      endpoints.push(ep);
      ops.push(state.startCompute(project, ep));
    });
    const rw = endpoints.find((e) => e.type === 'read_write');
    const roles = [...branch.roles.values()];
    const databases = [...branch.databases.values()];
    const connection_uris =
      rw !== undefined
        ? roles.flatMap((r) => databases.filter((d) => d.ownerName === r.name).map((d) => connectionDetails(state, rw, r, d.name)))
        : [];
    return {
      status: 201,
      body: {
        branch: branchView(state, project, branch),
        endpoints: endpoints.map((e) => endpointView(state, project, e)),
        operations: ops.map((op) => operationView(state, op)),
        roles: roles.map((r) => roleView(branch.id, r, false)),
        databases: databases.map((d) => databaseView(branch.id, d)),
        ...(connection_uris.length > 0 ? { connection_uris } : {}),
      },
    };
  });

  router.add('GET', '/projects/{project_id}/branches', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const sortBy = ctx.query.get('sort_by') ?? 'updated_at';
    if (sortBy !== 'name' && sortBy !== 'created_at' && sortBy !== 'updated_at') throw new ApiError(400, 'invalid sort_by');
    const sortOrder = ctx.query.get('sort_order') ?? 'desc';
    if (sortOrder !== 'asc' && sortOrder !== 'desc') throw new ApiError(400, 'invalid sort_order');
    const limit = queryInt(ctx, 'limit', 1, 10000);
    const search = ctx.query.get('search');
    const cursor = ctx.query.get('cursor');
    const key = (b: BranchRecord): string | number =>
      sortBy === 'name' ? b.name : sortBy === 'created_at' ? b.createdAt : b.updatedAt;
    const dir = sortOrder === 'asc' ? 1 : -1;
    let branches = [...project.branches.values()];
    if (search) branches = branches.filter((b) => b.name.includes(search) || b.id.includes(search));
    // Ties broken by id so pages are stable whatever the sort key.
    branches.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      if (ka < kb) return -dir;
      if (ka > kb) return dir;
      return a.id < b.id ? -dir : a.id > b.id ? dir : 0;
    });
    let start = 0;
    if (cursor) {
      const i = branches.findIndex((b) => b.id === cursor);
      if (i < 0) throw new ApiError(400, 'invalid cursor');
      start = i + 1;
    }
    const page = limit !== undefined ? branches.slice(start, start + limit) : branches.slice(start);
    const more = start + page.length < branches.length;
    const last = page.at(-1);
    const annotations: Record<string, unknown> = {};
    for (const b of page) if (Object.keys(b.annotations).length > 0) annotations[b.id] = annotationView(b);
    return {
      status: 200,
      body: {
        branches: page.map((b) => branchView(state, project, b)),
        annotations,
        pagination: { ...(more && last ? { next: last.id } : {}), sort_by: sortBy, sort_order: sortOrder },
      },
    };
  });

  router.add('GET', '/projects/{project_id}/branches/{branch_id}', (ctx) => {
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    return { status: 200, body: { branch: branchView(ctx.state, project, branch), annotation: annotationView(branch) } };
  });

  router.add('PATCH', '/projects/{project_id}/branches/{branch_id}', (ctx) => {
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    const body = bodyObject(ctx);
    const upd = field(body, 'branch', true);
    const name = optString(upd, 'name');
    const isProtected = optBoolean(upd, 'protected');
    if (name !== undefined) {
      if (name.length < 1 || name.length > 256) throw new ApiError(400, 'branch name must be 1 to 256 characters');
      if ([...project.branches.values()].some((b) => b.name === name && b.id !== branch.id)) {
        throw new ApiError(409, `branch with name "${name}" already exists`, BRANCH_EXISTS);
      }
    }
    // The spec's BranchUpdateRequest has no `annotation_value` (only create does): it is not applied.
    if (typeof upd['expires_at'] === 'string') {
      requireExpiry(upd['expires_at'], ctx.state.now());
      if (branch.isDefault || (isProtected ?? branch.protected)) {
        throw new ApiError(400, 'the default branch and protected branches cannot have an expiration time');
      }
    }
    requireNoConflict(ctx, project);
    const now = ctx.state.now();
    if (name !== undefined) branch.name = name;
    if (isProtected !== undefined) branch.protected = isProtected;
    if (upd['expires_at'] === null) delete branch.expiresAt;
    else if (typeof upd['expires_at'] === 'string') branch.expiresAt = upd['expires_at'];
    branch.updatedAt = now;
    return { status: 200, body: { branch: branchView(ctx.state, project, branch), operations: [] } };
  });

  router.add('DELETE', '/projects/{project_id}/branches/{branch_id}', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const branch = project.branches.get(ctx.params['branch_id'] ?? '');
    if (!branch) return { status: 204 };
    if (branch.isDefault) throw new ApiError(400, 'cannot delete the default branch');
    if (project.branches.size <= 1) throw new ApiError(400, "cannot delete the project's last branch");
    if ([...project.branches.values()].some((b) => b.parentId === branch.id)) {
      throw new ApiError(400, 'cannot delete a branch that has child branches');
    }
    if (branch.protected) throw new ApiError(400, 'cannot delete a protected branch');
    requireNoConflict(ctx, project);
    const ops: OperationRecord[] = [];
    for (const ep of state.endpointsOfBranch(project, branch.id)) {
      ops.push(state.addOperation(project, 'suspend_compute', { branchId: branch.id, endpointId: ep.id }));
      project.endpoints.delete(ep.id);
    }
    ops.push(state.addOperation(project, 'delete_timeline', { branchId: branch.id }));
    const view = branchView(state, project, branch);
    project.branches.delete(branch.id);
    return { status: 200, body: { branch: view, operations: ops.map((op) => operationView(state, op)) } };
  });

  router.add('GET', '/projects/{project_id}/branches/{branch_id}/endpoints', (ctx) => {
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    return {
      status: 200,
      body: { endpoints: ctx.state.endpointsOfBranch(project, branch.id).map((e) => endpointView(ctx.state, project, e)) },
    };
  });
}
