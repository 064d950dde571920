import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../../src/clock.ts';
import { registerAnonymizedRoutes } from './anonymized.ts';
import { registerBranchRoutes } from './branches.ts';
import { registerDatabaseRoutes } from './databases.ts';
import { registerEndpointRoutes } from './endpoints.ts';
import { FaultInjector, type FaultConfig, type RequestFault } from './faults.ts';
import { NEON_LIMITS, RateLimiter, type RateLimits } from './limits.ts';
import { registerAccountRoutes, registerOperationRoutes } from './operations.ts';
import { registerProjectRoutes } from './projects.ts';
import { NeonIds, SeededRandom } from './random.ts';
import { registerRestoreRoutes } from './restore.ts';
import { registerRoleRoutes } from './roles.ts';
import { ApiError, Router, type Reply } from './router.ts';
import { EmulatorState } from './state.ts';
import type { NeonPlan } from './refusals.ts';
import type { ComputeDataPlane, ComputeOptions } from './compute/data-plane.ts';

export type { FaultConfig } from './faults.ts';
export type { RateLimits } from './limits.ts';
export type { ComputeAccess, ComputeDataPlane, ComputeOptions } from './compute/data-plane.ts';
export { EmulatorState, DEFAULT_DURATIONS } from './state.ts';
export type {
  BranchRecord,
  DatabaseRecord,
  EndpointRecord,
  OperationAction,
  OperationRecord,
  OperationStatus,
  ProjectRecord,
  RoleRecord,
} from './state.ts';

export const API_PREFIX = '/api/v2';

/** A response the emulator sent, as handed to `onResponse` and to the spec validator. */
export interface ResponseInfo {
  method: string;
  /** Path below /api/v2, without the query. */
  path: string;
  /** Route template, e.g. `/projects/{project_id}`; undefined when no route matched. */
  route?: string;
  status: number;
  /** Parsed JSON body; undefined for 204 and resets. */
  body?: unknown;
}

/** For a `request` violation, `status` is 0 (checked before answering) and `body` is the request body. */
export interface SpecViolation extends ResponseInfo {
  /** `response`: the emulator answered off-spec; `request`: the client sent an off-spec body. */
  kind: 'response' | 'request';
  errors: string[];
}

/** Checks a response against the official spec; returns the violations (empty when it conforms). */
export type ResponseValidator = (method: string, route: string, status: number, body: unknown) => string[];

export interface EmulatorOptions {
  /** 0 (default) = any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Seeds IDs, passwords and fault choices (default 1). */
  seed?: number;
  /** Default systemClock. */
  clock?: Clock;
  /** When set, only these keys are accepted; by default any non-empty key is its own account. */
  apiKeys?: string[];
  /** Operation durations in ms, by action (`create_branch`, `start_compute`, …). */
  durations?: Partial<Record<string, number>>;
  /** Rate limits; default Neon's 700/min per key and 40/s per route with Retry-After. `false` disables. */
  limits?: RateLimits | false;
  faults?: FaultConfig;
  /** Default true; false → reveal_password answers 412. */
  storePasswords?: boolean;
  /** Host suffix for endpoints, e.g. `c-2.us-east-2.aws.neon.tech`. */
  regionHost?: string;
  /** Default `aws-us-east-2`. */
  regionId?: string;
  /** The account's plan, which bounds `history_retention_seconds`; default `scale` (30 days, the CRD's own limit). */
  plan?: NeonPlan;
  /**
   * Validate every response against the official OpenAPI spec; read the result with `specViolations()`.
   * Default: on inside a test run (vitest), off otherwise (the standalone server, the demo).
   */
  validateResponses?: boolean;
  /**
   * By default `stop()` rejects, listing them, when a validated response broke the spec, so that every
   * suite that uses the emulator is a fidelity check without asserting it itself. True for a test that
   * breaks the emulator on purpose.
   */
  allowSpecViolations?: boolean;
  /**
   * Validate every request body a client sends against the spec (documented fields only), recorded in
   * `specViolations()` with kind `request`: a check on the client under test, not on the emulator.
   */
  validateRequests?: boolean;
  /** Called after every response (or reset). */
  onResponse?: (info: ResponseInfo) => void;
  /** Oldest request-log entries are dropped beyond this many (default 100,000). */
  maxLogEntries?: number;
  /**
   * A real Postgres server behind every branch, reached through the endpoints' hosts (see
   * test/emulator/README.md): `true` for the defaults. Off by default.
   */
  postgres?: boolean | ComputeOptions;
}

export interface RequestLogEntry {
  method: string;
  /** Path below /api/v2, with the query. */
  path: string;
  /** `METHOD /template`, or undefined when no route matched. */
  route?: string;
  /** HTTP status, or 0 when the connection was reset. */
  status: number;
  requestId: string;
  /** Emulator clock time (ms) when the request arrived. */
  time: number;
  /** Account derived from the key (never the key itself); undefined when unauthenticated. */
  account?: string;
  /** The injected fault, if any (`rate-limit` for a real limit hit). */
  fault?: RequestFault | 'rate-limit';
  /** Whether the request changed state (mutations hit by a fault may or may not have). */
  applied?: boolean;
}

export interface EmulatorCounters {
  /** Keyed `METHOD /template` (unmatched requests under `METHOD ?`). */
  byRoute: Record<string, number>;
  /** Keyed by status code as a string; resets under `reset`. */
  byStatus: Record<string, number>;
  byMethod: Record<string, number>;
  /** Keyed `METHOD /template STATUS`. */
  byRouteStatus: Record<string, number>;
  /** Requests that reached a handler and were applied, by route. */
  applied: Record<string, number>;
  total: number;
}

export interface EmulatorHandle {
  /** Base URL including /api/v2, e.g. http://127.0.0.1:PORT/api/v2 */
  url: string;
  port: number;
  stop(): Promise<void>;
  setFaults(f: FaultConfig): void;
  /** Replaces the rate limits (false disables them) and forgets past request counts. */
  setLimits(l: RateLimits | false): void;
  readonly requests: ReadonlyArray<RequestLogEntry>;
  counters(): EmulatorCounters;
  resetCounters(): void;
  /** Direct access to projects, branches, endpoints, roles (with passwords), databases and operations. */
  state: EmulatorState;
  /** The account an API key maps to (what `state.projectsOf(account)` expects). */
  accountOf(apiKey: string): string;
  /** Responses (and, with `validateRequests`, requests) that did not match the official spec. */
  specViolations(): SpecViolation[];
  /** The Postgres data plane when started with `postgres`: `compute.access` says how to reach it. */
  compute: ComputeDataPlane | undefined;
}

/** The account id for an API key: a stable digest, so the key itself is never stored or shown. */
export function accountOf(apiKey: string): string {
  return `org-${createHash('sha256').update(apiKey).digest('hex').slice(0, 16)}`;
}

function buildRouter(): Router {
  const router = new Router();
  registerProjectRoutes(router);
  registerBranchRoutes(router);
  registerRestoreRoutes(router);
  registerAnonymizedRoutes(router);
  registerEndpointRoutes(router);
  registerRoleRoutes(router);
  registerDatabaseRoutes(router);
  registerOperationRoutes(router);
  registerAccountRoutes(router);
  return router;
}

/** Every route the emulator serves, as `METHOD /template`. */
export function emulatorRoutes(): string[] {
  return buildRouter().routes.map((r) => `${r.method} ${r.template}`);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function emptyCounters(): EmulatorCounters {
  return { byRoute: {}, byStatus: {}, byMethod: {}, byRouteStatus: {}, applied: {}, total: 0 };
}

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** Starts an in-process Neon API emulator on loopback. Resolves once it is listening. */
export async function startEmulator(opts: EmulatorOptions = {}): Promise<EmulatorHandle> {
  const clock = opts.clock ?? systemClock;
  const seed = opts.seed ?? 1;
  const faults = new FaultInjector(opts.faults ?? {}, seed);
  const state = new EmulatorState({
    clock,
    seed,
    durations: { ...opts.durations },
    storePasswords: opts.storePasswords ?? true,
    regionId: opts.regionId ?? 'aws-us-east-2',
    regionHost: opts.regionHost ?? 'c-2.us-east-2.aws.neon.tech',
    plan: opts.plan ?? 'scale',
    operationFailure: () => faults.operationOutcome(),
  });
  const requestIds = new NeonIds(new SeededRandom(seed + 3));
  let currentLimits: RateLimits | undefined = opts.limits === false ? undefined : (opts.limits ?? NEON_LIMITS);
  let limiter = currentLimits ? new RateLimiter(currentLimits) : undefined;
  const allowedKeys = opts.apiKeys ? new Set(opts.apiKeys) : undefined;
  const router = buildRouter();
  const maxLog = opts.maxLogEntries ?? 100_000;
  const log: RequestLogEntry[] = [];
  let counters = emptyCounters();
  const violations: SpecViolation[] = [];
  let validator: ResponseValidator | undefined;
  let requestValidator: ((method: string, route: string, body: unknown) => string[]) | undefined;
  const validateResponses = opts.validateResponses ?? process.env['VITEST'] !== undefined;
  if (validateResponses || opts.validateRequests) {
    // Loaded only on demand: the validator pulls in the 430 KB spec and ajv.
    const mod = await import('../fidelity/openapi.ts');
    if (validateResponses) validator = mod.createResponseValidator();
    if (opts.validateRequests) requestValidator = mod.createRequestValidator();
  }
  // Loaded only on demand too: Postgres binaries, the pg client and openssl are needed only here.
  const compute = opts.postgres
    ? await (await import('./compute/data-plane.ts')).ComputeDataPlane.start(state, opts.postgres === true ? {} : opts.postgres)
    : undefined;

  function record(entry: RequestLogEntry, info: ResponseInfo): void {
    log.push(entry);
    if (log.length > maxLog) log.splice(0, log.length - maxLog);
    const routeKey = entry.route ?? `${entry.method} ?`;
    const statusKey = entry.status === 0 ? 'reset' : String(entry.status);
    bump(counters.byRoute, routeKey);
    bump(counters.byStatus, statusKey);
    bump(counters.byMethod, entry.method);
    bump(counters.byRouteStatus, `${routeKey} ${statusKey}`);
    if (entry.applied) bump(counters.applied, routeKey);
    counters.total++;
    if (validator && info.route !== undefined && entry.status !== 0) {
      const errors = validator(info.method, info.route, info.status, info.body);
      if (errors.length > 0) violations.push({ ...info, kind: 'response', errors });
    }
    opts.onResponse?.(info);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrived = clock.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://emulator');
    const headerId = req.headers['x-request-id'];
    const requestId = (Array.isArray(headerId) ? headerId[0] : headerId) || requestIds.uuid();
    const rawBody = await readBody(req);
    const path = url.pathname.startsWith(API_PREFIX) ? url.pathname.slice(API_PREFIX.length) || '/' : undefined;
    const entry: RequestLogEntry = { method, path: (path ?? url.pathname) + url.search, status: 0, requestId, time: arrived };

    const send = (reply: Reply, extraHeaders: Record<string, string> = {}): void => {
      entry.status = reply.status;
      const headers: Record<string, string> = { 'x-request-id': requestId, ...extraHeaders };
      let text: string | undefined;
      if (reply.status !== 204 && reply.body !== undefined) {
        text = JSON.stringify(reply.body);
        headers['content-type'] = 'application/json';
      }
      res.writeHead(reply.status, headers);
      res.end(text);
      record(entry, {
        method,
        path: path ?? url.pathname,
        ...(entry.route !== undefined ? { route: entry.route.slice(method.length + 1) } : {}),
        status: reply.status,
        ...(reply.body !== undefined && reply.status !== 204 ? { body: reply.body } : {}),
      });
    };
    const fail = (status: number, message: string, code = '', headers: Record<string, string> = {}): void =>
      send({ status, body: { code, message, request_id: requestId } }, headers);

    if (path === undefined) return fail(404, 'not found');
    const auth = req.headers.authorization ?? '';
    const key = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim() ?? '';
    if (key === '' || (allowedKeys !== undefined && !allowedKeys.has(key))) {
      return fail(401, 'authentication required');
    }
    const account = accountOf(key);
    entry.account = account;
    const match = router.match(method, path);
    if (match.kind === 'not-found') return fail(404, 'not found');
    if (match.kind === 'method-not-allowed') return fail(405, 'method not allowed');
    const template = match.route.template;
    entry.route = `${method} ${template}`;
    let parsed: { ok: true; body: unknown } | { ok: false };
    try {
      parsed = { ok: true, body: rawBody.trim() === '' ? undefined : JSON.parse(rawBody) };
    } catch {
      parsed = { ok: false };
    }
    if (requestValidator) {
      const errors = parsed.ok ? requestValidator(method, template, parsed.body) : ['request body is not valid JSON'];
      if (errors.length > 0) {
        violations.push({ kind: 'request', method, path, route: template, status: 0, body: parsed.ok ? parsed.body : rawBody, errors });
      }
    }

    if (limiter) {
      const decision = limiter.check(account, entry.route, arrived);
      if (!decision.allowed) {
        entry.fault = 'rate-limit';
        const headers: Record<string, string> = currentLimits?.retryAfter
          ? { 'retry-after': String(decision.retryAfterSeconds) }
          : {};
        return fail(429, 'rate limit exceeded', '', headers);
      }
    }

    const decision = faults.decide(method, template);
    if (decision.latencyMs > 0) await clock.sleep(decision.latencyMs);
    if (decision.fault !== 'none') entry.fault = decision.fault;
    if (decision.fault === '429') return fail(429, 'rate limit exceeded', '', { 'retry-after': '1' });
    if (decision.fault === '503') return fail(503, 'service unavailable');

    let reply: Reply | undefined;
    if (decision.apply) {
      if (!parsed.ok) return fail(400, 'request body is not valid JSON');
      const body = parsed.body;
      try {
        reply = match.route.handler({ account, params: match.params, query: url.searchParams, body, state });
        entry.applied = method !== 'GET' && reply.status < 300;
        if (entry.applied) void compute?.sync();
      } catch (err) {
        if (err instanceof ApiError) {
          if (decision.fault === 'none') return fail(err.status, err.message, err.code);
        } else {
          if (decision.fault === 'none') return fail(500, 'internal error');
        }
      }
    }
    if (decision.fault === 'reset') {
      record(entry, { method, path, route: template, status: 0 });
      req.socket.destroy();
      return;
    }
    if (decision.fault === '500') return fail(500, 'internal error');
    if (decision.fault === '524') return fail(524, 'a timeout occurred');
    if (reply) send(reply);
  }

  const server = createServer({ keepAlive: true }, (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: '', message: 'internal error' }));
      } else {
        res.destroy();
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}${API_PREFIX}`,
    port,
    state,
    requests: log,
    stop: async () => {
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      await compute?.stop();
      if (compute && compute.errors.length > 0) {
        throw new Error(`the emulator's Postgres data plane failed ${compute.errors.length} times:\n${compute.errors.slice(0, 10).join('\n')}`);
      }
      const broken = violations.filter((v) => v.kind === 'response');
      if (broken.length > 0 && !opts.allowSpecViolations) {
        const lines = broken.slice(0, 10).map((v) => `${v.method} ${v.route} ${v.status}: ${v.errors.join('; ')}`);
        throw new Error(`the emulator sent ${broken.length} responses that break Neon's OpenAPI spec:\n${lines.join('\n')}`);
      }
    },
    setFaults: (f) => faults.set(f),
    setLimits: (l) => {
      currentLimits = l === false ? undefined : l;
      limiter = l === false ? undefined : new RateLimiter(l);
    },
    counters: () => structuredClone(counters),
    resetCounters: () => {
      counters = emptyCounters();
    },
    accountOf,
    specViolations: () => [...violations],
    compute,
  };
}
