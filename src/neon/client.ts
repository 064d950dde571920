/**
 * NeonClient: typed calls to the Neon API v2 for one API key. Every call goes through the shared
 * NeonScheduler (rate budget, project lanes, safe retries); see `NeonScheduler.run` for what is retried.
 *
 * Conventions of every method:
 * - the last parameter is optional `CallOptions` (`signal` to give up waiting);
 * - failures are typed errors from `./errors.ts`; a mutation that may have been applied but whose answer
 *   we did not get rejects with `OutcomeUnknownError` and was not retried: re-observe, then adopt;
 * - deletes resolve to `null` when Neon answers 204 (the thing was already gone);
 * - mutations return the operations they started; the next mutation on the same project waits for them
 *   automatically, and `waitForOperations` waits for them explicitly.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import { systemClock, type Clock } from '../clock.ts';
import { OPERATOR_VERSION } from '../version.ts';
import { defaultNeonDispatcher, NeonHttp, type HttpAttempt } from './http.ts';
import { ReadCoalescer } from './read-coalescer.ts';
import { ProjectView, type ViewBranch, type ViewSnapshot } from './project-view.ts';
import { registerSecret } from './redact.ts';
import type { CallKind, NeonScheduler, OperationsSource } from './scheduler.ts';
import {
  AnonymizedBranchStatus,
  BranchesListResponse,
  BranchOperationsResponse,
  BranchWithAnnotationResponse,
  ConnectionUriResponse,
  CreatedBranchResponse,
  CreatedProjectResponse,
  DatabaseOperationsResponse,
  DatabaseResponse,
  DatabasesListResponse,
  EndpointOperationsResponse,
  EndpointResponse,
  EndpointsListResponse,
  MaskingRulesResponse,
  OperationResponse,
  OperationsListResponse,
  ProjectOperationsResponse,
  ProjectResponse,
  ProjectsListResponse,
  RoleOperationsResponse,
  RolePasswordResponse,
  RoleResponse,
  RolesListResponse,
  type Annotation,
  type Branch,
  type Database,
  type Endpoint,
  type EndpointType,
  type MaskingRule,
  type Operation,
  type Project,
  type ProjectListItem,
  type Role,
} from './schemas.ts';

export const DEFAULT_NEON_BASE_URL = 'https://console.neon.tech/api/v2';

export interface NeonClientOptions {
  apiKey: string;
  /** The process-wide scheduler; share one instance between all clients. */
  scheduler: NeonScheduler;
  /** Default `https://console.neon.tech/api/v2`. */
  baseUrl?: string;
  /**
   * Budget key. Neon's limits are per account; by default each API key is its own account (keyed by a
   * short hash, never the key). Give several keys of one Neon account the same name to share one budget.
   */
  account?: string;
  logger?: Logger;
  /** undici dispatcher; default a keep-alive Agent owned by this client (closed by `close()`). */
  dispatcher?: Dispatcher;
  clock?: Clock;
  userAgent?: string;
  /** Time for one attempt to get its complete answer. Default 30 s. */
  requestTimeoutMs?: number;
  /**
   * Share reads of a project between callers (ReadCoalescer): identical reads in flight are joined, and an
   * answer serves identical reads for this long unless something changed the project meanwhile (0: only
   * reads in flight). Default: undefined, every call is sent.
   */
  readFreshMs?: number;
  /**
   * Serve project lists (branches, endpoints, a branch's roles and databases) from a ProjectView kept up to
   * date by this client's own mutation answers, refreshed from Neon when older than this (ms). Default:
   * undefined, every list is read from Neon.
   */
  viewMaxAgeMs?: number;
  /** Called when the project view finds a change in Neon that the operator did not make (ProjectViewOptions.onChange). */
  onProjectChanged?: (projectId: string) => void;
}

export interface CallOptions {
  signal?: AbortSignal;
}

// ---- request bodies (the subset of Neon's request schemas the operator sets) ----------------------

export interface EndpointSettingsInput {
  pg_settings?: Record<string, string>;
}

/** Project settings the operator manages (Neon's `ProjectSettingsData`, the subset in NeonProject's spec). */
export interface ProjectSettingsInput {
  allowed_ips?: { ips: string[]; protected_branches_only?: boolean };
  enable_logical_replication?: boolean;
  maintenance_window?: { weekdays: number[]; start_time: string; end_time: string };
  quota?: {
    active_time_seconds?: number;
    compute_time_seconds?: number;
    written_data_bytes?: number;
    data_transfer_bytes?: number;
    logical_size_bytes?: number;
  };
}

export interface ProjectCreateInput {
  name?: string;
  region_id?: string;
  pg_version?: number;
  org_id?: string;
  store_passwords?: boolean;
  history_retention_seconds?: number;
  branch?: { name?: string; role_name?: string; database_name?: string; annotations?: Record<string, string> };
  default_endpoint_settings?: {
    autoscaling_limit_min_cu?: number;
    autoscaling_limit_max_cu?: number;
    suspend_timeout_seconds?: number;
    pg_settings?: Record<string, string>;
  };
  settings?: ProjectSettingsInput;
}

export interface ProjectUpdateInput {
  name?: string;
  history_retention_seconds?: number;
  default_endpoint_settings?: ProjectCreateInput['default_endpoint_settings'];
  settings?: ProjectSettingsInput;
}

export interface BranchEndpointInput {
  type: EndpointType;
  autoscaling_limit_min_cu?: number;
  autoscaling_limit_max_cu?: number;
  suspend_timeout_seconds?: number;
  settings?: EndpointSettingsInput;
}

export interface BranchCreateInput {
  branch?: {
    name?: string;
    parent_id?: string;
    parent_lsn?: string;
    parent_timestamp?: string;
    protected?: boolean;
    expires_at?: string;
    init_source?: string;
  };
  /** Computes to create with the branch; Neon creates none when omitted. */
  endpoints?: BranchEndpointInput[];
  /** Stored as the branch's annotation (e.g. the owning object's UID). At most 50 keys. */
  annotations?: Record<string, string>;
}

export interface BranchUpdateInput {
  name?: string;
  protected?: boolean;
  expires_at?: string | null;
}

export interface BranchRestoreInput {
  source_branch_id: string;
  source_lsn?: string;
  source_timestamp?: string;
  preserve_under_name?: string;
}

export interface EndpointCreateInput {
  branch_id: string;
  type: EndpointType;
  region_id?: string;
  name?: string;
  autoscaling_limit_min_cu?: number;
  autoscaling_limit_max_cu?: number;
  suspend_timeout_seconds?: number;
  disabled?: boolean;
  settings?: EndpointSettingsInput;
}

export interface EndpointUpdateInput {
  name?: string;
  autoscaling_limit_min_cu?: number;
  autoscaling_limit_max_cu?: number;
  suspend_timeout_seconds?: number;
  disabled?: boolean;
  settings?: EndpointSettingsInput;
}

export interface ConnectionUriInput {
  databaseName: string;
  roleName: string;
  branchId?: string;
  endpointId?: string;
  /** true → the `-pooler` host (PgBouncer). */
  pooled?: boolean;
}

export interface ListBranchesInput {
  search?: string;
  cursor?: string;
  limit?: number;
  sortBy?: 'name' | 'created_at' | 'updated_at';
  sortOrder?: 'asc' | 'desc';
}

/** Stable, non-secret budget key for an API key. */
export function accountKeyFor(apiKey: string): string {
  return `key-${createHash('sha256').update(apiKey).digest('hex').slice(0, 12)}`;
}

type Method = HttpAttempt<z.ZodType>['method'];

interface Call<S extends z.ZodType> {
  method: Method;
  route: string;
  params?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  schema: S;
  projectId?: string | undefined;
  /** Operations the answer carries (so the project lane can wait for them). */
  operationsOf?: (value: z.infer<S>) => readonly Operation[];
  /** The project the answer concerns when the call had none (create project). */
  projectOf?: (value: z.infer<S>) => string;
  /**
   * Which of the branch's role and database lists the write-through keeps exact (ProjectView.noteOwnOperations);
   * default 'all'. A mutation without a write-through leaves its operations to be seen as changes.
   */
  kept?: 'all' | 'roles';
}

const P = '/projects/{project_id}';
const BR = `${P}/branches/{branch_id}`;

export class NeonClient implements OperationsSource {
  readonly account: string;
  readonly baseUrl: string;
  readonly #scheduler: NeonScheduler;
  readonly #http: NeonHttp;
  readonly #ownedDispatcher: Dispatcher | undefined;
  readonly #reads: ReadCoalescer | undefined;
  readonly #view: ProjectView | undefined;

  constructor(options: NeonClientOptions) {
    if (!options.apiKey) throw new Error('NeonClient needs an API key');
    registerSecret(options.apiKey);
    this.account = options.account ?? accountKeyFor(options.apiKey);
    this.baseUrl = options.baseUrl ?? DEFAULT_NEON_BASE_URL;
    this.#scheduler = options.scheduler;
    this.#ownedDispatcher = options.dispatcher ? undefined : defaultNeonDispatcher();
    this.#http = new NeonHttp({
      baseUrl: this.baseUrl,
      apiKey: options.apiKey,
      clock: options.clock ?? systemClock,
      logger: options.logger?.child({ component: 'neon-client', account: this.account }),
      dispatcher: options.dispatcher ?? (this.#ownedDispatcher as Dispatcher),
      userAgent: options.userAgent ?? `neon-operator/${OPERATOR_VERSION}`,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    });
    this.#reads = options.readFreshMs !== undefined ? new ReadCoalescer({ clock: options.clock ?? systemClock, freshMs: options.readFreshMs }) : undefined;
    this.#view =
      options.viewMaxAgeMs !== undefined
        ? new ProjectView({
            clock: options.clock ?? systemClock,
            maxAgeMs: options.viewMaxAgeMs,
            operations: (projectId, page, signal) => this.listOperations(projectId, page, signal ? { signal } : undefined),
            ...(options.onProjectChanged ? { onChange: options.onProjectChanged } : {}),
          })
        : undefined;
    this.#scheduler.registerAccount(this.account, this);
  }

  /** What the project view holds, for a later process (undefined without a view). */
  viewSnapshot(): ViewSnapshot | undefined {
    return this.#view?.snapshot();
  }

  /** Takes what a snapshot holds of projects the view does not know yet; returns how many. */
  restoreView(snapshot: ViewSnapshot): number {
    return this.#view?.restore(snapshot) ?? 0;
  }

  /** Closes the keep-alive connections this client opened (not an injected dispatcher). */
  async close(): Promise<void> {
    await this.#ownedDispatcher?.close();
  }

  // ---- projects -------------------------------------------------------------------------------------

  createProject(project: ProjectCreateInput, o?: CallOptions): Promise<z.infer<typeof CreatedProjectResponse>> {
    return this.#mutate(
      {
        method: 'POST',
        route: '/projects',
        body: { project },
        schema: CreatedProjectResponse,
        operationsOf: (v) => v.operations,
        projectOf: (v) => v.project.id,
      },
      o,
      (v) => {
        const annotations = project.branch?.annotations;
        this.#view?.putCreatedProject(v.project.id, v, annotations ? { object: { type: 'console/branch', id: v.branch.id }, value: annotations } : undefined);
      },
    );
  }

  async getProject(projectId: string, o?: CallOptions): Promise<Project> {
    const v = await this.#read({ method: 'GET', route: P, params: { project_id: projectId }, schema: ProjectResponse, projectId }, o);
    return v.project;
  }

  /** One page of the account's projects; `pagination.cursor` continues it. */
  listProjects(
    q: { limit?: number; cursor?: string; search?: string; orgId?: string } = {},
    o?: CallOptions,
  ): Promise<z.infer<typeof ProjectsListResponse>> {
    return this.#read(
      {
        method: 'GET',
        route: '/projects',
        query: { limit: q.limit, cursor: q.cursor, search: q.search, org_id: q.orgId },
        schema: ProjectsListResponse,
      },
      o,
    );
  }

  /** Every project of the account, walking all pages (400 per page). */
  async listAllProjects(q: { search?: string; orgId?: string } = {}, o?: CallOptions): Promise<ProjectListItem[]> {
    const out: ProjectListItem[] = [];
    const pageSize = 400;
    let cursor: string | undefined;
    for (;;) {
      const page = await this.listProjects({ ...q, limit: pageSize, ...(cursor ? { cursor } : {}) }, o);
      out.push(...page.projects);
      const next = page.pagination?.cursor;
      if (page.projects.length < pageSize || !next || next === cursor) return out;
      cursor = next;
    }
  }

  updateProject(projectId: string, project: ProjectUpdateInput, o?: CallOptions): Promise<z.infer<typeof ProjectOperationsResponse>> {
    return this.#mutate(
      { method: 'PATCH', route: P, params: { project_id: projectId }, body: { project }, schema: ProjectOperationsResponse, projectId, operationsOf: (v) => v.operations },
      o,
    );
  }

  /** Deletes the project; resolves with its last state. Rejects NotFoundError when already gone. */
  async deleteProject(projectId: string, o?: CallOptions): Promise<Project> {
    const v = await this.#mutate({ method: 'DELETE', route: P, params: { project_id: projectId }, schema: ProjectResponse, projectId }, o, () => this.#view?.forget(projectId));
    return v.project;
  }

  // ---- branches -------------------------------------------------------------------------------------

  /** Creates a branch (with computes when `endpoints` is given) and stamps `annotations` on it. */
  createBranch(projectId: string, input: BranchCreateInput = {}, o?: CallOptions): Promise<z.infer<typeof CreatedBranchResponse>> {
    const body: Record<string, unknown> = {};
    if (input.branch) body['branch'] = input.branch;
    if (input.endpoints) body['endpoints'] = input.endpoints;
    if (input.annotations) body['annotation_value'] = input.annotations;
    const annotations = input.annotations;
    return this.#mutate(
      { method: 'POST', route: `${P}/branches`, params: { project_id: projectId }, body, schema: CreatedBranchResponse, projectId, operationsOf: (v) => v.operations },
      o,
      (v) => this.#view?.putCreatedBranch(projectId, v, annotations ? { object: { type: 'console/branch', id: v.branch.id }, value: annotations } : undefined),
    );
  }

  getBranch(projectId: string, branchId: string, o?: CallOptions): Promise<{ branch: Branch; annotation: Annotation }> {
    return this.#read({ method: 'GET', route: BR, params: { project_id: projectId, branch_id: branchId }, schema: BranchWithAnnotationResponse, projectId }, o);
  }

  /** One page of branches with their annotations (keyed by branch id); `pagination.next` continues it. */
  listBranches(projectId: string, q: ListBranchesInput = {}, o?: CallOptions): Promise<z.infer<typeof BranchesListResponse>> {
    return this.#read(
      {
        method: 'GET',
        route: `${P}/branches`,
        params: { project_id: projectId },
        query: { search: q.search, cursor: q.cursor, limit: q.limit, sort_by: q.sortBy, sort_order: q.sortOrder },
        schema: BranchesListResponse,
        projectId,
      },
      o,
    );
  }

  /** Every branch of the project with its annotation, walking all pages. */
  async listAllBranches(
    projectId: string,
    q: { search?: string; pageSize?: number } = {},
    o?: CallOptions,
  ): Promise<{ branches: Branch[]; annotations: Record<string, Annotation> }> {
    if (this.#view && !q.search) {
      const listed = await this.#view.branches(projectId, async () => {
        const all = await this.#listBranchPages(projectId, q);
        return all.branches.map((branch) => ({ branch, annotation: all.annotations[branch.id] }));
      }, o?.signal);
      return fromViewBranches(listed);
    }
    return this.#listBranchPages(projectId, q, o);
  }

  async #listBranchPages(
    projectId: string,
    q: { search?: string; pageSize?: number },
    o?: CallOptions,
  ): Promise<{ branches: Branch[]; annotations: Record<string, Annotation> }> {
    const branches: Branch[] = [];
    const annotations: Record<string, Annotation> = {};
    let cursor: string | undefined;
    for (;;) {
      const page = await this.listBranches(
        projectId,
        { ...(q.search ? { search: q.search } : {}), limit: q.pageSize ?? 1000, ...(cursor ? { cursor } : {}) },
        o,
      );
      branches.push(...page.branches);
      Object.assign(annotations, page.annotations);
      const next = page.pagination?.next;
      if (!next || next === cursor || page.branches.length === 0) return { branches, annotations };
      cursor = next;
    }
  }

  updateBranch(projectId: string, branchId: string, branch: BranchUpdateInput, o?: CallOptions): Promise<BranchOperationsResponse> {
    return this.#mutate(
      { method: 'PATCH', route: BR, params: { project_id: projectId, branch_id: branchId }, body: { branch }, schema: BranchOperationsResponse, projectId, operationsOf: (v) => v.operations },
      o,
      (v) => this.#view?.putBranch(projectId, v.branch, v.operations),
    );
  }

  /** Deletes a branch; `null` when it was already gone (204). */
  deleteBranch(projectId: string, branchId: string, o?: CallOptions): Promise<BranchOperationsResponse | null> {
    return this.#mutateMaybeGone(
      { method: 'DELETE', route: BR, params: { project_id: projectId, branch_id: branchId }, schema: BranchOperationsResponse, projectId, operationsOf: (v) => v.operations },
      o,
      () => this.#view?.removeBranch(projectId, branchId),
    );
  }

  // ---- anonymized branches (Beta in Neon's spec) ------------------------------------------------------

  /** Creates an anonymized branch (`branch_anonymized`) with its masking rules; `start` starts anonymization once it exists. */
  createAnonymizedBranch(
    projectId: string,
    input: BranchCreateInput & { maskingRules: MaskingRule[]; start: boolean },
    o?: CallOptions,
  ): Promise<z.infer<typeof CreatedBranchResponse>> {
    const branchCreate: Record<string, unknown> = {};
    if (input.branch) branchCreate['branch'] = input.branch;
    if (input.endpoints) branchCreate['endpoints'] = input.endpoints;
    const body: Record<string, unknown> = { branch_create: branchCreate, masking_rules: input.maskingRules, start_anonymization: input.start };
    if (input.annotations) body['annotation_value'] = input.annotations;
    return this.#mutate(
      { method: 'POST', route: `${P}/branch_anonymized`, params: { project_id: projectId }, body, schema: CreatedBranchResponse, projectId, operationsOf: (v) => v.operations },
      o,
    );
  }

  getAnonymizedStatus(projectId: string, branchId: string, o?: CallOptions): Promise<AnonymizedBranchStatus> {
    return this.#read({ method: 'GET', route: `${BR}/anonymized_status`, params: { project_id: projectId, branch_id: branchId }, schema: AnonymizedBranchStatus, projectId }, o);
  }

  async getMaskingRules(projectId: string, branchId: string, o?: CallOptions): Promise<MaskingRule[]> {
    const v = await this.#read({ method: 'GET', route: `${BR}/masking_rules`, params: { project_id: projectId, branch_id: branchId }, schema: MaskingRulesResponse, projectId }, o);
    return v.masking_rules;
  }

  /** Replaces every masking rule of an anonymized branch. */
  async updateMaskingRules(projectId: string, branchId: string, rules: MaskingRule[], o?: CallOptions): Promise<MaskingRule[]> {
    const v = await this.#mutate(
      { method: 'PATCH', route: `${BR}/masking_rules`, params: { project_id: projectId, branch_id: branchId }, body: { masking_rules: rules }, schema: MaskingRulesResponse, projectId },
      o,
    );
    return v.masking_rules;
  }

  /** Starts anonymization (Neon accepts it in the initialized, error or anonymized state). */
  startAnonymization(projectId: string, branchId: string, o?: CallOptions): Promise<AnonymizedBranchStatus> {
    return this.#mutate({ method: 'POST', route: `${BR}/anonymize`, params: { project_id: projectId, branch_id: branchId }, schema: AnonymizedBranchStatus, projectId }, o);
  }

  restoreBranch(projectId: string, branchId: string, input: BranchRestoreInput, o?: CallOptions): Promise<BranchOperationsResponse> {
    return this.#mutate(
      { method: 'POST', route: `${BR}/restore`, params: { project_id: projectId, branch_id: branchId }, body: input, schema: BranchOperationsResponse, projectId, operationsOf: (v) => v.operations },
      o,
      // A restore changes the branch's roles, databases and state, and may add a branch: read it all again.
      () => this.#view?.invalidate(projectId),
    );
  }

  // ---- endpoints ------------------------------------------------------------------------------------

  createEndpoint(projectId: string, endpoint: EndpointCreateInput, o?: CallOptions): Promise<EndpointOperationsResponse> {
    return this.#mutate(
      { method: 'POST', route: `${P}/endpoints`, params: { project_id: projectId }, body: { endpoint }, schema: EndpointOperationsResponse, projectId, operationsOf: (v) => v.operations },
      o,
      (v) => this.#view?.putEndpoint(projectId, v.endpoint, v.operations),
    );
  }

  async getEndpoint(projectId: string, endpointId: string, o?: CallOptions): Promise<Endpoint> {
    const v = await this.#read(
      { method: 'GET', route: `${P}/endpoints/{endpoint_id}`, params: { project_id: projectId, endpoint_id: endpointId }, schema: EndpointResponse, projectId },
      o,
    );
    return v.endpoint;
  }

  /** All endpoints of the project (not paginated by Neon). */
  async listEndpoints(projectId: string, o?: CallOptions): Promise<Endpoint[]> {
    if (this.#view) return this.#view.endpoints(projectId, () => this.#listEndpointsOnce(projectId, o), o?.signal);
    return this.#listEndpointsOnce(projectId, o);
  }

  async #listEndpointsOnce(projectId: string, o?: CallOptions): Promise<Endpoint[]> {
    const v = await this.#read({ method: 'GET', route: `${P}/endpoints`, params: { project_id: projectId }, schema: EndpointsListResponse, projectId }, o);
    return v.endpoints;
  }

  updateEndpoint(projectId: string, endpointId: string, endpoint: EndpointUpdateInput, o?: CallOptions): Promise<EndpointOperationsResponse> {
    return this.#mutate(
      {
        method: 'PATCH',
        route: `${P}/endpoints/{endpoint_id}`,
        params: { project_id: projectId, endpoint_id: endpointId },
        body: { endpoint },
        schema: EndpointOperationsResponse,
        projectId,
        operationsOf: (v) => v.operations,
      },
      o,
      (v) => this.#view?.putEndpoint(projectId, v.endpoint, v.operations),
    );
  }

  /** Deletes an endpoint; `null` when it was already gone (204). */
  deleteEndpoint(projectId: string, endpointId: string, o?: CallOptions): Promise<EndpointOperationsResponse | null> {
    return this.#mutateMaybeGone(
      { method: 'DELETE', route: `${P}/endpoints/{endpoint_id}`, params: { project_id: projectId, endpoint_id: endpointId }, schema: EndpointOperationsResponse, projectId, operationsOf: (v) => v.operations },
      o,
      () => this.#view?.removeEndpoint(projectId, endpointId),
    );
  }

  startEndpoint(projectId: string, endpointId: string, o?: CallOptions): Promise<EndpointOperationsResponse> {
    return this.#endpointAction(projectId, endpointId, 'start', o);
  }

  suspendEndpoint(projectId: string, endpointId: string, o?: CallOptions): Promise<EndpointOperationsResponse> {
    return this.#endpointAction(projectId, endpointId, 'suspend', o);
  }

  restartEndpoint(projectId: string, endpointId: string, o?: CallOptions): Promise<EndpointOperationsResponse> {
    return this.#endpointAction(projectId, endpointId, 'restart', o);
  }

  #endpointAction(projectId: string, endpointId: string, action: 'start' | 'suspend' | 'restart', o?: CallOptions): Promise<EndpointOperationsResponse> {
    return this.#mutate(
      {
        method: 'POST',
        route: `${P}/endpoints/{endpoint_id}/${action}`,
        params: { project_id: projectId, endpoint_id: endpointId },
        schema: EndpointOperationsResponse,
        projectId,
        operationsOf: (v) => v.operations,
      },
      o,
      (v) => this.#view?.putEndpoint(projectId, v.endpoint, v.operations),
    );
  }

  // ---- roles ----------------------------------------------------------------------------------------

  /** Creates a role; the answer's `role.password` is the only time Neon sends it unasked. */
  createRole(projectId: string, branchId: string, role: { name: string; no_login?: boolean }, o?: CallOptions): Promise<RoleOperationsResponse> {
    return this.#mutate(
      { method: 'POST', route: `${BR}/roles`, params: { project_id: projectId, branch_id: branchId }, body: { role }, schema: RoleOperationsResponse, projectId, operationsOf: (v) => v.operations },
      o,
      (v) => this.#view?.putRole(projectId, branchId, v.role),
    );
  }

  async listRoles(projectId: string, branchId: string, o?: CallOptions): Promise<Role[]> {
    if (this.#view) return this.#view.roles(projectId, branchId, () => this.#listRolesOnce(projectId, branchId, o), o?.signal);
    return this.#listRolesOnce(projectId, branchId, o);
  }

  async #listRolesOnce(projectId: string, branchId: string, o?: CallOptions): Promise<Role[]> {
    const v = await this.#read({ method: 'GET', route: `${BR}/roles`, params: { project_id: projectId, branch_id: branchId }, schema: RolesListResponse, projectId }, o);
    return v.roles;
  }

  async getRole(projectId: string, branchId: string, roleName: string, o?: CallOptions): Promise<Role> {
    const v = await this.#read(
      { method: 'GET', route: `${BR}/roles/{role_name}`, params: { project_id: projectId, branch_id: branchId, role_name: roleName }, schema: RoleResponse, projectId },
      o,
    );
    return v.role;
  }

  /** Deletes a role; `null` when it was already gone (204). */
  deleteRole(projectId: string, branchId: string, roleName: string, o?: CallOptions): Promise<RoleOperationsResponse | null> {
    return this.#mutateMaybeGone(
      {
        method: 'DELETE',
        route: `${BR}/roles/{role_name}`,
        params: { project_id: projectId, branch_id: branchId, role_name: roleName },
        schema: RoleOperationsResponse,
        projectId,
        operationsOf: (v) => v.operations,
        // Neon may drop the databases the role owned with it.
        kept: 'roles',
      },
      o,
      () => this.#view?.removeRole(projectId, branchId, roleName),
    );
  }

  /** The role's password. Rejects PreconditionFailedError (412) when the project does not store passwords. */
  async revealRolePassword(projectId: string, branchId: string, roleName: string, o?: CallOptions): Promise<string> {
    const v = await this.#read(
      {
        method: 'GET',
        route: `${BR}/roles/{role_name}/reveal_password`,
        params: { project_id: projectId, branch_id: branchId, role_name: roleName },
        schema: RolePasswordResponse,
        projectId,
      },
      o,
      false, // a password is never held for another caller
    );
    return v.password;
  }

  /** Sets a new generated password; the answer's `role.password` holds it. */
  resetRolePassword(projectId: string, branchId: string, roleName: string, o?: CallOptions): Promise<RoleOperationsResponse> {
    return this.#mutate(
      {
        method: 'POST',
        route: `${BR}/roles/{role_name}/reset_password`,
        params: { project_id: projectId, branch_id: branchId, role_name: roleName },
        schema: RoleOperationsResponse,
        projectId,
        operationsOf: (v) => v.operations,
      },
      o,
      (v) => this.#view?.putRole(projectId, branchId, v.role),
    );
  }

  // ---- databases ------------------------------------------------------------------------------------

  createDatabase(projectId: string, branchId: string, database: { name: string; owner_name: string }, o?: CallOptions): Promise<DatabaseOperationsResponse> {
    return this.#mutate(
      { method: 'POST', route: `${BR}/databases`, params: { project_id: projectId, branch_id: branchId }, body: { database }, schema: DatabaseOperationsResponse, projectId, operationsOf: (v) => v.operations },
      o,
      (v) => this.#view?.putDatabase(projectId, branchId, v.database),
    );
  }

  async listDatabases(projectId: string, branchId: string, o?: CallOptions): Promise<Database[]> {
    if (this.#view) return this.#view.databases(projectId, branchId, () => this.#listDatabasesOnce(projectId, branchId, o), o?.signal);
    return this.#listDatabasesOnce(projectId, branchId, o);
  }

  async #listDatabasesOnce(projectId: string, branchId: string, o?: CallOptions): Promise<Database[]> {
    const v = await this.#read({ method: 'GET', route: `${BR}/databases`, params: { project_id: projectId, branch_id: branchId }, schema: DatabasesListResponse, projectId }, o);
    return v.databases;
  }

  async getDatabase(projectId: string, branchId: string, databaseName: string, o?: CallOptions): Promise<Database> {
    const v = await this.#read(
      { method: 'GET', route: `${BR}/databases/{database_name}`, params: { project_id: projectId, branch_id: branchId, database_name: databaseName }, schema: DatabaseResponse, projectId },
      o,
    );
    return v.database;
  }

  updateDatabase(
    projectId: string,
    branchId: string,
    databaseName: string,
    database: { name?: string; owner_name?: string },
    o?: CallOptions,
  ): Promise<DatabaseOperationsResponse> {
    return this.#mutate(
      {
        method: 'PATCH',
        route: `${BR}/databases/{database_name}`,
        params: { project_id: projectId, branch_id: branchId, database_name: databaseName },
        body: { database },
        schema: DatabaseOperationsResponse,
        projectId,
        operationsOf: (v) => v.operations,
      },
      o,
      (v) => this.#view?.putDatabase(projectId, branchId, v.database, databaseName),
    );
  }

  /** Deletes a database; `null` when it was already gone (204). */
  deleteDatabase(projectId: string, branchId: string, databaseName: string, o?: CallOptions): Promise<DatabaseOperationsResponse | null> {
    return this.#mutateMaybeGone(
      {
        method: 'DELETE',
        route: `${BR}/databases/{database_name}`,
        params: { project_id: projectId, branch_id: branchId, database_name: databaseName },
        schema: DatabaseOperationsResponse,
        projectId,
        operationsOf: (v) => v.operations,
      },
      o,
      () => this.#view?.removeDatabase(projectId, branchId, databaseName),
    );
  }

  // ---- operations and connection URIs ---------------------------------------------------------------

  async getOperation(projectId: string, operationId: string, o?: CallOptions): Promise<Operation> {
    const v = await this.#read(
      { method: 'GET', route: `${P}/operations/{operation_id}`, params: { project_id: projectId, operation_id: operationId }, schema: OperationResponse, projectId },
      o,
      false, // polled for progress: every answer must be new
    );
    return v.operation;
  }

  /** One page of the project's operations, newest first. */
  listOperations(projectId: string, q: { limit?: number; cursor?: string } = {}, o?: CallOptions): Promise<z.infer<typeof OperationsListResponse>> {
    return this.#read(
      { method: 'GET', route: `${P}/operations`, params: { project_id: projectId }, query: { limit: q.limit, cursor: q.cursor }, schema: OperationsListResponse, projectId },
      o,
      false, // polled for progress: every answer must be new
    );
  }

  /**
   * Waits until the given operations (ids or the objects a mutation returned) have ended. Polls are
   * shared with every other waiter on the project. Rejects OperationFailedError on failed/error/cancelled.
   */
  async waitForOperations(projectId: string, operations: ReadonlyArray<string | Operation>, o?: CallOptions): Promise<Operation[]> {
    try {
      const ended = await this.#scheduler.waitForOperations(this.account, projectId, operations, o?.signal);
      this.#view?.settle(projectId, ended);
      return ended;
    } catch (err) {
      // A failed operation (or a wait given up) leaves the project in a state the view cannot infer.
      this.#view?.invalidate(projectId);
      throw err;
    } finally {
      // Their end changed the project (a branch ready, a compute started): earlier reads are stale.
      this.#reads?.invalidate(projectId);
    }
  }

  /** A connection URI (with the role's password: never log it). `pooled` selects the `-pooler` host. */
  async connectionUri(projectId: string, q: ConnectionUriInput, o?: CallOptions): Promise<string> {
    const v = await this.#read(
      {
        method: 'GET',
        route: `${P}/connection_uri`,
        params: { project_id: projectId },
        query: { database_name: q.databaseName, role_name: q.roleName, branch_id: q.branchId, endpoint_id: q.endpointId, pooled: q.pooled },
        schema: ConnectionUriResponse,
        projectId,
      },
      o,
      false, // carries a password
    );
    return v.uri;
  }

  // ---- plumbing -------------------------------------------------------------------------------------

  /** A read; one of a project (not a password) is shared with identical reads through the ReadCoalescer. */
  #read<S extends z.ZodType>(c: Call<S>, o?: CallOptions, shared = true): Promise<z.infer<S>> {
    if (!shared || !this.#reads || c.projectId === undefined) return this.#run(c, 'read', false, o) as Promise<z.infer<S>>;
    const key = JSON.stringify([c.route, c.params, c.query]);
    return this.#reads.read(c.projectId, key, () => this.#run(c, 'read', false) as Promise<z.infer<S>>, o?.signal);
  }

  /** A mutation; `written` puts its answer into the project view (write-through). */
  #mutate<S extends z.ZodType>(c: Call<S>, o?: CallOptions, written?: (v: z.infer<S>) => void): Promise<z.infer<S>> {
    return this.#changing(c, () => this.#run(c, 'mutation', false, o) as Promise<z.infer<S>>, written);
  }

  /** A DELETE; `written` runs for a deletion and for a resource that was already gone (204). */
  #mutateMaybeGone<S extends z.ZodType>(c: Call<S>, o?: CallOptions, written?: () => void): Promise<z.infer<S> | null> {
    return this.#changing(c, () => this.#run(c, 'mutation', true, o), written);
  }

  /**
   * Runs a mutation; what was read of its project before or while it ran is not served afterwards by the
   * ReadCoalescer. The project view takes the answer instead, and forgets the project when the mutation
   * fails: a 404, a 409 or an unknown outcome means the view was wrong or may be.
   */
  async #changing<T>(c: Call<z.ZodType>, send: () => Promise<T>, written?: (v: T) => void): Promise<T> {
    if (c.projectId !== undefined) this.#reads?.invalidate(c.projectId);
    try {
      const answer = await send();
      if (written) {
        written(answer);
        const projectId = c.projectOf && answer !== null ? c.projectOf(answer) : c.projectId;
        if (projectId !== undefined && answer !== null && c.operationsOf) this.#view?.noteOwnOperations(projectId, c.operationsOf(answer), c.kept);
      }
      return answer;
    } catch (err) {
      if (c.projectId !== undefined) this.#view?.invalidate(c.projectId);
      throw err;
    } finally {
      if (c.projectId !== undefined) this.#reads?.invalidate(c.projectId);
    }
  }

  #run<S extends z.ZodType>(c: Call<S>, kind: CallKind, allowNoContent: boolean, o?: CallOptions): Promise<z.infer<S> | null> {
    return this.#scheduler.run({
      account: this.account,
      projectId: c.projectId,
      kind,
      method: c.method,
      route: c.route,
      signal: o?.signal,
      attempt: async (attempt) => {
        const answer = await this.#http.send({
          method: c.method,
          route: c.route,
          schema: c.schema,
          attempt,
          allowNoContent,
          projectId: c.projectId,
          signal: o?.signal,
          ...(c.params ? { params: c.params } : {}),
          ...(c.query ? { query: c.query } : {}),
          ...(c.body !== undefined ? { body: c.body } : {}),
        });
        const value = answer.value;
        return {
          value,
          status: answer.status,
          requestId: answer.requestId,
          ...(value !== null && c.operationsOf ? { operations: c.operationsOf(value) } : {}),
          ...(value !== null && c.projectOf ? { projectId: c.projectOf(value) } : {}),
        };
      },
    });
  }
}

function fromViewBranches(listed: readonly ViewBranch[]): { branches: Branch[]; annotations: Record<string, Annotation> } {
  const annotations: Record<string, Annotation> = {};
  for (const { branch, annotation } of listed) if (annotation) annotations[branch.id] = annotation;
  return { branches: listed.map((b) => b.branch), annotations };
}
