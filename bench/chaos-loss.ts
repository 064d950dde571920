/**
 * The loss figures of `npm run chaos`: what a run under faults and kills may cost besides time. Each check
 * reads Neon's side from the emulator's state (the ground truth, as `reveal_password` would give it) and the
 * cluster's side from objects handed in, and returns findings that name objects and Neon IDs, never a
 * secret value. Pure functions, so each is tested on a state built by hand.
 */
import type { EmulatorState, RequestLogEntry } from '../test/emulator/server.ts';

/** A Neon resource created twice, or left behind: what it is and where. */
export interface Finding {
  readonly what: string;
}

/** The routes by which Neon resources come into being, and the kind of object that asks for each. */
export const CREATE_ROUTES = {
  'POST /projects': 'NeonProject',
  'POST /projects/{project_id}/branches': 'NeonBranch',
  'POST /projects/{project_id}/endpoints': 'NeonEndpoint',
  'POST /projects/{project_id}/branches/{branch_id}/roles': 'NeonRole',
  'POST /projects/{project_id}/branches/{branch_id}/databases': 'NeonDatabase',
} as const;

/** The Neon IDs the cluster's objects recorded (from their status), to tell claimed resources from strays. */
export interface Claims {
  readonly projectIds: ReadonlySet<string>;
  readonly branchIds: ReadonlySet<string>;
  readonly endpointIds: ReadonlySet<string>;
}

function countBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) out.set(key(item), (out.get(key(item)) ?? 0) + 1);
  return out;
}

/**
 * Neon resources present twice right now among the account's projects whose names start with `prefix`:
 * projects with the same name, branches with the same name in a project, more than one compute of a type
 * on a branch, and branches or computes that no object claims (a second copy under another name or ID).
 * A project's default branch and its compute come with the project and need no claim.
 */
export function duplicatesInNeon(state: EmulatorState, account: string, prefix: string, claims: Claims): Finding[] {
  const out: Finding[] = [];
  const projects = state.projectsOf(account).filter((p) => p.name.startsWith(prefix));
  for (const [name, n] of countBy(projects, (p) => p.name)) if (n > 1) out.push({ what: `${String(n)} projects named ${name}` });
  for (const p of projects) {
    if (!claims.projectIds.has(p.id)) out.push({ what: `project ${p.id} (${p.name}) claimed by no NeonProject` });
    for (const [name, n] of countBy(p.branches.values(), (b) => b.name)) {
      if (n > 1) out.push({ what: `${String(n)} branches named ${name} in project ${p.name}` });
    }
    const defaults = new Set([...p.branches.values()].filter((b) => b.isDefault).map((b) => b.id));
    for (const b of p.branches.values()) {
      if (!b.isDefault && !claims.branchIds.has(b.id)) out.push({ what: `branch ${b.id} (${b.name}) in ${p.name} claimed by no NeonBranch` });
    }
    for (const [key, n] of countBy(p.endpoints.values(), (e) => `${e.branchId} ${e.type}`)) {
      if (n > 1) out.push({ what: `${String(n)} ${key.split(' ')[1] ?? ''} computes on branch ${key.split(' ')[0] ?? ''} in ${p.name}` });
    }
    for (const e of p.endpoints.values()) {
      if (!defaults.has(e.branchId) && !claims.endpointIds.has(e.id)) out.push({ what: `compute ${e.id} in ${p.name} claimed by no NeonEndpoint` });
    }
  }
  return out;
}

/**
 * Creates Neon applied beyond one per object that asks for it, from the emulator's request log (so a copy
 * that was made and later removed still counts). `expected` is the number of objects per kind.
 */
export function createsBeyondObjects(requests: readonly RequestLogEntry[], account: string, expected: Readonly<Record<string, number>>): Finding[] {
  const applied = countBy(
    requests.filter((r) => r.account === account && r.applied === true && r.route !== undefined && r.route in CREATE_ROUTES),
    (r) => r.route ?? '',
  );
  const out: Finding[] = [];
  for (const [route, kind] of Object.entries(CREATE_ROUTES)) {
    const n = applied.get(route) ?? 0;
    const max = expected[kind] ?? 0;
    if (n > max) out.push({ what: `${route} applied ${String(n)} times for ${String(max)} ${kind} objects` });
  }
  return out;
}

/**
 * What the deletion left in Neon that the user asked to delete, among the account's projects whose names
 * start with `prefix`: a whole project whose NeonProject said Delete (`deleted` holds their names), and in a
 * project kept (Retain) every branch but the default one, with its computes.
 */
export function orphansInNeon(state: EmulatorState, account: string, prefix: string, deleted: ReadonlySet<string>): Finding[] {
  const out: Finding[] = [];
  for (const p of state.projectsOf(account).filter((x) => x.name.startsWith(prefix))) {
    if (deleted.has(p.name)) {
      out.push({ what: `project ${p.id} (${p.name}, deletionPolicy Delete) with ${String(p.branches.size)} branches and ${String(p.endpoints.size)} computes` });
      continue;
    }
    for (const b of p.branches.values()) {
      if (b.isDefault) continue;
      const computes = [...p.endpoints.values()].filter((e) => e.branchId === b.id).length;
      out.push({ what: `branch ${b.id} (${b.name}) with ${String(computes)} computes in kept project ${p.name}` });
    }
  }
  return out;
}

/** Projects whose NeonProject said Retain (`kept` holds their names) that are no longer in Neon. */
export function keptButGone(state: EmulatorState, account: string, kept: ReadonlySet<string>): Finding[] {
  const present = new Set(state.projectsOf(account).map((p) => p.name));
  return [...kept].filter((name) => !present.has(name)).map((name) => ({ what: `project ${name} (deletionPolicy Retain) is gone from Neon` }));
}

/** A role's connection Secret as the cluster has it, and where its role lives in Neon (from the role's status). */
export interface RoleSecret {
  /** `NeonRole <name>`, for the finding. */
  readonly object: string;
  readonly branchId: string | undefined;
  readonly roleName: string | undefined;
  /** The Secret's decoded data, or undefined when there is none. */
  readonly data: Readonly<Record<string, string>> | undefined;
}

/** Secrets whose password (or the password inside their `uri`) is not the one Neon holds for the role. */
export function passwordMismatches(state: EmulatorState, secrets: readonly RoleSecret[]): Finding[] {
  const out: Finding[] = [];
  for (const s of secrets) {
    const branch = s.branchId === undefined ? undefined : state.findBranch(s.branchId);
    const role = s.roleName === undefined ? undefined : branch?.roles.get(s.roleName);
    if (!role) {
      out.push({ what: `${s.object}: no role ${s.roleName ?? '?'} on branch ${s.branchId ?? '?'} in Neon` });
      continue;
    }
    if (s.data === undefined) {
      out.push({ what: `${s.object}: no Secret` });
      continue;
    }
    if (s.data['password'] !== role.password) out.push({ what: `${s.object}: Secret password differs from Neon's` });
    const uri = s.data['uri'];
    let uriPassword: string | undefined;
    try {
      uriPassword = uri === undefined ? undefined : decodeURIComponent(new URL(uri).password);
    } catch {
      uriPassword = undefined;
    }
    if (uriPassword !== role.password) out.push({ what: `${s.object}: Secret uri password differs from Neon's` });
  }
  return out;
}

/** Every password the account's roles hold in Neon right now. */
export function passwordsInNeon(state: EmulatorState, account: string): string[] {
  return state.projectsOf(account).flatMap((p) => [...p.branches.values()].flatMap((b) => [...b.roles.values()].map((r) => r.password)));
}

/** Secret values inside an API answer: `password` fields and the passwords of connection URIs. */
export function secretsInAnswer(body: unknown, into: Set<string>): void {
  if (Array.isArray(body)) {
    for (const item of body) secretsInAnswer(item, into);
    return;
  }
  if (body === null || typeof body !== 'object') return;
  for (const [key, value] of Object.entries(body)) {
    if (typeof value === 'string') {
      if (key === 'password' && value !== '') into.add(value);
      if (/uri$/i.test(key) && value.includes('@')) {
        try {
          const password = decodeURIComponent(new URL(value).password);
          if (password) into.add(password);
        } catch {
          // Not a URL: nothing to take.
        }
      }
    } else {
      secretsInAnswer(value, into);
    }
  }
}

/**
 * Where any of `secrets` appears in `sources` (as is, URL-encoded or base64): one finding per source, with
 * how many distinct secrets it holds. The values themselves are never part of a finding.
 */
export function secretLeaks(secrets: Iterable<string>, sources: ReadonlyArray<{ where: string; text: string }>): Finding[] {
  const forms: Array<(s: string) => string> = [(s) => s, (s) => encodeURIComponent(s), (s) => Buffer.from(s).toString('base64')];
  const values = [...new Set(secrets)].filter((s) => s.length >= 8);
  const out: Finding[] = [];
  for (const { where, text } of sources) {
    const hits = values.filter((v) => forms.some((encode) => text.includes(encode(v)))).length;
    if (hits > 0) out.push({ what: `${where}: ${String(hits)} secret value${hits === 1 ? '' : 's'}` });
  }
  return out;
}
