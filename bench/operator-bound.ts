/**
 * The yardsticks of `npm run bench:operator`: the fewest Neon calls a workload needs, the time Neon itself
 * needs for it, and how the measured numbers compare. Pure functions, so the definitions are tested and the
 * script only measures.
 */

/** Neon's documented account limit: 700 requests per minute, i.e. 11.67 per second. */
export const NEON_CALLS_PER_SECOND = 700 / 60;

/** What the benchmark applies: `groups` spread round-robin over `projects`. */
export interface Workload {
  groups: number;
  projects: number;
  /** Each group has a NeonDatabase (the full group) or not (the CLI comparison: branch, compute, role). */
  withDatabase: boolean;
  /** The NeonProjects are created inside the timed run (true) or exist before it (false). */
  createsProjects: boolean;
}

/** Emulator operation durations (ms) by action, as `DEFAULT_DURATIONS` of test/emulator. */
export type OperationDurations = Readonly<Record<'create_timeline' | 'create_branch' | 'start_compute' | 'apply_config', number>>;

export interface PhysicalBound {
  /** Calls no client can avoid (see `necessaryCalls`). */
  necessaryCalls: number;
  /** necessaryCalls at 11.67 calls/s, in ms. */
  rateBoundMs: number;
  /** Groups in the busiest project. */
  busiestGroups: number;
  /** Neon's serialized operations of the busiest project for the necessary calls, in ms. */
  serializedMs: number;
  /** The larger of the two: no client can be Ready sooner. */
  boundMs: number;
}

/** ceil(groups / projects): round-robin puts this many groups in the busiest project. */
export function busiestGroups(w: Workload): number {
  if (!Number.isInteger(w.groups) || w.groups < 1) throw new RangeError(`groups must be a whole number ≥ 1, got ${String(w.groups)}`);
  if (!Number.isInteger(w.projects) || w.projects < 1) throw new RangeError(`projects must be a whole number ≥ 1, got ${String(w.projects)}`);
  return Math.ceil(w.groups / w.projects);
}

/**
 * The necessary minimum, counted as mutations only: per project one create (its default branch, compute,
 * role and database come with it); per group one branch create that carries its read_write compute in
 * `endpoints[]` (Neon's own way: one call, not two), one role create (its answer holds the password), and one
 * database create. Reads are not counted: every answer a client needs (IDs, hosts, password, operations)
 * comes with the mutation, and one operations list per project can answer every waiter, so the number of
 * polls a client needs tends to zero per object; a client that reads, reads on top of this minimum.
 */
export function necessaryCalls(w: Workload): number {
  busiestGroups(w);
  const perGroup = w.withDatabase ? 3 : 2;
  return w.groups * perGroup + (w.createsProjects ? w.projects : 0);
}

/**
 * Neon runs a project's operations one after another. The necessary calls start, per project: create_timeline
 * + start_compute (project create), and per group: create_branch + start_compute (branch with its compute),
 * apply_config (role) and apply_config (database).
 */
export function serializedOperationMs(w: Workload, d: OperationDurations): number {
  const perGroup = d.create_branch + d.start_compute + d.apply_config * (w.withDatabase ? 2 : 1);
  const project = w.createsProjects ? d.create_timeline + d.start_compute : 0;
  return busiestGroups(w) * perGroup + project;
}

export function physicalBound(w: Workload, d: OperationDurations): PhysicalBound {
  const calls = necessaryCalls(w);
  const rateBoundMs = (calls / NEON_CALLS_PER_SECOND) * 1000;
  const serializedMs = serializedOperationMs(w, d);
  return { necessaryCalls: calls, rateBoundMs, busiestGroups: busiestGroups(w), serializedMs, boundMs: Math.max(rateBoundMs, serializedMs) };
}

/** Calls of one resync round as calls per hour at the operator's default period (10 min: 6 rounds an hour). */
export function callsPerHourAtDefaultPeriod(callsPerRound: number): number {
  return callsPerRound * 6;
}

export type CallClass = 'mutation' | 'operation poll' | 'read';

/** `METHOD /template` → what kind of call it is; polls are the reads of operations. */
export function classifyRoute(route: string): CallClass {
  const [method = '', path = ''] = route.split(' ');
  if (method !== 'GET') return 'mutation';
  return /^\/projects\/\{project_id\}\/operations(\/|$)/.test(path) ? 'operation poll' : 'read';
}

/** `a / b` to two decimals with `×` (targets such as 1.25× are read against it), or `-` when b is 0. */
export function ratio(a: number, b: number): string {
  return b > 0 ? `${(a / b).toFixed(2)}×` : '-';
}

/** Fixed-width rows; `align` has one letter per column, `l` or `r` (default: the first left, the rest right). */
export function formatTable(rows: readonly (readonly string[])[], align = ''): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const left = (i: number): boolean => (align[i] ?? (i === 0 ? 'l' : 'r')) === 'l';
  return rows
    .map((row) => row.map((cell, i) => (left(i) ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd())
    .join('\n');
}

/** A route template with its path parameters shortened (`{project_id}` → `{p}`), for a narrower table. */
export function shortRoute(route: string): string {
  return route.replace(/\{([a-z])[a-z]*_(?:id|name)\}/g, '{$1}');
}
