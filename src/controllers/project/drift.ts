import type { NeonProjectSpec } from '../../api/index.ts';
import type { Project, ProjectCreateInput, ProjectUpdateInput } from '../../neon/index.ts';

type EndpointDefaults = NonNullable<ProjectCreateInput['default_endpoint_settings']>;

/** The default compute settings the spec asks for (undefined when it leaves them to Neon). */
export function desiredEndpointDefaults(spec: NeonProjectSpec): EndpointDefaults | undefined {
  const d = spec.defaultEndpointSettings;
  if (!d || (!d.autoscaling && d.suspendTimeoutSeconds === undefined)) return undefined;
  return {
    ...(d.autoscaling ? { autoscaling_limit_min_cu: d.autoscaling.minCu, autoscaling_limit_max_cu: d.autoscaling.maxCu } : {}),
    ...(d.suspendTimeoutSeconds !== undefined ? { suspend_timeout_seconds: d.suspendTimeoutSeconds } : {}),
  };
}

/** The body of the create call for a new project. */
export function projectCreateInput(spec: NeonProjectSpec, name: string): ProjectCreateInput {
  const defaults = desiredEndpointDefaults(spec);
  const branch = {
    ...(spec.defaultBranch ? { name: spec.defaultBranch.name } : {}),
    ...(spec.defaultRole ? { role_name: spec.defaultRole.name } : {}),
    ...(spec.defaultDatabase ? { database_name: spec.defaultDatabase.name } : {}),
  };
  return {
    name,
    ...(spec.regionId ? { region_id: spec.regionId } : {}),
    ...(spec.pgVersion !== undefined ? { pg_version: spec.pgVersion } : {}),
    ...(spec.orgId ? { org_id: spec.orgId } : {}),
    ...(spec.historyRetentionSeconds !== undefined ? { history_retention_seconds: spec.historyRetentionSeconds } : {}),
    ...(Object.keys(branch).length > 0 ? { branch } : {}),
    ...(defaults ? { default_endpoint_settings: defaults } : {}),
  };
}

/**
 * The smallest PATCH that brings the project's mutable settings to the spec; undefined when nothing
 * differs. Fields the spec leaves out are not managed (Neon's value stays).
 */
export function projectUpdate(spec: NeonProjectSpec, name: string, project: Project): ProjectUpdateInput | undefined {
  const update: ProjectUpdateInput = {};
  if (project.name !== name) update.name = name;
  if (spec.historyRetentionSeconds !== undefined && project.history_retention_seconds !== spec.historyRetentionSeconds) {
    update.history_retention_seconds = spec.historyRetentionSeconds;
  }
  const wanted = desiredEndpointDefaults(spec);
  if (wanted) {
    const have = project.default_endpoint_settings ?? {};
    const differs = (Object.keys(wanted) as Array<keyof EndpointDefaults>).some((k) => have[k as keyof typeof have] !== wanted[k]);
    // Neon replaces default_endpoint_settings as a whole: send what we manage on top of what is there.
    if (differs) update.default_endpoint_settings = { ...have, ...wanted };
  }
  return Object.keys(update).length > 0 ? update : undefined;
}
