import type {
  BranchRecord,
  DatabaseRecord,
  EmulatorState,
  EndpointRecord,
  OperationRecord,
  ProjectRecord,
  RoleRecord,
} from './state.ts';

/** JSON shapes of Neon API objects, built from emulator records (field names as in the official spec). */

/** Neon prints times as RFC 3339 with second precision. */
export function isoTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

function proxyHost(state: EmulatorState): string {
  return state.regionHost;
}

export function projectView(state: EmulatorState, p: ProjectRecord): Record<string, unknown> {
  return {
    data_storage_bytes_hour: 0,
    data_transfer_bytes: 0,
    written_data_bytes: 0,
    compute_time_seconds: 0,
    active_time_seconds: 0,
    cpu_used_sec: 0,
    id: p.id,
    platform_id: p.regionId.split('-')[0] ?? 'aws',
    region_id: p.regionId,
    name: p.name,
    provisioner: p.provisioner,
    default_endpoint_settings: p.defaultEndpointSettings,
    settings: p.settings,
    pg_version: p.pgVersion,
    proxy_host: proxyHost(state),
    branch_logical_size_limit: 512,
    branch_logical_size_limit_bytes: 536870912,
    store_passwords: p.storePasswords,
    creation_source: 'console',
    history_retention_seconds: p.historyRetentionSeconds,
    created_at: isoTime(p.createdAt),
    updated_at: isoTime(p.updatedAt),
    consumption_period_start: ZERO_TIME,
    consumption_period_end: ZERO_TIME,
    owner_id: p.account,
  };
}

export function projectListItemView(state: EmulatorState, p: ProjectRecord): Record<string, unknown> {
  return {
    id: p.id,
    platform_id: p.regionId.split('-')[0] ?? 'aws',
    region_id: p.regionId,
    name: p.name,
    provisioner: p.provisioner,
    default_endpoint_settings: p.defaultEndpointSettings,
    settings: p.settings,
    pg_version: p.pgVersion,
    proxy_host: proxyHost(state),
    branch_logical_size_limit: 512,
    branch_logical_size_limit_bytes: 536870912,
    store_passwords: p.storePasswords,
    active_time: 0,
    cpu_used_sec: 0,
    creation_source: 'console',
    history_retention_seconds: p.historyRetentionSeconds,
    created_at: isoTime(p.createdAt),
    updated_at: isoTime(p.updatedAt),
    owner_id: p.account,
  };
}

export function branchView(state: EmulatorState, p: ProjectRecord, b: BranchRecord): Record<string, unknown> {
  state.settleBranch(p, b);
  return {
    id: b.id,
    project_id: b.projectId,
    ...(b.parentId !== undefined ? { parent_id: b.parentId } : {}),
    ...(b.parentLsn !== undefined ? { parent_lsn: b.parentLsn } : {}),
    name: b.name,
    current_state: b.currentState,
    ...(b.currentState === 'init' ? { pending_state: 'ready' } : {}),
    state_changed_at: isoTime(b.stateChangedAt),
    logical_size: 30_785_536,
    creation_source: 'console',
    primary: b.isDefault,
    default: b.isDefault,
    protected: b.protected,
    cpu_used_sec: 0,
    compute_time_seconds: 0,
    active_time_seconds: 0,
    written_data_bytes: 0,
    data_transfer_bytes: 0,
    created_at: isoTime(b.createdAt),
    updated_at: isoTime(b.updatedAt),
    ...(b.expiresAt !== undefined ? { expires_at: b.expiresAt } : {}),
    ...(b.lastResetAt !== undefined ? { last_reset_at: isoTime(b.lastResetAt) } : {}),
    init_source: 'parent-data',
  };
}

export function annotationView(b: BranchRecord): Record<string, unknown> {
  return {
    object: { type: 'console/branch', id: b.id },
    value: { ...b.annotations },
    created_at: isoTime(b.annotationsCreatedAt),
    updated_at: isoTime(b.annotationsUpdatedAt),
  };
}

export function endpointView(state: EmulatorState, p: ProjectRecord, e: EndpointRecord): Record<string, unknown> {
  state.settleEndpoint(p, e);
  return {
    host: state.host(e),
    id: e.id,
    ...(e.name !== undefined ? { name: e.name } : {}),
    project_id: e.projectId,
    branch_id: e.branchId,
    autoscaling_limit_min_cu: e.minCu,
    autoscaling_limit_max_cu: e.maxCu,
    region_id: e.regionId,
    type: e.type,
    current_state: e.currentState,
    ...(e.pending ? { pending_state: e.pending.target } : {}),
    settings: e.settings,
    pooler_enabled: e.poolerEnabled,
    pooler_mode: 'transaction',
    disabled: e.disabled,
    passwordless_access: e.passwordlessAccess,
    ...(e.lastActive !== undefined ? { last_active: isoTime(e.lastActive) } : {}),
    creation_source: 'console',
    created_at: isoTime(e.createdAt),
    updated_at: isoTime(e.updatedAt),
    ...(e.startedAt !== undefined ? { started_at: isoTime(e.startedAt) } : {}),
    ...(e.suspendedAt !== undefined ? { suspended_at: isoTime(e.suspendedAt) } : {}),
    proxy_host: state.regionHost,
    suspend_timeout_seconds: e.suspendTimeoutSeconds,
    provisioner: e.provisioner,
  };
}

/** A role; the password only when `withPassword` (create answers, project/branch creation). */
export function roleView(branchId: string, r: RoleRecord, withPassword: boolean): Record<string, unknown> {
  return {
    branch_id: branchId,
    name: r.name,
    ...(withPassword ? { password: r.password } : {}),
    protected: r.protected,
    created_at: isoTime(r.createdAt),
    updated_at: isoTime(r.updatedAt),
  };
}

export function databaseView(branchId: string, d: DatabaseRecord): Record<string, unknown> {
  return {
    id: d.id,
    branch_id: branchId,
    name: d.name,
    owner_name: d.ownerName,
    created_at: isoTime(d.createdAt),
    updated_at: isoTime(d.updatedAt),
  };
}

export function operationView(state: EmulatorState, op: OperationRecord): Record<string, unknown> {
  const now = state.now();
  const status = state.operationStatus(op, now);
  const started = now >= op.startAt;
  const elapsed = started ? Math.min(now, op.endAt) - op.startAt : 0;
  const updated = status === 'scheduling' ? op.createdAt : status === 'running' ? op.startAt : op.endAt;
  return {
    id: op.id,
    project_id: op.projectId,
    ...(op.branchId !== undefined ? { branch_id: op.branchId } : {}),
    ...(op.endpointId !== undefined ? { endpoint_id: op.endpointId } : {}),
    action: op.action,
    status,
    ...(op.error !== undefined && (status === 'failed' || status === 'error') ? { error: op.error } : {}),
    failures_count: status === 'failed' || status === 'error' ? op.failuresCount : 0,
    created_at: isoTime(op.createdAt),
    updated_at: isoTime(updated),
    total_duration_ms: Math.round(elapsed),
  };
}

export function connectionUri(
  state: EmulatorState,
  ep: EndpointRecord,
  role: RoleRecord,
  database: string,
  pooled: boolean,
): string {
  return `postgresql://${encodeURIComponent(role.name)}:${encodeURIComponent(role.password)}@${state.host(ep, pooled)}/${encodeURIComponent(database)}?sslmode=require`;
}

export function connectionDetails(
  state: EmulatorState,
  ep: EndpointRecord,
  role: RoleRecord,
  database: string,
): Record<string, unknown> {
  return {
    connection_uri: connectionUri(state, ep, role, database, false),
    connection_parameters: {
      database,
      password: role.password,
      role: role.name,
      host: state.host(ep),
      pooler_host: state.host(ep, true),
    },
  };
}
