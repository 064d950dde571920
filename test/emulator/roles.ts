import {
  ApiError,
  bodyObject,
  field,
  optString,
  requireBranch,
  requireNoConflict,
  requireProject,
  type RequestContext,
  type Router,
} from './router.ts';
import { requireRoleName } from './refusals.ts';
import type { BranchRecord, RoleRecord } from './state.ts';
import { operationView, roleView } from './views.ts';

function requireRole(ctx: RequestContext, branch: BranchRecord): RoleRecord {
  const r = branch.roles.get(ctx.params['role_name'] ?? '');
  if (!r) throw new ApiError(404, 'role not found');
  return r;
}

/** Roles: create, list, get, delete, reveal_password, reset_password. */
export function registerRoleRoutes(router: Router): void {
  router.add('GET', '/projects/{project_id}/branches/{branch_id}/roles', (ctx) => {
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    return { status: 200, body: { roles: [...branch.roles.values()].map((r) => roleView(branch.id, r, false)) } };
  });

  router.add('POST', '/projects/{project_id}/branches/{branch_id}/roles', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    const input = field(bodyObject(ctx), 'role', true);
    const name = optString(input, 'name');
    if (name === undefined) throw new ApiError(400, 'role.name is required');
    requireRoleName(name);
    if (branch.roles.has(name)) throw new ApiError(409, 'role already exists');
    requireNoConflict(ctx, project);
    const role = state.newRole(name);
    branch.roles.set(name, role);
    const op = state.applyConfig(project, branch);
    return { status: 201, body: { role: roleView(branch.id, role, true), operations: [operationView(state, op)] } };
  });

  router.add('GET', '/projects/{project_id}/branches/{branch_id}/roles/{role_name}', (ctx) => {
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    return { status: 200, body: { role: roleView(branch.id, requireRole(ctx, branch), false) } };
  });

  router.add('DELETE', '/projects/{project_id}/branches/{branch_id}/roles/{role_name}', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    const role = branch.roles.get(ctx.params['role_name'] ?? '');
    if (!role) return { status: 204 };
    if (role.protected) throw new ApiError(400, 'cannot delete a protected role');
    requireNoConflict(ctx, project);
    branch.roles.delete(role.name);
    const op = state.applyConfig(project, branch);
    return { status: 200, body: { role: roleView(branch.id, role, false), operations: [operationView(state, op)] } };
  });

  router.add('GET', '/projects/{project_id}/branches/{branch_id}/roles/{role_name}/reveal_password', (ctx) => {
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    const role = requireRole(ctx, branch);
    if (!project.storePasswords) throw new ApiError(412, 'passwords are not stored for this project');
    return { status: 200, body: { password: role.password } };
  });

  router.add('POST', '/projects/{project_id}/branches/{branch_id}/roles/{role_name}/reset_password', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    const role = requireRole(ctx, branch);
    requireNoConflict(ctx, project);
    role.password = state.ids.password();
    role.updatedAt = state.now();
    const op = state.applyConfig(project, branch);
    return { status: 200, body: { role: roleView(branch.id, role, true), operations: [operationView(state, op)] } };
  });
}
