import type { BranchRecord, EmulatorState, ProjectRecord } from './state.ts';

/** An error answer in Neon's shape `{code, message, request_id}`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, message: string, code = '') {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export interface RequestContext {
  /** The account (derived from the API key) the request acts for. */
  account: string;
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  body: unknown;
  state: EmulatorState;
}

export interface Reply {
  status: number;
  /** Omitted for 204. */
  body?: unknown;
}

export type Handler = (ctx: RequestContext) => Reply;

export interface Route {
  method: string;
  /** e.g. `/projects/{project_id}/branches` */
  template: string;
  handler: Handler;
  readonly regex: RegExp;
  readonly paramNames: readonly string[];
}

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'method-not-allowed' }
  | { kind: 'not-found' };

/** A small path-template router: `/projects/{project_id}` matches one path segment per parameter. */
export class Router {
  readonly routes: Route[] = [];

  add(method: string, template: string, handler: Handler): void {
    const paramNames: string[] = [];
    const pattern = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{([a-z_]+)\\?\}/g, (_m, name: string) => {
      paramNames.push(name);
      return '([^/]+)';
    });
    this.routes.push({ method, template, handler, regex: new RegExp(`^${pattern}/?$`), paramNames });
  }

  match(method: string, path: string): RouteMatch {
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.regex.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      route.paramNames.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1] ?? '');
      });
      return { kind: 'found', route, params };
    }
    return pathMatched ? { kind: 'method-not-allowed' } : { kind: 'not-found' };
  }
}

/** Lookups shared by the resource handlers; each throws Neon's 404. */
export function requireProject(ctx: RequestContext): ProjectRecord {
  const id = ctx.params['project_id'] ?? '';
  const p = ctx.state.project(ctx.account, id);
  if (!p) throw new ApiError(404, `project not found`);
  return p;
}

export function requireBranch(ctx: RequestContext, project: ProjectRecord, id = ctx.params['branch_id'] ?? ''): BranchRecord {
  const b = project.branches.get(id);
  if (!b) throw new ApiError(404, 'branch not found');
  return b;
}

export const CONFLICT_MESSAGE = 'project already has running conflicting operations, scheduling of new ones is prohibited';

/** 423 when the project has operations in flight; nothing is applied. */
export function requireNoConflict(ctx: RequestContext, project: ProjectRecord): void {
  if (ctx.state.inFlight(project).length > 0) throw new ApiError(423, CONFLICT_MESSAGE);
}

/** The request body as an object (400 otherwise). */
export function bodyObject(ctx: RequestContext, required = true): Record<string, unknown> {
  const b = ctx.body;
  if (b === undefined || b === null) {
    if (required) throw new ApiError(400, 'request body is required');
    return {};
  }
  if (typeof b !== 'object' || Array.isArray(b)) throw new ApiError(400, 'request body must be a JSON object');
  return b as Record<string, unknown>;
}

/** A sub-object of the body, e.g. `body.branch` (400 when present but not an object). */
export function field(obj: Record<string, unknown>, key: string, required = false): Record<string, unknown> {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (required) throw new ApiError(400, `${key} is required`);
    return {};
  }
  if (typeof v !== 'object' || Array.isArray(v)) throw new ApiError(400, `${key} must be an object`);
  return v as Record<string, unknown>;
}

export function optString(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ApiError(400, `${key} must be a string`);
  return v;
}

export function optNumber(obj: Record<string, unknown>, key: string): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ApiError(400, `${key} must be a number`);
  return v;
}

export function optBoolean(obj: Record<string, unknown>, key: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ApiError(400, `${key} must be a boolean`);
  return v;
}

export function optStringMap(obj: Record<string, unknown>, key: string): Record<string, string> | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ApiError(400, `${key} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new ApiError(400, `${key}.${k} must be a string`);
    out[k] = val;
  }
  if (Object.keys(out).length > 50) throw new ApiError(400, `${key} accepts at most 50 entries`);
  return out;
}

/** Parses an integer query parameter within [min, max] (400 otherwise). */
export function queryInt(ctx: RequestContext, name: string, min: number, max: number): number | undefined {
  const raw = ctx.query.get(name);
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ApiError(400, `${name} must be an integer between ${min} and ${max}`);
  }
  return n;
}
