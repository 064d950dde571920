import { ApiError, queryInt, requireBranch, requireProject, type Router } from './router.ts';
import { operationView } from './views.ts';

/** Operations (get, list newest first with cursor) and the project's connection_uri. */
export function registerOperationRoutes(router: Router): void {
  router.add('GET', '/projects/{project_id}/operations', (ctx) => {
    const project = requireProject(ctx);
    // Default page size is not documented by Neon; 10 matches its other lists.
    const limit = queryInt(ctx, 'limit', 1, 1000) ?? 10;
    const cursor = ctx.query.get('cursor');
    const ops = [...project.operations].reverse();
    let start = 0;
    if (cursor) {
      const i = ops.findIndex((op) => op.id === cursor);
      start = i >= 0 ? i + 1 : ops.length;
    }
    const page = ops.slice(start, start + limit);
    const last = page.at(-1);
    return {
      status: 200,
      body: { operations: page.map((op) => operationView(ctx.state, op)), ...(last ? { pagination: { cursor: last.id } } : {}) },
    };
  });

  router.add('GET', '/projects/{project_id}/operations/{operation_id}', (ctx) => {
    const project = requireProject(ctx);
    const op = ctx.state.operation(project, ctx.params['operation_id'] ?? '');
    if (!op) throw new ApiError(404, 'operation not found');
    return { status: 200, body: { operation: operationView(ctx.state, op) } };
  });

  router.add('GET', '/projects/{project_id}/connection_uri', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const databaseName = ctx.query.get('database_name');
    const roleName = ctx.query.get('role_name');
    if (!databaseName) throw new ApiError(400, 'database_name is required');
    if (!roleName) throw new ApiError(400, 'role_name is required');
    const branchId = ctx.query.get('branch_id');
    const branch = branchId
      ? requireBranch(ctx, project, branchId)
      : [...project.branches.values()].find((b) => b.isDefault);
    if (!branch) throw new ApiError(404, 'branch not found');
    const endpointId = ctx.query.get('endpoint_id');
    const ep = endpointId ? project.endpoints.get(endpointId) : state.readWriteEndpoint(project, branch.id);
    if (!ep || ep.branchId !== branch.id) throw new ApiError(404, 'endpoint not found');
    const role = branch.roles.get(roleName);
    if (!role) throw new ApiError(404, 'role not found');
    if (!branch.databases.has(databaseName)) throw new ApiError(404, 'database not found');
    const pooled = ctx.query.get('pooled') === 'true';
    const host = state.host(ep, pooled);
    const uri = `postgresql://${encodeURIComponent(role.name)}:${encodeURIComponent(role.password)}@${host}/${encodeURIComponent(databaseName)}?sslmode=require`;
    return { status: 200, body: { uri } };
  });
}

/** What the CLI asks about the caller: `GET /auth`, `GET /users/me`, `GET /users/me/organizations`. */
export function registerAccountRoutes(router: Router): void {
  router.add('GET', '/auth', (ctx) => ({ status: 200, body: { account_id: ctx.account, auth_method: 'api_key_user' } }));

  router.add('GET', '/users/me', (ctx) => ({
    status: 200,
    body: {
      active_seconds_limit: 0,
      auth_accounts: [],
      email: `${ctx.account}@emulator.invalid`,
      id: ctx.account,
      image: '',
      login: ctx.account,
      name: 'Emulated',
      last_name: 'User',
      projects_limit: 0,
      branches_limit: 0,
      max_autoscaling_limit: 8,
      plan: 'free_v3',
    },
  }));

  router.add('GET', '/users/me/organizations', () => ({ status: 200, body: { organizations: [] } }));
}
