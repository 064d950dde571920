import type { Clock } from '../clock.ts';
import { waitAbortably } from './abortable-wait.ts';
import { successStatuses, type Annotation, type Branch, type Database, type Endpoint, type Operation, type Role } from './schemas.ts';

/** A branch as the view holds it: the branch and its annotation (Neon lists them side by side). */
export interface ViewBranch {
  branch: Branch;
  annotation?: Annotation | undefined;
}

type ListName = 'branches' | 'endpoints' | `roles/${string}` | `databases/${string}`;

interface ListEntry<T> {
  /** What the last refresh returned, kept up to date by write-through; undefined: not known. */
  items: Map<string, T> | undefined;
  /** When the request that produced `items` was sent. */
  at: number;
  /** A refresh in flight, and the write-throughs made while it runs (replayed onto its answer). */
  refresh?: { promise: Promise<Map<string, T>>; journal: Array<(items: Map<string, T>) => void> } | undefined;
}

interface ProjectState {
  lists: Map<ListName, ListEntry<unknown>>;
  /** Operation id → the entries (list and key) whose answer carried it, to settle them when it ends. */
  opsTouching: Map<string, Array<{ list: ListName; key: string }>>;
  /** What the project's operations said so far (see ChangeSignal); undefined until the first check. */
  signal?: ChangeSignal | undefined;
  /** A check of the operations in flight, joined by every reader. */
  checking?: Promise<boolean> | undefined;
  /**
   * Operations the operator's own mutations started, with when their answer arrived and which of the
   * branch's lists the answer was written through to ('all': its roles and databases are still exact).
   */
  own: Map<string, { at: number; kept: 'all' | 'roles' }>;
}

/**
 * Neon starts an operation for every change of a branch's roles or databases (`apply_config`, on the branch's
 * compute), whoever makes it. The view reads the project's operations (newest first) once per `maxAgeMs`; a
 * branch with an operation it did not start itself has its role and database lists read again. Lists read
 * after the first check therefore stay valid without reading them every `maxAgeMs`.
 */
interface ChangeSignal {
  /** Local time the first check was sent: lists read (or written whole) since then are covered. */
  since: number;
  /** Neon's creation time (ms) of the newest operation the first check saw: anything older is before `since`. */
  baseline: number;
  /** Local time the last completed check was sent. */
  checkedAt: number;
  /** The newest creation time (ms) seen by any check. */
  newest: number;
  /** Operations already looked at, id → creation time (pruned to the overlap window). */
  seen: Map<string, number>;
}

/** Operations that start or suspend a compute and change nothing a list of roles or databases holds. */
const COMPUTE_ONLY_ACTIONS: ReadonlySet<string> = new Set(['start_compute', 'suspend_compute']);
/**
 * Operations on the first page a check reads (the operations list answers newest first): a check once per max
 * age normally finds a handful. Further pages, needed only to reach back far (after a restart), are larger.
 */
const OPERATIONS_PAGE = 100;
const OPERATIONS_NEXT_PAGE = 1_000;
/** A check reads at most this many pages; when it cannot reach what the last check saw, it trusts nothing. */
const OPERATIONS_MAX_PAGES = 10;
/** How far below the newest operation seen a check still reads, for operations that became visible late. */
const OPERATIONS_OVERLAP_MS = 60_000;

/** One page of a project's operations, newest first (`GET /projects/{id}/operations`). */
export type OperationsPage = (
  projectId: string,
  page: { limit: number; cursor?: string },
  signal?: AbortSignal,
) => Promise<{ operations: readonly Operation[]; pagination?: { cursor: string } | undefined }>;

/**
 * What the view knows of its projects, as plain JSON: what a restarted operator starts from (ProjectView.restore)
 * so that it need not read every branch's roles and databases again. It holds no secret (passwords are never
 * in the view).
 */
export interface ViewSnapshot {
  version: 1;
  projects: Record<string, ProjectSnapshot>;
}

interface ProjectSnapshot {
  /** ChangeSignal with `seen` as pairs; null stands for −∞. */
  signal: { since: number | null; baseline: number | null; checkedAt: number | null; newest: number | null; seen: Array<[string, number]> };
  own: Array<[string, number, 'all' | 'roles']>;
  lists: Array<{ name: ListName; at: number | null; entries: Array<[string, unknown]> }>;
}

export interface ProjectViewOptions {
  clock: Clock;
  maxAgeMs: number;
  /** Reads the project's operations: with it, role and database lists are kept by the change signal. */
  operations?: OperationsPage;
  /**
   * Called when a refresh finds that something in the project changed that the operator did not do (a
   * branch or compute that differs from the last read, or an operation it did not start), so the objects of
   * that project can be looked at again at once instead of at their next resync.
   */
  onChange?: (projectId: string) => void;
}

/** Anything the view settles when its operations end: Neon reports the state a transition goes to. */
interface Transitioning {
  current_state: string;
  pending_state?: string | undefined;
}

/**
 * The operator's view of Neon, per project, shared by every reconciler of one account: one refresh of a
 * project's branch list (with annotations), endpoint list, and a branch's roles and databases serves every
 * object that reads them, and identical refreshes in flight are joined.
 *
 * Freshness. A list is served for `maxAgeMs` after the request that fetched it was sent. Within that time
 * it follows the operator's own changes without another read: every mutation answer is written through
 * (a created, updated or deleted branch, compute, role or database, and what a branch create returns with
 * it), and when the operations of an answer end, the objects they touched take the state Neon announced
 * as `pending_state` (a branch `init` → `ready`, a compute `init` → `active`). What changes it otherwise:
 * - a mutation that fails (404, 409, a refusal, an unknown outcome) forgets the whole project, so the next
 *   read asks Neon;
 * - an operation that ends in failure forgets the lists its object is in;
 * - a branch restore forgets the project (it changes roles, databases and states at once);
 * - changes made outside the operator are seen when a list is next refreshed, at most `maxAgeMs` later;
 *   a refresh that finds one calls `onChange`.
 *
 * Role and database lists are kept longer, by the change signal (see ChangeSignal): for a branch that has a
 * compute, a list read after the project's first check of operations is served for as long as the checks,
 * one per `maxAgeMs`, find no operation on that branch that the operator did not start. A branch without a
 * compute (where Neon may start no operation for such a change) has its lists read every `maxAgeMs`.
 *
 * Nothing secret is held: role passwords are removed before a role is stored.
 */
export class ProjectView {
  readonly #clock: Clock;
  readonly #maxAgeMs: number;
  readonly #operations: OperationsPage | undefined;
  readonly #onChange: ((projectId: string) => void) | undefined;
  readonly #projects = new Map<string, ProjectState>();

  constructor(options: ProjectViewOptions) {
    this.#clock = options.clock;
    this.#maxAgeMs = options.maxAgeMs;
    this.#operations = options.operations;
    this.#onChange = options.onChange;
  }

  // ---- reads ------------------------------------------------------------------------------------------

  /** Every branch of the project with its annotation. `fetch` lists them from Neon when the view cannot answer. */
  async branches(projectId: string, fetch: () => Promise<ViewBranch[]>, signal?: AbortSignal): Promise<ViewBranch[]> {
    const checking = this.#checkOperations(projectId, signal);
    if (checking) await checking;
    return this.#read(projectId, 'branches', async () => byKey(await fetch(), (b) => b.branch.id), signal);
  }

  async endpoints(projectId: string, fetch: () => Promise<Endpoint[]>, signal?: AbortSignal): Promise<Endpoint[]> {
    const checking = this.#checkOperations(projectId, signal);
    if (checking) await checking;
    return this.#read(projectId, 'endpoints', async () => byKey(await fetch(), (e) => e.id), signal);
  }

  async roles(projectId: string, branchId: string, fetch: () => Promise<Role[]>, signal?: AbortSignal): Promise<Role[]> {
    return this.#readBranchList(projectId, branchId, `roles/${branchId}`, async () => byKey((await fetch()).map(withoutPassword), (r) => r.name), signal);
  }

  async databases(projectId: string, branchId: string, fetch: () => Promise<Database[]>, signal?: AbortSignal): Promise<Database[]> {
    return this.#readBranchList(projectId, branchId, `databases/${branchId}`, async () => byKey(await fetch(), (d) => d.name), signal);
  }

  /**
   * Operations a mutation of the operator's own started. `kept` says which of the branch's lists its answer
   * was written through to: 'all' when the change leaves the other list as it was, 'roles' when it may also
   * have changed the branch's databases (a role deleted with the databases it owned).
   */
  noteOwnOperations(projectId: string, operations: readonly Operation[], kept: 'all' | 'roles' = 'all'): void {
    if (operations.length === 0 || !this.#operations) return;
    const own = this.#state(projectId).own;
    const at = this.#clock.now();
    for (const op of operations) own.set(op.id, { at, kept });
  }

  // ---- write-through ----------------------------------------------------------------------------------

  /** A branch a create or update answered with; `operations` settle it when they end. */
  putBranch(projectId: string, branch: Branch, operations: readonly Operation[] = [], annotation?: Annotation): void {
    this.#write<ViewBranch>(projectId, 'branches', (items) => {
      const kept = items.get(branch.id)?.annotation;
      items.set(branch.id, { branch, annotation: annotation ?? kept });
    });
    this.#track(projectId, operations, 'branches', branch.id);
  }

  /**
   * What a branch create answered: the branch, its computes, and its complete role and database lists (a
   * new branch has exactly the roles and databases it was answered with).
   */
  putCreatedBranch(
    projectId: string,
    answer: { branch: Branch; endpoints?: Endpoint[]; roles?: Role[]; databases?: Database[]; operations: readonly Operation[] },
    annotation?: Annotation,
  ): void {
    this.putBranch(projectId, answer.branch, answer.operations, annotation);
    for (const ep of answer.endpoints ?? []) this.putEndpoint(projectId, ep, answer.operations);
    if (answer.roles) this.#replace(projectId, `roles/${answer.branch.id}`, byKey(answer.roles.map(withoutPassword), (r) => r.name));
    if (answer.databases) this.#replace(projectId, `databases/${answer.branch.id}`, byKey(answer.databases, (d) => d.name));
  }

  /**
   * What a project create answered: its only branch (with the annotation the create asked for), computes, roles
   * and databases, complete lists all.
   */
  putCreatedProject(
    projectId: string,
    answer: { branch: Branch; endpoints: Endpoint[]; roles: Role[]; databases: Database[]; operations: readonly Operation[] },
    annotation?: Annotation,
  ): void {
    this.#replace(projectId, 'branches', new Map());
    this.#replace(projectId, 'endpoints', new Map());
    this.putCreatedBranch(projectId, answer, annotation);
    if (this.#operations) {
      // Every operation a new project has is one of the operator's: the signal starts now, with nothing seen.
      const now = this.#clock.now();
      this.#state(projectId).signal = { since: now, baseline: Number.NEGATIVE_INFINITY, checkedAt: now, newest: Number.NEGATIVE_INFINITY, seen: new Map() };
    }
  }

  removeBranch(projectId: string, branchId: string): void {
    this.#write(projectId, 'branches', (items) => items.delete(branchId));
    this.#write<Endpoint>(projectId, 'endpoints', (items) => {
      for (const [id, ep] of items) if (ep.branch_id === branchId) items.delete(id);
    });
    const state = this.#projects.get(projectId);
    state?.lists.delete(`roles/${branchId}`);
    state?.lists.delete(`databases/${branchId}`);
  }

  putEndpoint(projectId: string, endpoint: Endpoint, operations: readonly Operation[] = []): void {
    this.#write<Endpoint>(projectId, 'endpoints', (items) => items.set(endpoint.id, endpoint));
    this.#track(projectId, operations, 'endpoints', endpoint.id);
  }

  removeEndpoint(projectId: string, endpointId: string): void {
    this.#write(projectId, 'endpoints', (items) => items.delete(endpointId));
  }

  putRole(projectId: string, branchId: string, role: Role): void {
    const stored = withoutPassword(role);
    this.#write<Role>(projectId, `roles/${branchId}`, (items) => items.set(role.name, stored));
  }

  removeRole(projectId: string, branchId: string, roleName: string): void {
    this.#write(projectId, `roles/${branchId}`, (items) => items.delete(roleName));
  }

  /** A database a create or update answered with; `previousName` is removed (a rename). */
  putDatabase(projectId: string, branchId: string, database: Database, previousName?: string): void {
    this.#write<Database>(projectId, `databases/${branchId}`, (items) => {
      if (previousName !== undefined && previousName !== database.name) items.delete(previousName);
      items.set(database.name, database);
    });
  }

  removeDatabase(projectId: string, branchId: string, databaseName: string): void {
    this.#write(projectId, `databases/${branchId}`, (items) => items.delete(databaseName));
  }

  /**
   * Operations that ended. An object whose every tracked operation finished takes the state Neon announced
   * (`pending_state` becomes `current_state`); one whose operation failed is forgotten with its list.
   */
  settle(projectId: string, operations: readonly Operation[]): void {
    const state = this.#projects.get(projectId);
    if (!state) return;
    for (const op of operations) {
      const touched = state.opsTouching.get(op.id);
      if (!touched) continue;
      state.opsTouching.delete(op.id);
      for (const { list, key } of touched) {
        if (!successStatuses.has(op.status)) {
          this.#forgetList(state, list);
          continue;
        }
        if (this.#stillTracked(state, list, key)) continue;
        this.#write<unknown>(projectId, list, (items) => {
          const item = items.get(key);
          if (item !== undefined) items.set(key, settled(item));
        });
      }
    }
  }

  /** Forgets everything known of the project: the next read of any list asks Neon. */
  invalidate(projectId: string): void {
    const state = this.#projects.get(projectId);
    if (!state) return;
    // A refresh in flight may have been answered before the change: its answer is returned, not kept.
    for (const entry of state.lists.values()) {
      entry.items = undefined;
      entry.refresh = undefined;
    }
    state.opsTouching.clear();
    state.signal = undefined;
    state.checking = undefined;
  }

  /** The project is gone. */
  forget(projectId: string): void {
    this.#projects.delete(projectId);
  }

  // ---- snapshot ---------------------------------------------------------------------------------------

  /**
   * The projects whose change signal is running, with their lists as they stand (refreshes in flight left out).
   * Restored by a later process, lists are served by the same rules: by age from when they were read, and role
   * and database lists for as long as the operations show no change the view did not make.
   */
  snapshot(): ViewSnapshot {
    const projects: Record<string, ProjectSnapshot> = {};
    for (const [projectId, state] of this.#projects) {
      const signal = state.signal;
      if (!signal) continue;
      const lists: ProjectSnapshot['lists'] = [];
      for (const [name, entry] of state.lists) if (entry.items) lists.push({ name, at: finite(entry.at), entries: [...entry.items] });
      projects[projectId] = {
        signal: { since: finite(signal.since), baseline: finite(signal.baseline), checkedAt: finite(signal.checkedAt), newest: finite(signal.newest), seen: [...signal.seen] },
        own: [...state.own].map(([id, o]) => [id, o.at, o.kept]),
        lists,
      };
    }
    return { version: 1, projects };
  }

  /**
   * Takes what a snapshot holds of the projects this view knows nothing of yet (a project already read in this
   * process keeps what it has). A snapshot may be older than the last changes its process made (their
   * write-throughs are lost), so nothing restored is served by age: the branch and compute lists are read again
   * on first use, and a role or database list is served only once a check of the operations since the
   * snapshot found no change on its branch (the snapshot's own operations are known; later ones are not, and
   * count as changes).
   */
  restore(snapshot: ViewSnapshot): number {
    let restored = 0;
    if (!this.#operations) return restored;
    for (const [projectId, p] of Object.entries(snapshot.projects)) {
      if (this.#projects.has(projectId)) continue;
      const state = newProjectState();
      const since = p.signal.since ?? Number.NEGATIVE_INFINITY;
      for (const list of p.lists) {
        // Only lists the signal covered are kept; `at` −∞: never served by age.
        if ((list.name.startsWith('roles/') || list.name.startsWith('databases/')) && (list.at ?? Number.NEGATIVE_INFINITY) < since) continue;
        state.lists.set(list.name, { items: new Map(list.entries), at: Number.NEGATIVE_INFINITY });
      }
      for (const [id, at, kept] of p.own) state.own.set(id, { at, kept });
      state.signal = {
        // Every list kept above is covered (−∞ ≤ any `at`), and so is every list read from now on.
        since: Number.NEGATIVE_INFINITY,
        baseline: p.signal.baseline ?? Number.NEGATIVE_INFINITY,
        // Checked on first use.
        checkedAt: Number.NEGATIVE_INFINITY,
        newest: p.signal.newest ?? Number.NEGATIVE_INFINITY,
        seen: new Map(p.signal.seen),
      };
      this.#projects.set(projectId, state);
      restored++;
    }
    return restored;
  }

  // ---- plumbing ---------------------------------------------------------------------------------------

  #state(projectId: string): ProjectState {
    let state = this.#projects.get(projectId);
    if (!state) {
      state = newProjectState();
      this.#projects.set(projectId, state);
    }
    return state;
  }

  #entry<T>(projectId: string, list: ListName): ListEntry<T> {
    const lists = this.#state(projectId).lists;
    let entry = lists.get(list) as ListEntry<T> | undefined;
    if (!entry) {
      entry = { items: undefined, at: 0 };
      lists.set(list, entry as ListEntry<unknown>);
    }
    return entry;
  }

  async #read<T>(projectId: string, list: ListName, fetch: () => Promise<Map<string, T>>, signal?: AbortSignal): Promise<T[]> {
    signal?.throwIfAborted();
    const entry = this.#entry<T>(projectId, list);
    if (entry.items && this.#clock.now() - entry.at < this.#maxAgeMs) return [...entry.items.values()];
    if (!entry.refresh) {
      const sentAt = this.#clock.now();
      const refresh: NonNullable<ListEntry<T>['refresh']> = { promise: fetch(), journal: [] };
      entry.refresh = refresh;
      refresh.promise.then(
        (items) => {
          // Kept only if nothing forgot the list meanwhile; write-throughs made while it ran are replayed.
          if (entry.refresh !== refresh) return;
          for (const change of refresh.journal) change(items);
          // A list restored from a snapshot (`at` −∞) is compared with nothing: it is older than this process.
          const before = entry.at === Number.NEGATIVE_INFINITY ? undefined : entry.items;
          if (before && (list === 'branches' || list === 'endpoints') && differ(before, items)) this.#onChange?.(projectId);
          entry.items = items;
          entry.at = sentAt;
          entry.refresh = undefined;
        },
        () => {
          if (entry.refresh === refresh) entry.refresh = undefined;
        },
      );
    }
    const items = await waitAbortably(entry.refresh.promise, signal);
    return [...items.values()];
  }

  /**
   * A role or database list: kept by the change signal once older than `maxAgeMs` when the branch has a
   * compute and the list was read after the project's first check; otherwise read again.
   */
  async #readBranchList<T>(projectId: string, branchId: string, list: ListName, fetch: () => Promise<Map<string, T>>, signal?: AbortSignal): Promise<T[]> {
    const entry = this.#entry<T>(projectId, list);
    const state = this.#state(projectId);
    if (entry.items && this.#clock.now() - entry.at >= this.#maxAgeMs && state.signal && entry.at >= state.signal.since && this.#hasCompute(state, branchId)) {
      await this.#checkOperations(projectId, signal);
      if (entry.items) return [...entry.items.values()];
    }
    return this.#read(projectId, list, fetch, signal);
  }

  #hasCompute(state: ProjectState, branchId: string): boolean {
    const endpoints = state.lists.get('endpoints')?.items as Map<string, Endpoint> | undefined;
    if (!endpoints) return false;
    for (const ep of endpoints.values()) if (ep.branch_id === branchId && ep.type === 'read_write') return true;
    return false;
  }

  /**
   * Reads the project's operations when the last check is older than `maxAgeMs` (joining one in flight).
   * Lists of branches with an operation the operator did not start are forgotten. A failed check changes
   * nothing (lists it would have kept are read again once older than `maxAgeMs`).
   */
  #checkOperations(projectId: string, signal?: AbortSignal): Promise<unknown> | undefined {
    if (!this.#operations) return undefined;
    const state = this.#state(projectId);
    if (state.signal && this.#clock.now() - state.signal.checkedAt < this.#maxAgeMs) return undefined;
    if (!state.checking) {
      const checking = this.#check(projectId, state).catch(() => false);
      state.checking = checking;
      void checking.then(() => {
        if (state.checking === checking) state.checking = undefined;
      });
    }
    return waitAbortably(state.checking, signal);
  }

  async #check(projectId: string, state: ProjectState): Promise<boolean> {
    const read = this.#operations as OperationsPage;
    const sentAt = this.#clock.now();
    const prev = state.signal;
    let newest = prev?.newest ?? Number.NEGATIVE_INFINITY;
    const seen = new Map(prev?.seen ?? []);
    const changed = new Map<string, 'all' | 'databases'>();
    let everything = false;
    let complete = false;
    let cursor: string | undefined;
    // A project restored from a snapshot reads back as far as the snapshot at once.
    const restored = prev !== undefined && prev.checkedAt === Number.NEGATIVE_INFINITY;
    for (let page = 0; page < OPERATIONS_MAX_PAGES && !complete; page++) {
      const limit = page === 0 && !restored ? OPERATIONS_PAGE : OPERATIONS_NEXT_PAGE;
      const answer = await read(projectId, { limit, ...(cursor !== undefined ? { cursor } : {}) });
      for (const op of answer.operations) {
        const created = Date.parse(op.created_at);
        if (prev && created < prev.newest - OPERATIONS_OVERLAP_MS) {
          complete = true;
          break;
        }
        newest = Math.max(newest, created);
        if (!prev || created < prev.baseline || seen.has(op.id)) {
          seen.set(op.id, created);
          continue;
        }
        seen.set(op.id, created);
        if (COMPUTE_ONLY_ACTIONS.has(op.action)) continue;
        const own = state.own.get(op.id);
        if (own?.kept === 'all') continue;
        const forget = own?.kept === 'roles' ? 'databases' : 'all';
        if (op.branch_id === undefined) everything = true;
        else if (changed.get(op.branch_id) !== 'all') changed.set(op.branch_id, forget);
      }
      // The first check only sets the baseline: one page holds the newest operation.
      if (!prev || answer.operations.length < limit || !answer.pagination) complete = true;
      cursor = answer.pagination?.cursor;
    }
    if (state.signal !== prev) return false; // forgotten meanwhile (invalidate): this answer is not kept
    if (!complete) everything = true;
    for (const [id, created] of seen) if (created < newest - 2 * OPERATIONS_OVERLAP_MS) seen.delete(id);
    for (const [id, own] of state.own) if (own.at < sentAt - OPERATIONS_OVERLAP_MS) state.own.delete(id);
    state.signal = {
      since: prev?.since ?? sentAt,
      baseline: prev?.baseline ?? newest,
      checkedAt: sentAt,
      newest,
      seen,
    };
    if (everything) {
      for (const [list, entry] of state.lists) if (list.startsWith('roles/') || list.startsWith('databases/')) this.#forgetEntry(entry);
    } else {
      for (const [branchId, forget] of changed) {
        if (forget === 'all') this.#forgetList(state, `roles/${branchId}`);
        this.#forgetList(state, `databases/${branchId}`);
      }
    }
    if (everything || changed.size > 0) this.#onChange?.(projectId);
    return true;
  }

  /** Applies a write-through to the list if it is known, and to a refresh in flight. */
  #write<T>(projectId: string, list: ListName, change: (items: Map<string, T>) => void): void {
    const entry = this.#projects.get(projectId)?.lists.get(list) as ListEntry<T> | undefined;
    if (!entry) return;
    if (entry.items) change(entry.items);
    entry.refresh?.journal.push(change);
  }

  /** A complete list from a mutation answer: known from now on. */
  #replace<T>(projectId: string, list: ListName, items: Map<string, T>): void {
    const entry = this.#entry<T>(projectId, list);
    entry.items = items;
    entry.at = this.#clock.now();
    entry.refresh = undefined;
  }

  #track(projectId: string, operations: readonly Operation[], list: ListName, key: string): void {
    const state = this.#state(projectId);
    for (const op of operations) {
      const touched = state.opsTouching.get(op.id) ?? [];
      touched.push({ list, key });
      state.opsTouching.set(op.id, touched);
    }
  }

  #stillTracked(state: ProjectState, list: ListName, key: string): boolean {
    for (const touched of state.opsTouching.values()) if (touched.some((t) => t.list === list && t.key === key)) return true;
    return false;
  }

  #forgetList(state: ProjectState, list: ListName): void {
    const entry = state.lists.get(list);
    if (entry) this.#forgetEntry(entry);
  }

  #forgetEntry(entry: ListEntry<unknown>): void {
    entry.items = undefined;
    entry.refresh = undefined;
  }
}

function newProjectState(): ProjectState {
  return { lists: new Map(), opsTouching: new Map(), own: new Map() };
}

function finite(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

function byKey<T>(items: readonly T[], key: (item: T) => string): Map<string, T> {
  return new Map(items.map((item) => [key(item), item]));
}

/**
 * Fields that change without anyone changing the object (usage, activity, bookkeeping times, and the state a
 * compute or branch is in, e.g. a compute suspended when idle): a refresh that differs only in them is not a
 * change the operator has anything to repair.
 */
const VOLATILE_FIELDS: ReadonlySet<string> = new Set([
  'updated_at',
  'logical_size',
  'state_changed_at',
  'last_active',
  'started_at',
  'suspended_at',
  'current_state',
  'pending_state',
]);

function significant(item: unknown): string {
  return JSON.stringify(item, (key, value: unknown) => (VOLATILE_FIELDS.has(key) ? undefined : value));
}

/** True when two lists differ in something other than volatile fields. */
function differ(a: Map<string, unknown>, b: Map<string, unknown>): boolean {
  if (a.size !== b.size) return true;
  for (const [key, item] of a) {
    const other = b.get(key);
    if (other === undefined || significant(item) !== significant(other)) return true;
  }
  return false;
}

function withoutPassword(role: Role): Role {
  if (role.password === undefined) return role;
  const { password: _password, ...rest } = role;
  return rest as Role;
}

function settled<T>(item: T): T {
  if (typeof item !== 'object' || item === null) return item;
  // A branch is held with its annotation; the state is on the branch.
  if ('branch' in item) return { ...item, branch: settled((item as unknown as ViewBranch).branch) } as T;
  const t = item as unknown as Transitioning;
  if (typeof t.current_state !== 'string' || t.pending_state === undefined) return item;
  const { pending_state, ...rest } = t;
  return { ...rest, current_state: pending_state } as unknown as T;
}
