import type { NeonProjectSpec } from '../../api/index.ts';
import type { Project, ProjectCreateInput, ProjectSettingsInput, ProjectUpdateInput } from '../../neon/index.ts';
import { jsonEqual } from '../../runtime/index.ts';

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

/** The project settings the spec manages, in Neon's shape (undefined when it manages none). */
export function desiredSettings(spec: NeonProjectSpec): ProjectSettingsInput | undefined {
  const s = spec.settings;
  if (!s) return undefined;
  const out: ProjectSettingsInput = {};
  if (s.allowedIps) {
    out.allowed_ips = { ips: [...s.allowedIps.ips], ...(s.allowedIps.protectedBranchesOnly !== undefined ? { protected_branches_only: s.allowedIps.protectedBranchesOnly } : {}) };
  }
  if (s.enableLogicalReplication !== undefined) out.enable_logical_replication = s.enableLogicalReplication;
  if (s.maintenanceWindow) {
    out.maintenance_window = { weekdays: [...s.maintenanceWindow.weekdays], start_time: s.maintenanceWindow.startTime, end_time: s.maintenanceWindow.endTime };
  }
  if (s.quota) {
    const q = s.quota;
    out.quota = {
      ...(q.activeTimeSeconds !== undefined ? { active_time_seconds: q.activeTimeSeconds } : {}),
      ...(q.computeTimeSeconds !== undefined ? { compute_time_seconds: q.computeTimeSeconds } : {}),
      ...(q.writtenDataBytes !== undefined ? { written_data_bytes: q.writtenDataBytes } : {}),
      ...(q.dataTransferBytes !== undefined ? { data_transfer_bytes: q.dataTransferBytes } : {}),
      ...(q.logicalSizeBytes !== undefined ? { logical_size_bytes: q.logicalSizeBytes } : {}),
    };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

const sortedNumbers = (xs: readonly number[] | undefined) => [...new Set(xs ?? [])].sort((a, b) => a - b);
const sortedStrings = (xs: readonly string[] | undefined) => [...new Set(xs ?? [])].sort();

/** The top-level settings that differ from Neon's (lists compared as sets, an unset quota as 0). */
export function settingsUpdate(spec: NeonProjectSpec, have: Project['settings']): ProjectSettingsInput | undefined {
  const want = desiredSettings(spec);
  if (!want) return undefined;
  const out: ProjectSettingsInput = {};
  if (want.allowed_ips) {
    const h = have?.allowed_ips;
    const sameIps = jsonEqual(sortedStrings(want.allowed_ips.ips), sortedStrings(h?.ips));
    const sameScope = want.allowed_ips.protected_branches_only === undefined || want.allowed_ips.protected_branches_only === (h?.protected_branches_only ?? false);
    if (!sameIps || !sameScope) out.allowed_ips = want.allowed_ips;
  }
  if (want.enable_logical_replication !== undefined && want.enable_logical_replication !== (have?.enable_logical_replication ?? false)) {
    out.enable_logical_replication = want.enable_logical_replication;
  }
  if (want.maintenance_window) {
    const h = have?.maintenance_window;
    const w = want.maintenance_window;
    if (!h || h.start_time !== w.start_time || h.end_time !== w.end_time || !jsonEqual(sortedNumbers(h.weekdays), sortedNumbers(w.weekdays))) {
      out.maintenance_window = w;
    }
  }
  if (want.quota) {
    const h = have?.quota ?? {};
    const differs = (Object.keys(want.quota) as Array<keyof NonNullable<ProjectSettingsInput['quota']>>).some((k) => (want.quota?.[k] ?? 0) !== (h[k] ?? 0));
    if (differs) out.quota = { ...h, ...want.quota };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The body of the create call for a new project; `annotations` go on its default branch (the tenancy mark). */
export function projectCreateInput(spec: NeonProjectSpec, name: string, annotations?: Record<string, string>): ProjectCreateInput {
  const defaults = desiredEndpointDefaults(spec);
  const settings = desiredSettings(spec);
  const branch = {
    ...(spec.defaultBranch ? { name: spec.defaultBranch.name } : {}),
    ...(spec.defaultRole ? { role_name: spec.defaultRole.name } : {}),
    ...(spec.defaultDatabase ? { database_name: spec.defaultDatabase.name } : {}),
    ...(annotations ? { annotations } : {}),
  };
  return {
    name,
    ...(spec.regionId ? { region_id: spec.regionId } : {}),
    ...(spec.pgVersion !== undefined ? { pg_version: spec.pgVersion } : {}),
    ...(spec.orgId ? { org_id: spec.orgId } : {}),
    ...(spec.historyRetentionSeconds !== undefined ? { history_retention_seconds: spec.historyRetentionSeconds } : {}),
    ...(Object.keys(branch).length > 0 ? { branch } : {}),
    ...(defaults ? { default_endpoint_settings: defaults } : {}),
    ...(settings ? { settings } : {}),
  };
}

/**
 * The smallest PATCH that brings the project's mutable settings to the spec; undefined when nothing
 * differs. Fields the spec leaves out are not managed (Neon's value stays); `name` undefined leaves the name alone
 * (an adopted project whose spec sets no name).
 */
export function projectUpdate(spec: NeonProjectSpec, name: string | undefined, project: Project): ProjectUpdateInput | undefined {
  const update: ProjectUpdateInput = {};
  if (name !== undefined && project.name !== name) update.name = name;
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
  const settings = settingsUpdate(spec, project.settings);
  if (settings) update.settings = settings;
  return Object.keys(update).length > 0 ? update : undefined;
}
