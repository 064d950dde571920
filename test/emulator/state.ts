import type { Clock } from '../../src/clock.ts';
import { NeonIds, SeededRandom } from './random.ts';
import type { NeonPlan } from './refusals.ts';

/**
 * The emulator's in-memory world. Tests may read and change it directly to simulate "a change made
 * behind the operator's back" (someone deleting a branch in the console, a password reset, …).
 * Times are epoch milliseconds of the injected clock; statuses of operations, branches and endpoints
 * are derived lazily from that clock, so nothing runs in the background and runs are deterministic.
 */

export type OperationAction =
  | 'create_timeline'
  | 'create_branch'
  | 'start_compute'
  | 'suspend_compute'
  | 'apply_config'
  | 'delete_timeline';

export type OperationStatus =
  | 'scheduling'
  | 'running'
  | 'finished'
  | 'failed'
  | 'error'
  | 'cancelling'
  | 'cancelled'
  | 'skipped';

/** How an operation ends once its time is up. */
export type OperationOutcome = 'finished' | 'failed' | 'error';

export interface OperationRecord {
  id: string;
  projectId: string;
  branchId?: string;
  endpointId?: string;
  action: OperationAction;
  createdAt: number;
  /** Before this instant the operation is `scheduling` (queued behind earlier ones). */
  startAt: number;
  /** From this instant the operation is terminal with `outcome`. */
  endAt: number;
  outcome: OperationOutcome;
  error?: string;
  failuresCount: number;
}

export type EndpointCurrentState = 'init' | 'active' | 'idle';

export interface EndpointRecord {
  id: string;
  projectId: string;
  branchId: string;
  name?: string;
  type: 'read_write' | 'read_only';
  regionId: string;
  minCu: number;
  maxCu: number;
  suspendTimeoutSeconds: number;
  disabled: boolean;
  poolerEnabled: boolean;
  passwordlessAccess: boolean;
  provisioner: string;
  settings: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
  currentState: EndpointCurrentState;
  /** A transition in progress: becomes `currentState` when the operation finishes. */
  pending?: { target: EndpointCurrentState; operationId: string };
  startedAt?: number;
  suspendedAt?: number;
  lastActive?: number;
}

export interface RoleRecord {
  name: string;
  password: string;
  protected: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface DatabaseRecord {
  id: number;
  name: string;
  ownerName: string;
  createdAt: number;
  updatedAt: number;
}

export interface BranchRecord {
  id: string;
  projectId: string;
  name: string;
  parentId?: string;
  parentLsn?: string;
  isDefault: boolean;
  protected: boolean;
  createdAt: number;
  updatedAt: number;
  stateChangedAt: number;
  currentState: 'init' | 'ready';
  /** The operation whose end makes the branch `ready`. */
  readyOperationId?: string;
  lastResetAt?: number;
  expiresAt?: string;
  annotations: Record<string, string>;
  annotationsCreatedAt: number;
  annotationsUpdatedAt: number;
  roles: Map<string, RoleRecord>;
  databases: Map<string, DatabaseRecord>;
}

/**
 * A restore the API applied: `branchId` now holds `sourceId`'s data. A branch kept under
 * `preserve_under_name` (`preservedId`) takes the branch's old place in the tree (it becomes its parent) and
 * starts from the data before the restore.
 */
export interface RestoreEvent {
  branchId: string;
  sourceId: string;
  preservedId?: string;
}

export interface ProjectRecord {
  id: string;
  account: string;
  name: string;
  regionId: string;
  pgVersion: number;
  storePasswords: boolean;
  historyRetentionSeconds: number;
  provisioner: string;
  settings: Record<string, unknown>;
  defaultEndpointSettings: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
  branches: Map<string, BranchRecord>;
  endpoints: Map<string, EndpointRecord>;
  /** In creation order (oldest first). */
  operations: OperationRecord[];
}

/** Default durations (ms) per operation action, near what Neon's own examples show. */
export const DEFAULT_DURATIONS: Readonly<Record<OperationAction, number>> = {
  create_timeline: 3000,
  create_branch: 136,
  start_compute: 2000,
  suspend_compute: 500,
  apply_config: 60,
  delete_timeline: 300,
};

export const IN_FLIGHT: ReadonlySet<OperationStatus> = new Set(['scheduling', 'running', 'cancelling']);

export interface StateOptions {
  clock: Clock;
  seed: number;
  durations: Partial<Record<string, number>>;
  storePasswords: boolean;
  regionId: string;
  regionHost: string;
  /** The account's plan: bounds the history window (refusals.ts). */
  plan: NeonPlan;
  /** Decides, per new operation, whether it fails; set by the fault layer. */
  operationFailure: () => OperationOutcome;
}

export class EmulatorState {
  /** Every project of every account, keyed by project id. */
  readonly projects = new Map<string, ProjectRecord>();
  readonly ids: NeonIds;
  readonly clock: Clock;
  readonly regionId: string;
  readonly regionHost: string;
  readonly storePasswordsDefault: boolean;
  /** Changeable at run time, like an account that changes plans. */
  plan: NeonPlan;
  durations: Partial<Record<string, number>>;
  operationFailure: () => OperationOutcome;
  /** Told of every restore; set by the optional Postgres data plane, which copies the data. */
  onRestore: ((e: RestoreEvent) => void) | undefined;

  constructor(opts: StateOptions) {
    this.clock = opts.clock;
    this.ids = new NeonIds(new SeededRandom(opts.seed));
    this.durations = opts.durations;
    this.storePasswordsDefault = opts.storePasswords;
    this.regionId = opts.regionId;
    this.regionHost = opts.regionHost;
    this.plan = opts.plan;
    this.operationFailure = opts.operationFailure;
  }

  now(): number {
    return this.clock.now();
  }

  /** The project if it exists and belongs to `account`; other accounts' projects are invisible. */
  project(account: string, id: string): ProjectRecord | undefined {
    const p = this.projects.get(id);
    return p && p.account === account ? p : undefined;
  }

  projectsOf(account: string): ProjectRecord[] {
    return [...this.projects.values()].filter((p) => p.account === account);
  }

  /** Finds a branch in any project (for tests). */
  findBranch(branchId: string): BranchRecord | undefined {
    for (const p of this.projects.values()) {
      const b = p.branches.get(branchId);
      if (b) return b;
    }
    return undefined;
  }

  /** Finds an endpoint in any project (for tests). */
  findEndpoint(endpointId: string): EndpointRecord | undefined {
    for (const p of this.projects.values()) {
      const e = p.endpoints.get(endpointId);
      if (e) return e;
    }
    return undefined;
  }

  durationOf(action: OperationAction): number {
    return Math.max(0, this.durations[action] ?? DEFAULT_DURATIONS[action]);
  }

  /**
   * Queues a new operation. Operations of one project run one after another, as Neon's do: a new one
   * starts when the project's last one ends.
   */
  addOperation(
    project: ProjectRecord,
    action: OperationAction,
    refs: { branchId?: string; endpointId?: string } = {},
  ): OperationRecord {
    const now = this.now();
    const last = project.operations.at(-1);
    const startAt = Math.max(now, last ? last.endAt : now);
    const outcome = this.operationFailure();
    const op: OperationRecord = {
      id: this.ids.uuid(),
      projectId: project.id,
      action,
      createdAt: now,
      startAt,
      endAt: startAt + this.durationOf(action),
      outcome,
      failuresCount: outcome === 'finished' ? 0 : 1,
      ...(refs.branchId !== undefined ? { branchId: refs.branchId } : {}),
      ...(refs.endpointId !== undefined ? { endpointId: refs.endpointId } : {}),
      ...(outcome !== 'finished' ? { error: `emulated ${action} failure` } : {}),
    };
    project.operations.push(op);
    return op;
  }

  operationStatus(op: OperationRecord, now = this.now()): OperationStatus {
    if (now < op.startAt) return 'scheduling';
    if (now < op.endAt) return 'running';
    return op.outcome;
  }

  /** In-flight operations of a project: a mutation arriving now conflicts with them (423). */
  inFlight(project: ProjectRecord, now = this.now()): OperationRecord[] {
    return project.operations.filter((op) => IN_FLIGHT.has(this.operationStatus(op, now)));
  }

  operation(project: ProjectRecord, id: string): OperationRecord | undefined {
    return project.operations.find((op) => op.id === id);
  }

  /** Applies finished transitions to a branch (init → ready). Idempotent. */
  settleBranch(project: ProjectRecord, branch: BranchRecord, now = this.now()): BranchRecord {
    if (branch.readyOperationId !== undefined) {
      const op = this.operation(project, branch.readyOperationId);
      const status = op ? this.operationStatus(op, now) : 'finished';
      if (!op || !IN_FLIGHT.has(status)) {
        // A failed timeline creation still leaves a usable branch in the emulator; the failure is
        // visible in the operation, which is what a client must notice.
        branch.currentState = 'ready';
        branch.stateChangedAt = op ? op.endAt : now;
        delete branch.readyOperationId;
      }
    }
    return branch;
  }

  /** Applies a finished endpoint transition (init/idle → active, active → idle). Idempotent. */
  settleEndpoint(project: ProjectRecord, ep: EndpointRecord, now = this.now()): EndpointRecord {
    const pending = ep.pending;
    if (pending) {
      const op = this.operation(project, pending.operationId);
      const status = op ? this.operationStatus(op, now) : 'finished';
      if (!op || !IN_FLIGHT.has(status)) {
        const at = op ? op.endAt : now;
        if (status === 'finished') {
          ep.currentState = pending.target;
          if (pending.target === 'active') {
            ep.startedAt = at;
            ep.lastActive = at;
          } else if (pending.target === 'idle') {
            ep.suspendedAt = at;
          }
        } else if (ep.currentState === 'init') {
          ep.currentState = 'idle';
        }
        delete ep.pending;
      }
    }
    return ep;
  }

  settleProject(project: ProjectRecord, now = this.now()): void {
    for (const b of project.branches.values()) this.settleBranch(project, b, now);
    for (const e of project.endpoints.values()) this.settleEndpoint(project, e, now);
  }

  /** Creates a project with Neon's defaults: branch `main`, role `neondb_owner`, database `neondb`, one read_write endpoint. */
  createProject(
    account: string,
    input: {
      name?: string;
      regionId?: string;
      pgVersion?: number;
      storePasswords?: boolean;
      historyRetentionSeconds?: number;
      branchName?: string;
      roleName?: string;
      databaseName?: string;
      annotations?: Record<string, string>;
      settings?: Record<string, unknown>;
      defaultEndpointSettings?: Record<string, unknown>;
    } = {},
  ): { project: ProjectRecord; branch: BranchRecord; endpoint: EndpointRecord; operations: OperationRecord[] } {
    const now = this.now();
    const id = this.ids.project();
    const defaults = {
      autoscaling_limit_min_cu: 0.25,
      autoscaling_limit_max_cu: 0.25,
      suspend_timeout_seconds: 0,
      ...input.defaultEndpointSettings,
    };
    const project: ProjectRecord = {
      id,
      account,
      name: input.name ?? id,
      regionId: input.regionId ?? this.regionId,
      pgVersion: input.pgVersion ?? 17,
      storePasswords: input.storePasswords ?? this.storePasswordsDefault,
      historyRetentionSeconds: input.historyRetentionSeconds ?? 86400,
      provisioner: 'k8s-neonvm',
      settings: {
        allowed_ips: { ips: [], protected_branches_only: false },
        enable_logical_replication: false,
        block_public_connections: false,
        block_vpc_connections: false,
        hipaa: false,
        ...input.settings,
      },
      defaultEndpointSettings: defaults,
      createdAt: now,
      updatedAt: now,
      branches: new Map(),
      endpoints: new Map(),
      operations: [],
    };
    this.projects.set(id, project);
    const databaseName = input.databaseName ?? 'neondb';
    const roleName = input.roleName ?? `${databaseName}_owner`;
    const branch = this.newBranch(project, {
      name: input.branchName ?? 'main',
      isDefault: true,
      annotations: input.annotations ?? {},
    });
    branch.roles.set(roleName, this.newRole(roleName));
    branch.databases.set(databaseName, this.newDatabase(databaseName, roleName));
    const createTimeline = this.addOperation(project, 'create_timeline', { branchId: branch.id });
    branch.readyOperationId = createTimeline.id;
    const endpoint = this.newEndpoint(project, branch, { type: 'read_write' });
    const start = this.startCompute(project, endpoint);
    return { project, branch, endpoint, operations: [createTimeline, start] };
  }

  newBranch(
    project: ProjectRecord,
    input: { name?: string; parentId?: string; isDefault?: boolean; protected?: boolean; annotations?: Record<string, string>; expiresAt?: string },
  ): BranchRecord {
    const now = this.now();
    const id = this.ids.branch();
    const branch: BranchRecord = {
      id,
      projectId: project.id,
      name: input.name ?? id,
      isDefault: input.isDefault ?? false,
      protected: input.protected ?? false,
      createdAt: now,
      updatedAt: now,
      stateChangedAt: now,
      currentState: 'init',
      annotations: { ...input.annotations },
      annotationsCreatedAt: now,
      annotationsUpdatedAt: now,
      roles: new Map(),
      databases: new Map(),
      ...(input.parentId !== undefined ? { parentId: input.parentId, parentLsn: '0/1F7C5A8' } : {}),
      ...(input.expiresAt !== undefined ? { expiresAt: input.expiresAt } : {}),
    };
    project.branches.set(id, branch);
    return branch;
  }

  newRole(name: string): RoleRecord {
    const now = this.now();
    return { name, password: this.ids.password(), protected: false, createdAt: now, updatedAt: now };
  }

  newDatabase(name: string, ownerName: string): DatabaseRecord {
    const now = this.now();
    return { id: this.ids.databaseId(), name, ownerName, createdAt: now, updatedAt: now };
  }

  newEndpoint(
    project: ProjectRecord,
    branch: BranchRecord,
    input: {
      type: 'read_write' | 'read_only';
      name?: string;
      minCu?: number;
      maxCu?: number;
      suspendTimeoutSeconds?: number;
      disabled?: boolean;
      poolerEnabled?: boolean;
      passwordlessAccess?: boolean;
      provisioner?: string;
      settings?: Record<string, unknown>;
    },
  ): EndpointRecord {
    const now = this.now();
    const d = project.defaultEndpointSettings;
    const num = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);
    const ep: EndpointRecord = {
      id: this.ids.endpoint(),
      projectId: project.id,
      branchId: branch.id,
      type: input.type,
      regionId: project.regionId,
      minCu: input.minCu ?? num(d['autoscaling_limit_min_cu'], 0.25),
      maxCu: input.maxCu ?? num(d['autoscaling_limit_max_cu'], 0.25),
      suspendTimeoutSeconds: input.suspendTimeoutSeconds ?? num(d['suspend_timeout_seconds'], 0),
      disabled: input.disabled ?? false,
      poolerEnabled: input.poolerEnabled ?? false,
      passwordlessAccess: input.passwordlessAccess ?? true,
      provisioner: input.provisioner ?? project.provisioner,
      settings: input.settings ?? {},
      createdAt: now,
      updatedAt: now,
      currentState: 'init',
      ...(input.name !== undefined ? { name: input.name } : {}),
    };
    project.endpoints.set(ep.id, ep);
    return ep;
  }

  /** Queues start_compute for an endpoint and marks it pending active. */
  startCompute(project: ProjectRecord, ep: EndpointRecord): OperationRecord {
    const op = this.addOperation(project, 'start_compute', { branchId: ep.branchId, endpointId: ep.id });
    ep.pending = { target: 'active', operationId: op.id };
    ep.updatedAt = this.now();
    return op;
  }

  /** Queues suspend_compute for an endpoint and marks it pending idle. */
  suspendCompute(project: ProjectRecord, ep: EndpointRecord): OperationRecord {
    const op = this.addOperation(project, 'suspend_compute', { branchId: ep.branchId, endpointId: ep.id });
    ep.pending = { target: 'idle', operationId: op.id };
    ep.updatedAt = this.now();
    return op;
  }

  /** The read_write endpoint of a branch, if any. */
  readWriteEndpoint(project: ProjectRecord, branchId: string): EndpointRecord | undefined {
    for (const e of project.endpoints.values()) if (e.branchId === branchId && e.type === 'read_write') return e;
    return undefined;
  }

  endpointsOfBranch(project: ProjectRecord, branchId: string): EndpointRecord[] {
    return [...project.endpoints.values()].filter((e) => e.branchId === branchId);
  }

  /** apply_config on the branch's compute (if it has one), as role and database changes do. */
  applyConfig(project: ProjectRecord, branch: BranchRecord): OperationRecord {
    const ep = this.readWriteEndpoint(project, branch.id);
    return this.addOperation(project, 'apply_config', {
      branchId: branch.id,
      ...(ep ? { endpointId: ep.id } : {}),
    });
  }

  host(ep: EndpointRecord, pooled = false): string {
    return `${ep.id}${pooled ? '-pooler' : ''}.${this.regionHost}`;
  }
}
