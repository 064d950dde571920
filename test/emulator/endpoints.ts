import {
  ApiError,
  bodyObject,
  field,
  optBoolean,
  optNumber,
  optString,
  requireBranch,
  requireNoConflict,
  requireProject,
  type RequestContext,
  type Router,
} from './router.ts';
import { requireAutoscalingLimits } from './refusals.ts';
import type { EndpointRecord, OperationRecord, ProjectRecord } from './state.ts';
import { endpointView, operationView } from './views.ts';

function requireEndpoint(ctx: RequestContext, project: ProjectRecord): EndpointRecord {
  const ep = project.endpoints.get(ctx.params['endpoint_id'] ?? '');
  if (!ep) throw new ApiError(404, 'endpoint not found');
  return ctx.state.settleEndpoint(project, ep);
}

function reply(ctx: RequestContext, project: ProjectRecord, ep: EndpointRecord, ops: OperationRecord[], status = 200) {
  return {
    status,
    body: { endpoint: endpointView(ctx.state, project, ep), operations: ops.map((op) => operationView(ctx.state, op)) },
  };
}

/** Endpoints: create, list, get, update, delete, start, suspend, restart. */
export function registerEndpointRoutes(router: Router): void {
  router.add('POST', '/projects/{project_id}/endpoints', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const input = field(bodyObject(ctx), 'endpoint', true);
    const branchId = optString(input, 'branch_id');
    if (branchId === undefined) throw new ApiError(400, 'endpoint.branch_id is required');
    const type = input['type'];
    if (type !== 'read_write' && type !== 'read_only') throw new ApiError(400, 'endpoint.type must be read_write or read_only');
    const region = optString(input, 'region_id');
    if (region !== undefined && region !== project.regionId) {
      throw new ApiError(400, `endpoint region ${region} does not match project region ${project.regionId}`);
    }
    const branch = requireBranch(ctx, project, branchId);
    if (type === 'read_write' && state.readWriteEndpoint(project, branch.id)) {
      throw new ApiError(409, 'read-write endpoint already exists');
    }
    const minCu = optNumber(input, 'autoscaling_limit_min_cu');
    const maxCu = optNumber(input, 'autoscaling_limit_max_cu');
    requireAutoscalingLimits('endpoint.', minCu, maxCu);
    requireNoConflict(ctx, project);
    const suspend = optNumber(input, 'suspend_timeout_seconds');
    const disabled = optBoolean(input, 'disabled');
    const pooler = optBoolean(input, 'pooler_enabled');
    const passwordless = optBoolean(input, 'passwordless_access');
    const provisioner = optString(input, 'provisioner');
    const name = optString(input, 'name');
    const ep = state.newEndpoint(project, branch, {
      type,
      settings: field(input, 'settings'),
      ...(minCu !== undefined ? { minCu } : {}),
      ...(maxCu !== undefined ? { maxCu } : {}),
      ...(suspend !== undefined ? { suspendTimeoutSeconds: suspend } : {}),
      ...(disabled !== undefined ? { disabled } : {}),
      ...(pooler !== undefined ? { poolerEnabled: pooler } : {}),
      ...(passwordless !== undefined ? { passwordlessAccess: passwordless } : {}),
      ...(provisioner !== undefined ? { provisioner } : {}),
      ...(name !== undefined ? { name } : {}),
    });
    const ops = ep.disabled ? [] : [state.startCompute(project, ep)];
    if (ep.disabled) ep.currentState = 'idle';
    return reply(ctx, project, ep, ops, 201);
  });

  router.add('GET', '/projects/{project_id}/endpoints', (ctx) => {
    const project = requireProject(ctx);
    return { status: 200, body: { endpoints: [...project.endpoints.values()].map((e) => endpointView(ctx.state, project, e)) } };
  });

  router.add('GET', '/projects/{project_id}/endpoints/{endpoint_id}', (ctx) => {
    const project = requireProject(ctx);
    const ep = requireEndpoint(ctx, project);
    return { status: 200, body: { endpoint: endpointView(ctx.state, project, ep) } };
  });

  router.add('PATCH', '/projects/{project_id}/endpoints/{endpoint_id}', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const ep = requireEndpoint(ctx, project);
    const upd = field(bodyObject(ctx), 'endpoint', true);
    const minCu = optNumber(upd, 'autoscaling_limit_min_cu');
    const maxCu = optNumber(upd, 'autoscaling_limit_max_cu');
    requireAutoscalingLimits('endpoint.', minCu, maxCu, { min: ep.minCu, max: ep.maxCu });
    const suspend = optNumber(upd, 'suspend_timeout_seconds');
    const disabled = optBoolean(upd, 'disabled');
    const pooler = optBoolean(upd, 'pooler_enabled');
    const passwordless = optBoolean(upd, 'passwordless_access');
    const name = optString(upd, 'name');
    const newBranchId = optString(upd, 'branch_id');
    if (newBranchId !== undefined && newBranchId !== ep.branchId) {
      requireBranch(ctx, project, newBranchId);
      if (ep.type === 'read_write' && state.readWriteEndpoint(project, newBranchId)) {
        throw new ApiError(409, 'read-write endpoint already exists');
      }
    }
    requireNoConflict(ctx, project);
    const settingsChanged = upd['settings'] !== undefined;
    if (minCu !== undefined) ep.minCu = minCu;
    if (maxCu !== undefined) ep.maxCu = maxCu;
    if (suspend !== undefined) ep.suspendTimeoutSeconds = suspend;
    if (disabled !== undefined) ep.disabled = disabled;
    if (pooler !== undefined) ep.poolerEnabled = pooler;
    if (passwordless !== undefined) ep.passwordlessAccess = passwordless;
    if (name !== undefined) ep.name = name;
    if (newBranchId !== undefined) ep.branchId = newBranchId;
    if (settingsChanged) ep.settings = field(upd, 'settings');
    ep.updatedAt = state.now();
    const ops: OperationRecord[] = [state.addOperation(project, 'apply_config', { branchId: ep.branchId, endpointId: ep.id })];
    // New Postgres settings or a moved/disabled compute need a restart: Neon suspends it (next connection starts it).
    if (ep.currentState === 'active' && (settingsChanged || newBranchId !== undefined || disabled === true)) {
      ops.push(state.suspendCompute(project, ep));
    }
    return reply(ctx, project, ep, ops);
  });

  router.add('DELETE', '/projects/{project_id}/endpoints/{endpoint_id}', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const ep = project.endpoints.get(ctx.params['endpoint_id'] ?? '');
    if (!ep) return { status: 204 };
    requireNoConflict(ctx, project);
    const op = state.addOperation(project, 'suspend_compute', { branchId: ep.branchId, endpointId: ep.id });
    const out = reply(ctx, project, ep, [op]);
    project.endpoints.delete(ep.id);
    return out;
  });

  router.add('POST', '/projects/{project_id}/endpoints/{endpoint_id}/start', (ctx) => {
    const project = requireProject(ctx);
    const ep = requireEndpoint(ctx, project);
    if (ep.disabled) throw new ApiError(400, 'endpoint is disabled');
    requireNoConflict(ctx, project);
    return reply(ctx, project, ep, [ctx.state.startCompute(project, ep)]);
  });

  router.add('POST', '/projects/{project_id}/endpoints/{endpoint_id}/suspend', (ctx) => {
    const project = requireProject(ctx);
    const ep = requireEndpoint(ctx, project);
    if (ep.pending) throw new ApiError(423, 'endpoint is in some transitive state, could not suspend');
    requireNoConflict(ctx, project);
    return reply(ctx, project, ep, [ctx.state.suspendCompute(project, ep)]);
  });

  router.add('POST', '/projects/{project_id}/endpoints/{endpoint_id}/restart', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const ep = requireEndpoint(ctx, project);
    if (ep.disabled) throw new ApiError(400, 'endpoint is disabled');
    requireNoConflict(ctx, project);
    const ops: OperationRecord[] = [];
    if (ep.currentState === 'active') ops.push(state.suspendCompute(project, ep));
    ops.push(state.startCompute(project, ep));
    return reply(ctx, project, ep, ops);
  });
}
