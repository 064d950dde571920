import {
  ApiError,
  bodyObject,
  field,
  optString,
  requireBranch,
  requireNoConflict,
  requireProject,
  type Router,
} from './router.ts';
import { requireDatabaseName } from './refusals.ts';
import { databaseView, operationView } from './views.ts';

/** Databases: create, list, get, update (rename, owner), delete. */
export function registerDatabaseRoutes(router: Router): void {
  router.add('GET', '/projects/{project_id}/branches/{branch_id}/databases', (ctx) => {
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    return { status: 200, body: { databases: [...branch.databases.values()].map((d) => databaseView(branch.id, d)) } };
  });

  router.add('POST', '/projects/{project_id}/branches/{branch_id}/databases', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    const input = field(bodyObject(ctx), 'database', true);
    const name = optString(input, 'name');
    const owner = optString(input, 'owner_name');
    if (name === undefined) throw new ApiError(400, 'database.name is required');
    requireDatabaseName(name);
    if (owner === undefined) throw new ApiError(400, 'database.owner_name is required');
    if (!branch.roles.has(owner)) throw new ApiError(404, `role "${owner}" not found`);
    if (branch.databases.has(name)) throw new ApiError(409, 'database already exists');
    requireNoConflict(ctx, project);
    const db = state.newDatabase(name, owner);
    branch.databases.set(name, db);
    const op = state.applyConfig(project, branch);
    return { status: 201, body: { database: databaseView(branch.id, db), operations: [operationView(state, op)] } };
  });

  router.add('GET', '/projects/{project_id}/branches/{branch_id}/databases/{database_name}', (ctx) => {
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    const db = branch.databases.get(ctx.params['database_name'] ?? '');
    if (!db) throw new ApiError(404, 'database not found');
    return { status: 200, body: { database: databaseView(branch.id, db) } };
  });

  router.add('PATCH', '/projects/{project_id}/branches/{branch_id}/databases/{database_name}', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    const db = branch.databases.get(ctx.params['database_name'] ?? '');
    if (!db) throw new ApiError(404, 'database not found');
    const upd = field(bodyObject(ctx), 'database', true);
    const name = optString(upd, 'name');
    const owner = optString(upd, 'owner_name');
    if (name !== undefined && name !== db.name) requireDatabaseName(name);
    if (name !== undefined && name !== db.name && branch.databases.has(name)) throw new ApiError(409, 'database already exists');
    if (owner !== undefined && !branch.roles.has(owner)) throw new ApiError(404, `role "${owner}" not found`);
    requireNoConflict(ctx, project);
    if (name !== undefined && name !== db.name) {
      branch.databases.delete(db.name);
      db.name = name;
      branch.databases.set(name, db);
    }
    if (owner !== undefined) db.ownerName = owner;
    db.updatedAt = state.now();
    const op = state.applyConfig(project, branch);
    return { status: 200, body: { database: databaseView(branch.id, db), operations: [operationView(state, op)] } };
  });

  router.add('DELETE', '/projects/{project_id}/branches/{branch_id}/databases/{database_name}', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    const db = branch.databases.get(ctx.params['database_name'] ?? '');
    if (!db) return { status: 204 };
    requireNoConflict(ctx, project);
    branch.databases.delete(db.name);
    const op = state.applyConfig(project, branch);
    return { status: 200, body: { database: databaseView(branch.id, db), operations: [operationView(state, op)] } };
  });
}
