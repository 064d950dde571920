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
 * - changes made outside the operator are seen when a list is next refreshed, at most `maxAgeMs` later.
 *
 * Nothing secret is held: role passwords are removed before a role is stored.
 */
export class ProjectView {
  readonly #clock: Clock;
  readonly #maxAgeMs: number;
  readonly #projects = new Map<string, ProjectState>();

  constructor(options: { clock: Clock; maxAgeMs: number }) {
    this.#clock = options.clock;
    this.#maxAgeMs = options.maxAgeMs;
  }

  // ---- reads ------------------------------------------------------------------------------------------

  /** Every branch of the project with its annotation. `fetch` lists them from Neon when the view cannot answer. */
  async branches(projectId: string, fetch: () => Promise<ViewBranch[]>, signal?: AbortSignal): Promise<ViewBranch[]> {
    return this.#read(projectId, 'branches', async () => byKey(await fetch(), (b) => b.branch.id), signal);
  }

  async endpoints(projectId: string, fetch: () => Promise<Endpoint[]>, signal?: AbortSignal): Promise<Endpoint[]> {
    return this.#read(projectId, 'endpoints', async () => byKey(await fetch(), (e) => e.id), signal);
  }

  async roles(projectId: string, branchId: string, fetch: () => Promise<Role[]>, signal?: AbortSignal): Promise<Role[]> {
    return this.#read(projectId, `roles/${branchId}`, async () => byKey((await fetch()).map(withoutPassword), (r) => r.name), signal);
  }

  async databases(projectId: string, branchId: string, fetch: () => Promise<Database[]>, signal?: AbortSignal): Promise<Database[]> {
    return this.#read(projectId, `databases/${branchId}`, async () => byKey(await fetch(), (d) => d.name), signal);
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
  }

  /** The project is gone. */
  forget(projectId: string): void {
    this.#projects.delete(projectId);
  }

  // ---- plumbing ---------------------------------------------------------------------------------------

  #state(projectId: string): ProjectState {
    let state = this.#projects.get(projectId);
    if (!state) {
      state = { lists: new Map(), opsTouching: new Map() };
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
    if (entry) {
      entry.items = undefined;
      entry.refresh = undefined;
    }
  }
}

function byKey<T>(items: readonly T[], key: (item: T) => string): Map<string, T> {
  return new Map(items.map((item) => [key(item), item]));
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
