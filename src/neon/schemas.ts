/**
 * zod schemas for the parts of Neon API v2 responses the operator relies on, modelled on the official
 * OpenAPI spec (`@neondatabase/api-client/public-v2-for-users.gen.yaml`): fields the spec marks required
 * are required here, the rest optional. Unknown fields are accepted and dropped, so Neon can add fields
 * without breaking us. Each response is parsed exactly once, in the client.
 */
import { z } from 'zod';

const id = z.string().regex(/^[a-z0-9-]{1,60}$/);
const timestamp = z.string();

export const OperationStatus = z.enum([
  'scheduling',
  'running',
  'finished',
  'failed',
  'error',
  'cancelling',
  'cancelled',
  'skipped',
]);
export type OperationStatus = z.infer<typeof OperationStatus>;

/** Statuses in which Neon is still working and a conflicting mutation would get 423. */
export const inFlightStatuses: ReadonlySet<OperationStatus> = new Set(['scheduling', 'running', 'cancelling']);
/** Statuses that end an operation successfully. */
export const successStatuses: ReadonlySet<OperationStatus> = new Set(['finished', 'skipped']);

export const Operation = z.object({
  id: z.string(),
  project_id: id,
  branch_id: id.optional(),
  endpoint_id: id.optional(),
  // The spec's action enum grows with Neon's features; a new action must not make a response unreadable.
  action: z.string(),
  status: OperationStatus,
  error: z.string().optional(),
  failures_count: z.number().int(),
  retry_at: timestamp.optional(),
  created_at: timestamp,
  updated_at: timestamp,
  total_duration_ms: z.number().int(),
});
export type Operation = z.infer<typeof Operation>;

export const Project = z.object({
  id,
  platform_id: z.string(),
  region_id: z.string(),
  name: z.string(),
  provisioner: z.string(),
  pg_version: z.number().int(),
  proxy_host: z.string(),
  store_passwords: z.boolean(),
  creation_source: z.string(),
  history_retention_seconds: z.number().int().optional(),
  created_at: timestamp,
  updated_at: timestamp,
  owner_id: z.string(),
  org_id: id.optional(),
  default_endpoint_settings: z
    .object({
      autoscaling_limit_min_cu: z.number().optional(),
      autoscaling_limit_max_cu: z.number().optional(),
      suspend_timeout_seconds: z.number().int().optional(),
    })
    .optional(),
  // The settings the operator manages; Neon's other settings are dropped here and never sent back.
  settings: z
    .object({
      allowed_ips: z.object({ ips: z.array(z.string()).optional(), protected_branches_only: z.boolean().optional() }).optional(),
      enable_logical_replication: z.boolean().optional(),
      maintenance_window: z.object({ weekdays: z.array(z.number().int()), start_time: z.string(), end_time: z.string() }).optional(),
      quota: z
        .object({
          active_time_seconds: z.number().int().optional(),
          compute_time_seconds: z.number().int().optional(),
          written_data_bytes: z.number().int().optional(),
          data_transfer_bytes: z.number().int().optional(),
          logical_size_bytes: z.number().int().optional(),
        })
        .optional(),
    })
    .optional(),
});
export type Project = z.infer<typeof Project>;

/** `GET /projects` items: a subset of Project (no consumption fields, no settings guarantees). */
export const ProjectListItem = z.object({
  id,
  platform_id: z.string(),
  region_id: z.string(),
  name: z.string(),
  provisioner: z.string(),
  pg_version: z.number().int(),
  proxy_host: z.string(),
  store_passwords: z.boolean(),
  creation_source: z.string(),
  created_at: timestamp,
  updated_at: timestamp,
  owner_id: z.string(),
  org_id: id.optional(),
});
export type ProjectListItem = z.infer<typeof ProjectListItem>;

export const Branch = z.object({
  id,
  project_id: id,
  parent_id: id.optional(),
  parent_lsn: z.string().optional(),
  parent_timestamp: timestamp.optional(),
  name: z.string(),
  // BranchState is a free string in the spec (init, ready, resetting, archived, ...).
  current_state: z.string(),
  pending_state: z.string().optional(),
  state_changed_at: timestamp,
  logical_size: z.number().int().optional(),
  creation_source: z.string(),
  default: z.boolean(),
  protected: z.boolean(),
  created_at: timestamp,
  updated_at: timestamp,
  expires_at: timestamp.optional(),
  /** When the branch was last restored (`…/restore`); final once the restore's operations have finished. */
  last_reset_at: timestamp.optional(),
});
export type Branch = z.infer<typeof Branch>;

export const EndpointType = z.enum(['read_only', 'read_write']);
export type EndpointType = z.infer<typeof EndpointType>;
export const EndpointState = z.enum(['init', 'active', 'idle']);
export type EndpointState = z.infer<typeof EndpointState>;

export const Endpoint = z.object({
  host: z.string(),
  id,
  name: z.string().optional(),
  project_id: id,
  branch_id: id,
  region_id: z.string(),
  autoscaling_limit_min_cu: z.number(),
  autoscaling_limit_max_cu: z.number(),
  type: EndpointType,
  current_state: EndpointState,
  pending_state: EndpointState.optional(),
  pooler_enabled: z.boolean(),
  pooler_mode: z.string(),
  disabled: z.boolean(),
  passwordless_access: z.boolean(),
  creation_source: z.string(),
  created_at: timestamp,
  updated_at: timestamp,
  proxy_host: z.string(),
  suspend_timeout_seconds: z.number().int(),
  provisioner: z.string(),
  last_active: timestamp.optional(),
  started_at: timestamp.optional(),
  suspended_at: timestamp.optional(),
});
export type Endpoint = z.infer<typeof Endpoint>;

export const Role = z.object({
  branch_id: id,
  name: z.string(),
  /** Only present on create (and never logged). */
  password: z.string().optional(),
  protected: z.boolean().optional(),
  authentication_method: z.string().optional(),
  created_at: timestamp,
  updated_at: timestamp,
});
export type Role = z.infer<typeof Role>;

export const Database = z.object({
  id: z.number().int(),
  branch_id: id,
  name: z.string(),
  owner_name: z.string(),
  created_at: timestamp,
  updated_at: timestamp,
});
export type Database = z.infer<typeof Database>;

export const ConnectionDetails = z.object({
  connection_uri: z.string(),
  connection_parameters: z.object({
    database: z.string(),
    password: z.string(),
    role: z.string(),
    host: z.string(),
    pooler_host: z.string(),
  }),
});
export type ConnectionDetails = z.infer<typeof ConnectionDetails>;

export const AnnotationValue = z.record(z.string(), z.string());
export type AnnotationValue = z.infer<typeof AnnotationValue>;

export const Annotation = z.object({
  object: z.object({ type: z.string(), id: z.string() }),
  value: AnnotationValue,
  created_at: timestamp.optional(),
  updated_at: timestamp.optional(),
});
export type Annotation = z.infer<typeof Annotation>;

const operations = z.array(Operation);

// ---- Response envelopes, one per call shape -------------------------------------------------------

export const CreatedProjectResponse = z.object({
  project: Project,
  connection_uris: z.array(ConnectionDetails),
  roles: z.array(Role),
  databases: z.array(Database),
  operations,
  branch: Branch,
  endpoints: z.array(Endpoint),
});
export type CreatedProjectResponse = z.infer<typeof CreatedProjectResponse>;

export const ProjectResponse = z.object({ project: Project });
export const ProjectOperationsResponse = z.object({ project: Project, operations });
export const ProjectsListResponse = z.object({
  projects: z.array(ProjectListItem),
  unavailable_project_ids: z.array(id).optional(),
  pagination: z.object({ cursor: z.string() }).optional(),
});
export type ProjectsListResponse = z.infer<typeof ProjectsListResponse>;

export const CreatedBranchResponse = z.object({
  branch: Branch,
  endpoints: z.array(Endpoint),
  operations,
  roles: z.array(Role),
  databases: z.array(Database),
  connection_uris: z.array(ConnectionDetails).optional(),
});
export type CreatedBranchResponse = z.infer<typeof CreatedBranchResponse>;

export const BranchWithAnnotationResponse = z.object({ branch: Branch, annotation: Annotation });
export const BranchOperationsResponse = z.object({ branch: Branch, operations });
export type BranchOperationsResponse = z.infer<typeof BranchOperationsResponse>;

/** A rule of an anonymized branch (Beta): which column, and the PostgreSQL Anonymizer function or value that masks it. */
export const MaskingRule = z.object({
  database_name: z.string(),
  schema_name: z.string(),
  table_name: z.string(),
  column_name: z.string(),
  masking_function: z.string().optional(),
  masking_value: z.string().optional(),
});
export type MaskingRule = z.infer<typeof MaskingRule>;
export const MaskingRulesResponse = z.object({ masking_rules: z.array(MaskingRule) });

/** `state`: created, initialized, initialization_error, anonymizing, anonymized or error (a free string in the spec). */
export const AnonymizedBranchStatus = z.object({
  project_id: id,
  branch_id: id,
  state: z.string(),
  status_message: z.string().optional(),
  created_at: timestamp,
  updated_at: timestamp,
  failed_at: timestamp.optional(),
  last_run: z
    .object({ started_at: timestamp.optional(), completed_at: timestamp.optional(), masked_columns: z.number().int().optional() })
    .optional(),
});
export type AnonymizedBranchStatus = z.infer<typeof AnonymizedBranchStatus>;
export const BranchesListResponse = z.object({
  branches: z.array(Branch),
  annotations: z.record(z.string(), Annotation),
  pagination: z
    .object({ next: z.string().optional(), sort_by: z.string().optional(), sort_order: z.string().optional() })
    .optional(),
});
export type BranchesListResponse = z.infer<typeof BranchesListResponse>;

export const EndpointResponse = z.object({ endpoint: Endpoint });
export const EndpointOperationsResponse = z.object({ endpoint: Endpoint, operations });
export type EndpointOperationsResponse = z.infer<typeof EndpointOperationsResponse>;
export const EndpointsListResponse = z.object({ endpoints: z.array(Endpoint) });

export const RoleResponse = z.object({ role: Role });
export const RoleOperationsResponse = z.object({ role: Role, operations });
export type RoleOperationsResponse = z.infer<typeof RoleOperationsResponse>;
export const RolesListResponse = z.object({ roles: z.array(Role) });
export const RolePasswordResponse = z.object({ password: z.string() });

export const DatabaseResponse = z.object({ database: Database });
export const DatabaseOperationsResponse = z.object({ database: Database, operations });
export type DatabaseOperationsResponse = z.infer<typeof DatabaseOperationsResponse>;
export const DatabasesListResponse = z.object({ databases: z.array(Database) });

export const OperationResponse = z.object({ operation: Operation });
export const OperationsListResponse = z.object({
  operations,
  pagination: z.object({ cursor: z.string() }).optional(),
});
export type OperationsListResponse = z.infer<typeof OperationsListResponse>;

export const ConnectionUriResponse = z.object({ uri: z.string() });

/** Neon's error body. `code` is often the empty string. */
export const ErrorBody = z.object({
  code: z.string().optional(),
  message: z.string().optional(),
  request_id: z.string().optional(),
});
