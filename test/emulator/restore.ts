import { ApiError, bodyObject, optString, requireBranch, requireNoConflict, requireProject, type Router } from './router.ts';
import { parseTimestamp } from './refusals.ts';
import type { BranchRecord, EmulatorState, OperationRecord, ProjectRecord } from './state.ts';
import { branchView, operationView } from './views.ts';

// Restore and set_as_default as the official spec defines them (`public-v2-for-users.gen.yaml` of
// `@neondatabase/api-client`: `restoreProjectBranch` with `BranchRestoreRequest`, `setDefaultProjectBranch`).

/**
 * The emulator has no WAL: a project's LSN grows with the clock, 16 bytes per millisecond from the LSN its
 * first branch starts at. That is enough to tell an LSN inside a branch's history from one before it or in
 * the future, which is what Neon refuses.
 */
const BASE_LSN = 0x1f7c5a8n;
const BYTES_PER_MS = 16n;

export function lsnAt(project: ProjectRecord, ms: number): string {
  const v = BASE_LSN + BigInt(Math.max(0, Math.floor(ms - project.createdAt))) * BYTES_PER_MS;
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The instant an LSN of `project` was written; 400 naming `field` when it is not an LSN (`X/Y`, hex). */
function timeOfLsn(project: ProjectRecord, field: string, value: string): number {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(value);
  if (!m) throw new ApiError(400, `${field}: "${value}" is not an LSN (two hexadecimal numbers separated by "/", e.g. 0/1F7C5A8)`);
  const v = (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
  return project.createdAt + Number((v - BASE_LSN) / BYTES_PER_MS);
}

/**
 * The instant to restore `source` to, checked against its history: not in the future, not before the
 * branch's timeline began (its creation or last restore), not older than the project's history retention
 * (https://neon.com/docs/introduction/history-window).
 */
function pointInHistory(
  state: EmulatorState,
  project: ProjectRecord,
  source: BranchRecord,
  lsn: string | undefined,
  timestamp: string | undefined,
): number {
  const now = state.now();
  if (lsn === undefined && timestamp === undefined) return now;
  if (lsn !== undefined && timestamp !== undefined) throw new ApiError(400, 'source_lsn and source_timestamp cannot be used together');
  const field = lsn !== undefined ? 'source_lsn' : 'source_timestamp';
  const value = (lsn ?? timestamp) as string;
  const at = lsn !== undefined ? timeOfLsn(project, field, lsn) : parseTimestamp(field, value);
  if (at > now) throw new ApiError(400, `${field} ${value} is in the future of branch ${source.id}`);
  if (now - at > project.historyRetentionSeconds * 1000) {
    throw new ApiError(400, `${field} ${value} is outside the project's history retention of ${project.historyRetentionSeconds} seconds`);
  }
  const start = source.lastResetAt ?? source.createdAt;
  if (at < start) throw new ApiError(400, `${field} ${value} is before the history of branch ${source.id} begins`);
  return at;
}

/** A restore the emulator performed, for tests that check Neon's side of a reset. */
export interface RestoreRecord {
  branchId: string;
  sourceBranchId: string;
  /** The point of the source's history the branch now starts from. */
  sourceLsn: string;
  at: number;
  preservedAs?: string;
}

const restoreLog = new WeakMap<ProjectRecord, RestoreRecord[]>();

/** Restores done in `project`, oldest first. */
export function restoresOf(project: ProjectRecord): readonly RestoreRecord[] {
  return restoreLog.get(project) ?? [];
}

export function registerRestoreRoutes(router: Router): void {
  router.add('POST', '/projects/{project_id}/branches/{branch_id}/restore', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    const body = bodyObject(ctx);
    const sourceId = optString(body, 'source_branch_id');
    if (sourceId === undefined) throw new ApiError(400, 'source_branch_id is required');
    const source = requireBranch(ctx, project, sourceId);
    const lsn = optString(body, 'source_lsn');
    const timestamp = optString(body, 'source_timestamp');
    const selfRestore = source.id === branch.id;
    // Spec: "If source_branch_id is equal to the branch's id, source_timestamp or source_lsn is required."
    if (selfRestore && lsn === undefined && timestamp === undefined) {
      throw new ApiError(400, 'source_lsn or source_timestamp is required to restore a branch to its own history');
    }
    const at = pointInHistory(state, project, source, lsn, timestamp);
    const preserveName = optString(body, 'preserve_under_name') || undefined;
    const children = [...project.branches.values()].filter((b) => b.parentId === branch.id);
    // Spec: "If the branch has children or the source_branch_id is equal to the branch id, this field is required."
    if (preserveName === undefined && selfRestore) {
      throw new ApiError(400, 'preserve_under_name is required to restore a branch to its own history');
    }
    if (preserveName === undefined && children.length > 0) {
      throw new ApiError(400, `preserve_under_name is required: branch ${branch.id} has child branches (${children.map((c) => c.id).join(', ')})`);
    }
    if (preserveName !== undefined && [...project.branches.values()].some((b) => b.name === preserveName)) {
      throw new ApiError(409, `branch with name "${preserveName}" already exists`, 'BRANCH_ALREADY_EXISTS');
    }
    requireNoConflict(ctx, project);
    const now = state.now();
    const sourceLsn = lsnAt(project, at);
    let preserved: BranchRecord | undefined;
    if (preserveName !== undefined) {
      // The branch's previous state lives on under the new name, in the branch's old place in the tree:
      // it becomes the parent of the restored branch and takes over its children (the spec's "All existing
      // child branches will be moved to the newly created branch").
      preserved = state.newBranch(project, {
        name: preserveName,
        ...(branch.parentId !== undefined ? { parentId: branch.parentId } : {}),
      });
      if (branch.parentLsn !== undefined) preserved.parentLsn = branch.parentLsn;
      else delete preserved.parentLsn;
      for (const r of branch.roles.values()) preserved.roles.set(r.name, { ...r });
      for (const d of branch.databases.values()) preserved.databases.set(d.name, { ...d, id: state.ids.databaseId() });
      preserved.currentState = 'ready';
      for (const c of children) c.parentId = preserved.id;
      branch.parentId = preserved.id;
    } else {
      branch.parentId = source.id;
    }
    branch.parentLsn = sourceLsn;
    const ops: OperationRecord[] = [];
    const eps = state.endpointsOfBranch(project, branch.id).map((ep) => state.settleEndpoint(project, ep));
    for (const ep of eps) if (ep.currentState === 'active') ops.push(state.suspendCompute(project, ep));
    const timeline = state.addOperation(project, 'create_timeline', { branchId: branch.id });
    ops.push(timeline);
    for (const ep of eps) if (ep.currentState === 'active') ops.push(state.startCompute(project, ep));
    // Roles (with their passwords) and databases follow the source. The emulator keeps no history of
    // them, so a point in time restores the source's current ones; a restore to the branch's own history
    // keeps the branch's.
    if (!selfRestore) {
      branch.roles = new Map([...source.roles].map(([k, r]) => [k, { ...r }]));
      branch.databases = new Map([...source.databases].map(([k, d]) => [k, { ...d }]));
    }
    branch.lastResetAt = now;
    branch.updatedAt = now;
    branch.currentState = 'init';
    branch.readyOperationId = timeline.id;
    state.onRestore?.({ branchId: branch.id, sourceId: source.id, ...(preserved ? { preservedId: preserved.id } : {}) });
    const log = restoreLog.get(project) ?? [];
    log.push({ branchId: branch.id, sourceBranchId: source.id, sourceLsn, at: now, ...(preserved ? { preservedAs: preserved.id } : {}) });
    restoreLog.set(project, log);
    return {
      status: 200,
      body: { branch: branchView(state, project, branch), operations: ops.map((op) => operationView(state, op)) },
    };
  });

  router.add('POST', '/projects/{project_id}/branches/{branch_id}/set_as_default', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const branch = requireBranch(ctx, project);
    // https://neon.com/docs/guides/branch-expiration: the default branch cannot expire.
    if (branch.expiresAt !== undefined) throw new ApiError(400, 'a branch with an expiration time cannot be the default branch');
    requireNoConflict(ctx, project);
    const now = state.now();
    for (const b of project.branches.values()) {
      if (b.isDefault && b.id !== branch.id) {
        b.isDefault = false;
        b.updatedAt = now;
      }
    }
    if (!branch.isDefault) {
      branch.isDefault = true;
      branch.updatedAt = now;
    }
    return { status: 200, body: { branch: branchView(state, project, branch), operations: [] } };
  });
}
