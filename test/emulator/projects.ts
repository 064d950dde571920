import {
  ApiError,
  bodyObject,
  field,
  optBoolean,
  optNumber,
  optString,
  optStringMap,
  queryInt,
  requireProject,
  type Router,
} from './router.ts';
import { requireAutoscalingLimits, requireDatabaseName, requireHistoryRetention, requireRegion, requireRoleName } from './refusals.ts';
import {
  branchView,
  connectionDetails,
  databaseView,
  endpointView,
  operationView,
  projectListItemView,
  projectView,
  roleView,
} from './views.ts';

/** Projects: create, list (cursor, limit 1–400), list shared, get, update, delete. */
export function registerProjectRoutes(router: Router): void {
  router.add('POST', '/projects', (ctx) => {
    const body = bodyObject(ctx);
    const p = field(body, 'project', true);
    const branch = field(p, 'branch');
    const name = optString(p, 'name');
    if (name !== undefined && (name.length < 1 || name.length > 256)) throw new ApiError(400, 'project name must be 1 to 256 characters');
    const pgVersion = optNumber(p, 'pg_version');
    if (pgVersion !== undefined && (!Number.isInteger(pgVersion) || pgVersion < 14 || pgVersion > 18)) {
      throw new ApiError(400, 'unsupported pg_version');
    }
    const regionId = optString(p, 'region_id');
    if (regionId !== undefined) requireRegion(regionId, ctx.state.regionId);
    const historyRetentionSeconds = optNumber(p, 'history_retention_seconds');
    requireHistoryRetention(historyRetentionSeconds, ctx.state.plan);
    const storePasswords = optBoolean(p, 'store_passwords');
    const branchName = optString(branch, 'name');
    const roleName = optString(branch, 'role_name');
    const databaseName = optString(branch, 'database_name');
    if (roleName !== undefined) requireRoleName(roleName);
    if (databaseName !== undefined) requireDatabaseName(databaseName);
    const annotations = optStringMap(branch, 'annotations');
    const settings = field(p, 'settings');
    const defaultEndpointSettings = field(p, 'default_endpoint_settings');
    requireDefaultCu(defaultEndpointSettings);
    const { state } = ctx;
    const created = state.createProject(ctx.account, {
      ...(name !== undefined ? { name } : {}),
      ...(regionId !== undefined ? { regionId } : {}),
      ...(pgVersion !== undefined ? { pgVersion } : {}),
      ...(storePasswords !== undefined ? { storePasswords } : {}),
      ...(historyRetentionSeconds !== undefined ? { historyRetentionSeconds } : {}),
      ...(branchName !== undefined ? { branchName } : {}),
      ...(roleName !== undefined ? { roleName } : {}),
      ...(databaseName !== undefined ? { databaseName } : {}),
      ...(annotations !== undefined ? { annotations } : {}),
      settings,
      defaultEndpointSettings,
    });
    const { project, branch: b, endpoint } = created;
    const roles = [...b.roles.values()];
    const databases = [...b.databases.values()];
    const connection_uris = roles.flatMap((r) =>
      databases.filter((d) => d.ownerName === r.name).map((d) => connectionDetails(state, endpoint, r, d.name)),
    );
    return {
      status: 201,
      body: {
        project: projectView(state, project),
        connection_uris,
        roles: roles.map((r) => roleView(b.id, r, true)),
        databases: databases.map((d) => databaseView(b.id, d)),
        operations: created.operations.map((op) => operationView(state, op)),
        branch: branchView(state, project, b),
        endpoints: [endpointView(state, project, endpoint)],
      },
    };
  });

  router.add('GET', '/projects', (ctx) => {
    const limit = queryInt(ctx, 'limit', 1, 400) ?? 10;
    const cursor = ctx.query.get('cursor');
    const search = ctx.query.get('search');
    let projects = ctx.state.projectsOf(ctx.account);
    if (search) projects = projects.filter((p) => p.name.includes(search) || p.id.includes(search));
    let start = 0;
    if (cursor) {
      const i = projects.findIndex((p) => p.id === cursor);
      start = i >= 0 ? i + 1 : projects.length;
    }
    const page = projects.slice(start, start + limit);
    const last = page.at(-1);
    return {
      status: 200,
      body: {
        projects: page.map((p) => projectListItemView(ctx.state, p)),
        ...(last ? { pagination: { cursor: last.id } } : {}),
        applications: {},
        integrations: {},
      },
    };
  });

  // Projects shared with the caller by other accounts; the emulator has no sharing. Registered before
  // `/projects/{project_id}` so that `shared` is not taken for a project id. The CLI's `projects list` calls it.
  router.add('GET', '/projects/shared', (ctx) => {
    queryInt(ctx, 'limit', 1, 400);
    return { status: 200, body: { projects: [] } };
  });

  router.add('GET', '/projects/{project_id}', (ctx) => {
    const p = requireProject(ctx);
    return { status: 200, body: { project: projectView(ctx.state, p) } };
  });

  router.add('PATCH', '/projects/{project_id}', (ctx) => {
    const p = requireProject(ctx);
    const body = bodyObject(ctx);
    const upd = field(body, 'project', true);
    const name = optString(upd, 'name');
    if (name !== undefined && (name.length < 1 || name.length > 256)) throw new ApiError(400, 'project name must be 1 to 256 characters');
    const history = optNumber(upd, 'history_retention_seconds');
    requireHistoryRetention(history, ctx.state.plan);
    if (name !== undefined) p.name = name;
    if (history !== undefined) p.historyRetentionSeconds = history;
    if (upd['settings'] !== undefined) p.settings = { ...p.settings, ...field(upd, 'settings') };
    if (upd['default_endpoint_settings'] !== undefined) {
      requireDefaultCu(field(upd, 'default_endpoint_settings'), p.defaultEndpointSettings);
      p.defaultEndpointSettings = { ...p.defaultEndpointSettings, ...field(upd, 'default_endpoint_settings') };
    }
    p.updatedAt = ctx.state.now();
    return { status: 200, body: { project: projectView(ctx.state, p), operations: [] } };
  });

  router.add('DELETE', '/projects/{project_id}', (ctx) => {
    const p = requireProject(ctx);
    ctx.state.projects.delete(p.id);
    return { status: 200, body: { project: projectView(ctx.state, p) } };
  });
}

/** Compute sizes in `default_endpoint_settings`, checked as an endpoint's would be. */
function requireDefaultCu(settings: Record<string, unknown>, current?: Record<string, unknown>): void {
  const cu = (s: Record<string, unknown> | undefined, key: string) => (s ? optNumber(s, key) : undefined);
  const min = cu(current, 'autoscaling_limit_min_cu');
  const max = cu(current, 'autoscaling_limit_max_cu');
  requireAutoscalingLimits(
    'default_endpoint_settings.',
    cu(settings, 'autoscaling_limit_min_cu'),
    cu(settings, 'autoscaling_limit_max_cu'),
    min !== undefined && max !== undefined ? { min, max } : undefined,
  );
}
