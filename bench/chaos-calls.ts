/**
 * Which objects a Neon call was about, so `npm run chaos` can count the calls spent on objects that were
 * already Ready (re-verification after a restart or a resync) apart from the calls that made progress.
 * A call addresses one object, or the roles or databases of one branch (their list); project-wide lists,
 * operation polls and creates get no key.
 */

/** The key of what a call addresses (see above), or undefined. */
export function callTarget(path: string, method = 'GET'): string | undefined {
  const m = /^\/projects\/([^/]+)(?:\/(.*))?$/.exec(path.split('?')[0] ?? '');
  if (!m) return undefined;
  const [, projectId = '', rest] = m;
  if (rest === undefined || rest === '') return `project:${projectId}`;
  const parts = rest.split('/');
  if (parts[0] === 'endpoints' && parts[1]) return `endpoint:${parts[1]}`;
  if (parts[0] !== 'branches' || !parts[1]) return undefined;
  const branchId = parts[1];
  if (parts.length === 2) return `branch:${branchId}`;
  if (parts.length === 3 && method === 'GET' && (parts[2] === 'roles' || parts[2] === 'databases')) return `${parts[2]}-of:${branchId}`;
  if ((parts[2] === 'roles' || parts[2] === 'databases') && parts[3]) return `${parts[2] === 'roles' ? 'role' : 'database'}:${branchId}/${parts[3]}`;
  return undefined;
}

/** The key `callTarget` gives the calls about an object of `kind`, from the Neon IDs in its status. */
export function objectTarget(kind: 'project' | 'branch' | 'endpoint' | 'role' | 'database', status: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const str = (k: string): string | undefined => (typeof status?.[k] === 'string' ? (status[k] as string) : undefined);
  switch (kind) {
    case 'project':
      return str('projectId') && `project:${str('projectId') ?? ''}`;
    case 'branch':
      return str('branchId') && `branch:${str('branchId') ?? ''}`;
    case 'endpoint':
      return str('endpointId') && `endpoint:${str('endpointId') ?? ''}`;
    case 'role':
      return str('branchId') && str('roleName') ? `role:${str('branchId') ?? ''}/${str('roleName') ?? ''}` : undefined;
    case 'database':
      return str('branchId') && str('databaseName') ? `database:${str('branchId') ?? ''}/${str('databaseName') ?? ''}` : undefined;
  }
}

/** How the account's calls were spread over time: silent seconds, and the rate in the second after a 429. */
export interface Pacing {
  seconds: number;
  /** Whole seconds of [from, to) in which no call arrived. */
  silentSeconds: number;
  /** Calls per second over [from, to). */
  perSecond: number;
  /** Calls per second in the second after each 429 answer (injected or the limit's), averaged; undefined without 429s. */
  perSecondAfter429: number | undefined;
}

/** `calls` in time order (arrival at Neon, ms). */
export function pacing(calls: ReadonlyArray<{ time: number; status: number }>, from: number, to: number): Pacing {
  const inside = calls.filter((c) => c.time >= from && c.time < to);
  const seconds = Math.max(1, Math.ceil((to - from) / 1000));
  const busy = new Set(inside.map((c) => Math.floor((c.time - from) / 1000)));
  let after = 0;
  let refusals = 0;
  let j = 0;
  for (let i = 0; i < inside.length; i++) {
    const c = inside[i] as { time: number; status: number };
    if (c.status !== 429) continue;
    refusals++;
    if (j <= i) j = i + 1;
    while (j < inside.length && (inside[j] as { time: number }).time <= c.time + 1000) j++;
    after += j - i - 1;
  }
  return {
    seconds,
    silentSeconds: seconds - busy.size,
    perSecond: inside.length / seconds,
    perSecondAfter429: refusals === 0 ? undefined : after / refusals,
  };
}

/**
 * The keys of what is Ready: each Ready object's, and `roles-of:<branch>` / `databases-of:<branch>` once every
 * NeonRole / NeonDatabase recorded on that branch is Ready.
 */
export function readyTargets(objects: ReadonlyArray<{ kind: Parameters<typeof objectTarget>[0]; status: Readonly<Record<string, unknown>> | undefined; ready: boolean }>): Set<string> {
  const out = new Set<string>();
  const perBranch = new Map<string, boolean>();
  for (const o of objects) {
    const key = objectTarget(o.kind, o.status);
    if (o.ready && key !== undefined) out.add(key);
    const branchId = o.status?.['branchId'];
    if ((o.kind === 'role' || o.kind === 'database') && typeof branchId === 'string') {
      const list = `${o.kind === 'role' ? 'roles' : 'databases'}-of:${branchId}`;
      perBranch.set(list, (perBranch.get(list) ?? true) && o.ready);
    }
  }
  for (const [list, allReady] of perBranch) if (allReady) out.add(list);
  return out;
}
