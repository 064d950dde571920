import type { NeonEndpointSpec } from '../../api/index.ts';
import type { BranchEndpointInput, Endpoint, EndpointCreateInput, EndpointUpdateInput } from '../../neon/index.ts';

/** Neon's limit on a compute's name. */
const MAX_ENDPOINT_NAME = 64;

/** The Neon name of a read_only compute created for a NeonEndpoint: its metadata.name (cut to Neon's limit). */
export function endpointNameFor(metadataName: string): string {
  return metadataName.slice(0, MAX_ENDPOINT_NAME);
}

/** The body of the create call; read_only computes are named after the object, to be found again after a crash. */
export function endpointCreateInput(spec: NeonEndpointSpec, branchId: string, name?: string): EndpointCreateInput {
  return {
    branch_id: branchId,
    type: spec.type,
    ...(name !== undefined ? { name } : {}),
    ...(spec.autoscaling ? { autoscaling_limit_min_cu: spec.autoscaling.minCu, autoscaling_limit_max_cu: spec.autoscaling.maxCu } : {}),
    ...(spec.suspendTimeoutSeconds !== undefined ? { suspend_timeout_seconds: spec.suspendTimeoutSeconds } : {}),
    ...(spec.disabled !== undefined ? { disabled: spec.disabled } : {}),
  };
}

/**
 * The compute as the branch's create call can carry it (`endpoints[]`): the settings that call accepts; the
 * NeonEndpoint's own pass then PATCHes anything else its spec sets (e.g. `disabled`).
 */
export function branchEndpointInput(spec: NeonEndpointSpec): BranchEndpointInput {
  return {
    type: spec.type,
    ...(spec.autoscaling ? { autoscaling_limit_min_cu: spec.autoscaling.minCu, autoscaling_limit_max_cu: spec.autoscaling.maxCu } : {}),
    ...(spec.suspendTimeoutSeconds !== undefined ? { suspend_timeout_seconds: spec.suspendTimeoutSeconds } : {}),
  };
}

/**
 * The smallest PATCH that brings the compute to the spec (autoscaling limits, suspend timeout, disabled);
 * undefined when nothing differs. Fields the spec leaves out keep Neon's values.
 */
export function endpointUpdate(spec: NeonEndpointSpec, endpoint: Endpoint): EndpointUpdateInput | undefined {
  const update: EndpointUpdateInput = {};
  if (spec.autoscaling) {
    if (endpoint.autoscaling_limit_min_cu !== spec.autoscaling.minCu) update.autoscaling_limit_min_cu = spec.autoscaling.minCu;
    if (endpoint.autoscaling_limit_max_cu !== spec.autoscaling.maxCu) update.autoscaling_limit_max_cu = spec.autoscaling.maxCu;
  }
  if (spec.suspendTimeoutSeconds !== undefined && endpoint.suspend_timeout_seconds !== spec.suspendTimeoutSeconds) {
    update.suspend_timeout_seconds = spec.suspendTimeoutSeconds;
  }
  if (spec.disabled !== undefined && endpoint.disabled !== spec.disabled) update.disabled = spec.disabled;
  return Object.keys(update).length > 0 ? update : undefined;
}
