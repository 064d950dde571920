/**
 * The Neon client and its shared scheduler against the emulator over loopback. Limits are scaled down and
 * the clock sped up so minutes of Neon time pass in seconds; every assertion is on counts, never on time.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ScaledClock, type Clock } from '../../src/clock.ts';
import {
  NeonClient,
  NeonScheduler,
  OperationFailedError,
  OutcomeUnknownError,
  RateLimitedError,
  ServerError,
  TransportError,
  UnauthorizedError,
  type NeonSchedulerOptions,
  type SchedulerEvent,
} from '../../src/neon/index.ts';
import { RawClient } from '../emulator/raw-client.ts';
import { startEmulator, type EmulatorHandle, type EmulatorOptions, type RequestLogEntry } from '../emulator/server.ts';

const KEY = 'neon-test-key-0123456789abcdef';

/** Deterministic [0,1) sequence for jitter. */
function seededRandom(seed = 42): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Setup {
  clock: Clock;
  emulator: EmulatorHandle;
  scheduler: NeonScheduler;
  client: NeonClient;
  events: SchedulerEvent[];
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function setup(
  o: { factor?: number; emulator?: EmulatorOptions; scheduler?: NeonSchedulerOptions; apiKey?: string; logger?: pino.Logger } = {},
): Promise<Setup> {
  const clock = new ScaledClock(o.factor ?? 50);
  const emulator = await startEmulator({ clock, seed: 7, limits: false, ...o.emulator });
  const scheduler = new NeonScheduler({ clock, random: seededRandom(), ...o.scheduler });
  const client = new NeonClient({
    apiKey: o.apiKey ?? KEY,
    scheduler,
    baseUrl: emulator.url,
    clock,
    // Timeouts are on the sped-up clock; keep them at 30 s of real time so a loaded machine is no fault.
    requestTimeoutMs: 30_000 * (o.factor ?? 50),
    ...(o.logger ? { logger: o.logger } : {}),
  });
  const events: SchedulerEvent[] = [];
  scheduler.onEvent((e) => events.push(e));
  cleanups.push(async () => {
    await client.close();
    await emulator.stop();
  });
  return { clock, emulator, scheduler, client, events };
}

/** Largest number of log entries inside any window of `windowMs` (arrival times, emulator clock). */
function maxInWindow(entries: readonly RequestLogEntry[], windowMs: number): number {
  const times = entries.map((e) => e.time).sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] as number) - (times[start] as number) >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

async function createProjects(client: NeonClient, n: number): Promise<string[]> {
  const created = await Promise.all(Array.from({ length: n }, (_, i) => client.createProject({ name: `p${i}` })));
  return created.map((c) => c.project.id);
}

describe('NeonScheduler against the emulator', () => {
  it('holds the rate budget for a burst of 2,000 queued calls across 10 projects: no 429 anywhere', async () => {
    const limits = { perMinute: 240, perRoutePerSecond: 8, retryAfter: true };
    const { client, emulator, scheduler } = await setup({
      factor: 200,
      emulator: { limits, durations: { create_timeline: 200, start_compute: 200, create_branch: 50 } },
      scheduler: { limits: { perWindow: limits.perMinute, windowMs: 60_000, perRoutePerSecond: limits.perRoutePerSecond } },
    });
    const projects = await createProjects(client, 10);

    const calls: Array<Promise<unknown>> = [];
    for (let i = 0; i < 2_000; i++) {
      const projectId = projects[i % projects.length] as string;
      const round = Math.floor(i / projects.length);
      // Mostly reads (what a resync looks like), with a branch creation per project now and then.
      if (round % 40 === 0) calls.push(client.createBranch(projectId, { branch: { name: `b${round}` } }));
      else if (round % 4 === 0) calls.push(client.listAllBranches(projectId));
      else if (round % 4 === 1) calls.push(client.getProject(projectId));
      else if (round % 4 === 2) calls.push(client.listEndpoints(projectId));
      else calls.push(client.listOperations(projectId, { limit: 5 }));
    }
    const results = await Promise.allSettled(calls);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toEqual([]);

    const counters = emulator.counters();
    expect(counters.byStatus['429'] ?? 0).toBe(0);
    expect(emulator.requests.filter((r) => r.fault === 'rate-limit')).toEqual([]);
    expect(scheduler.stats().rateLimited).toBe(0);
    expect(counters.total).toBeGreaterThanOrEqual(2_010);

    // The counts prove the budget: at most `perMinute` arrivals in any minute, `perRoutePerSecond` per
    // route in any second; and the burst did use the budget (it was not merely slow).
    const perMinute = maxInWindow(emulator.requests, 60_000);
    expect(perMinute).toBeLessThanOrEqual(limits.perMinute);
    expect(perMinute).toBeGreaterThan(limits.perMinute / 2);
    const byRoute = new Map<string, RequestLogEntry[]>();
    for (const r of emulator.requests) byRoute.set(r.route ?? '?', [...(byRoute.get(r.route ?? '?') ?? []), r]);
    for (const entries of byRoute.values()) {
      expect(maxInWindow(entries, 1_000)).toBeLessThanOrEqual(limits.perRoutePerSecond);
    }
  }, 120_000);

  it('rides out a 429 storm: callers never see a 429 and the whole account slows down', async () => {
    const { client, emulator, scheduler, events } = await setup({
      factor: 200,
      scheduler: { retry: { maxRateLimitedAttempts: 40 } },
    });
    const projects = await createProjects(client, 4);
    emulator.setFaults({ rate429: 0.3 });
    const reads = await Promise.allSettled(
      Array.from({ length: 120 }, (_, i) => client.getProject(projects[i % projects.length] as string)),
    );
    expect(reads.filter((r) => r.status === 'rejected')).toEqual([]);
    const seen429 = emulator.counters().byStatus['429'] ?? 0;
    expect(seen429).toBeGreaterThan(10);
    expect(scheduler.stats().rateLimited).toBe(seen429);
    // Every 429 paused the account for the emulator's Retry-After (1 s).
    const pauses = events.filter((e) => e.type === 'rate-limited');
    expect(pauses).toHaveLength(seen429);
    expect(pauses.every((e) => e.type === 'rate-limited' && e.retryAfterMs === 1_000)).toBe(true);
    expect(scheduler.budget(client.account).multiplier()).toBeLessThan(1);
  }, 60_000);

  it('a 429 without Retry-After still pauses with a jittered backoff, and a persistent one surfaces typed', async () => {
    const { client, emulator, scheduler } = await setup({
      factor: 200,
      emulator: { limits: { perMinute: 2, perRoutePerSecond: 40, retryAfter: false } },
      scheduler: { retry: { maxRateLimitedAttempts: 3, backoff: { baseMs: 100, capMs: 400 } } },
    });
    const [projectId] = await createProjects(client, 1);
    await client.getProject(projectId as string);
    // The scheduler's own budget is Neon's real one, so the emulator's tiny limit answers 429s.
    const err = await client.getProject(projectId as string).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBeUndefined();
    expect(scheduler.stats().rateLimited).toBe(3);
    expect(emulator.counters().byStatus['429']).toBe(3);
  });

  it('serialises mutations per project so none meets a 423, and waits out 423s caused by others', async () => {
    const { client, emulator, scheduler } = await setup({
      factor: 100,
      emulator: { durations: { create_branch: 400, start_compute: 800, apply_config: 200 } },
    });
    const [projectId] = await createProjects(client, 1);
    const pid = projectId as string;
    // 12 mutations fired at once on one project: the lane runs them one by one after each one's operations.
    const created = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        client.createBranch(pid, { branch: { name: `lane-${i}` }, endpoints: [{ type: 'read_write' }] }),
      ),
    );
    const main = (await client.listAllBranches(pid)).branches.find((b) => b.default);
    const roles = await Promise.all(
      Array.from({ length: 6 }, (_, i) => client.createRole(pid, (main as { id: string }).id, { name: `role${i}` })),
    );
    await client.waitForOperations(pid, roles.flatMap((r) => r.operations));
    expect(created).toHaveLength(6);
    expect(emulator.counters().byStatus['423'] ?? 0).toBe(0);
    expect(scheduler.stats().locked).toBe(0);

    // Another actor (the console, another process) starts operations we do not know about; they last a
    // second of real time, so our next mutation surely meets them.
    emulator.state.durations['start_compute'] = 100_000;
    const other = new RawClient(emulator.url, KEY);
    const foreign = await other.post(`/projects/${pid}/branches`, { branch: { name: 'foreign' }, endpoints: [{ type: 'read_write' }] });
    expect(foreign.status).toBe(201);
    const role = await client.createRole(pid, (main as { id: string }).id, { name: 'after-foreign' });
    expect(role.role.name).toBe('after-foreign');
    const locked = emulator.counters().byRouteStatus['POST /projects/{project_id}/branches/{branch_id}/roles 423'] ?? 0;
    expect(locked).toBeGreaterThanOrEqual(1);
    expect(scheduler.stats().locked).toBe(locked);
  }, 60_000);

  it('after a 423 the mutation waits for the project to drain instead of hammering it', async () => {
    const { client, emulator } = await setup({
      factor: 200,
      emulator: { durations: { create_timeline: 10_000_000 } },
      scheduler: { operationPoll: { initialMs: 100, maxMs: 100 } },
    });
    // A project created behind the client's back: its create_timeline never ends.
    const raw = await new RawClient(emulator.url, KEY).post('/projects', { project: { name: 'stuck' } });
    const pid = raw.body.project.id as string;
    const branchId = raw.body.branch.id as string;
    const controller = new AbortController();
    const pending = client.createRole(pid, branchId, { name: 'x' }, { signal: controller.signal });
    // Let several drain polls pass, then give up.
    while ((emulator.counters().byRoute['GET /projects/{project_id}/operations'] ?? 0) < 5) {
      await new Promise((r) => setTimeout(r, 5));
    }
    controller.abort(new Error('caller gave up'));
    await expect(pending).rejects.toThrow('caller gave up');
    const route = 'POST /projects/{project_id}/branches/{branch_id}/roles';
    expect(emulator.counters().byRouteStatus[`${route} 423`]).toBe(1);
    expect(emulator.counters().byRoute[route]).toBe(1);
  }, 30_000);

  it('operation waits poll once per project per round, whatever the number of waiters', async () => {
    const { client, emulator, events } = await setup({
      factor: 100,
      emulator: { durations: { create_branch: 300, start_compute: 3_000 } },
      scheduler: { operationPoll: { initialMs: 500, maxMs: 500, factor: 1 } },
    });
    const projects = await createProjects(client, 3);
    // Let the projects' own creation operations end, then start work to wait for.
    await Promise.all(projects.map((p) => client.listOperations(p).then((l) => client.waitForOperations(p, l.operations))));
    const branches = await Promise.all(
      projects.map((p) => client.createBranch(p, { branch: { name: 'w' }, endpoints: [{ type: 'read_write' }] })),
    );
    emulator.resetCounters();
    const before = events.length;

    // 15 waiters per project, each on the same two operations.
    const waiters = projects.flatMap((p, i) =>
      Array.from({ length: 15 }, () => client.waitForOperations(p, branches[i]?.operations ?? [])),
    );
    const finished = await Promise.all(waiters);
    expect(finished.every((ops) => ops.length === 2 && ops.every((op) => op.status === 'finished'))).toBe(true);

    const rounds = events.slice(before).filter((e) => e.type === 'operations-poll');
    const opsGets = emulator.counters().byRoute['GET /projects/{project_id}/operations'] ?? 0;
    // One GET per round, and each round answered all 15 waiters of its project at once.
    expect(opsGets).toBe(rounds.length);
    for (const p of projects) {
      const mine = rounds.filter((r) => r.type === 'operations-poll' && r.projectId === p);
      expect(mine.length).toBeGreaterThan(0);
      expect(mine[0]?.type === 'operations-poll' && mine[0].waiters).toBe(15);
    }
    // 45 waiters × 2 operations with ~3.3 s of work at 0.5 s rounds: far fewer GETs than waited operations.
    expect(opsGets).toBeLessThan(90 / 3);
  }, 60_000);

  it('a failed operation surfaces as OperationFailedError to its waiters', async () => {
    const { client, emulator } = await setup({ factor: 100, scheduler: { operationPoll: { initialMs: 200 } } });
    const [pid] = await createProjects(client, 1);
    emulator.setFaults({ operationFailureRate: 1, operationFailureStatus: 'error' });
    const main = (await client.listAllBranches(pid as string)).branches[0] as { id: string };
    const role = await client.createRole(pid as string, main.id, { name: 'doomed' });
    const err = await client.waitForOperations(pid as string, role.operations).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as OperationFailedError).status).toBe('error');
  }, 30_000);

  it.each([
    ['500', { rate500: 1 }, ServerError],
    ['524', { rate524: 1 }, ServerError],
    ['reset', { resetRate: 1 }, TransportError],
  ] as const)('an unsafe mutation failure (%s) is outcome-unknown and sent exactly once', async (_name, fault, causeType) => {
    const { client, emulator, scheduler } = await setup({ factor: 100 });
    const [pid] = await createProjects(client, 1);
    const route = 'POST /projects/{project_id}/branches';
    emulator.setFaults({ ...fault, routes: [route] });
    emulator.resetCounters();
    const err = await client.createBranch(pid as string, { branch: { name: 'maybe' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect((err as OutcomeUnknownError).cause).toBeInstanceOf(causeType);
    expect((err as OutcomeUnknownError).mayHaveApplied).toBe(true);
    expect((err as OutcomeUnknownError).requestId).not.toBe('');
    expect(emulator.counters().byRoute[route]).toBe(1);
    expect(scheduler.stats().outcomeUnknown).toBe(1);
  }, 30_000);

  it('retries what is safe: a mutation on 503, a GET on 500, both bounded', async () => {
    const { client, emulator } = await setup({ factor: 200, scheduler: { retry: { maxAttempts: 4, backoff: { baseMs: 20, capMs: 80 } } } });
    const [pid] = await createProjects(client, 1);
    const post = 'POST /projects/{project_id}/branches';
    const get = 'GET /projects/{project_id}';
    emulator.setFaults({ rate503: 1, routes: [post] });
    const e503 = await client.createBranch(pid as string, { branch: { name: 'x' } }).catch((e: unknown) => e);
    expect(e503).toBeInstanceOf(ServerError);
    expect((e503 as ServerError).status).toBe(503);
    expect((e503 as ServerError).mayHaveApplied).toBe(false);
    expect(emulator.counters().byRouteStatus[`${post} 503`]).toBe(4);
    emulator.setFaults({ rate500: 1, routes: [get] });
    const e500 = await client.getProject(pid as string).catch((e: unknown) => e);
    expect(e500).toBeInstanceOf(ServerError);
    expect(emulator.counters().byRouteStatus[`${get} 500`]).toBe(4);
  }, 30_000);

  it('a bad API key gives UnauthorizedError, not retried', async () => {
    const { client, emulator } = await setup({ emulator: { apiKeys: ['the-only-good-key-xyz'] } });
    const err = await client.listProjects().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect((err as UnauthorizedError).status).toBe(401);
    expect((err as UnauthorizedError).message).not.toContain(KEY);
    expect(emulator.counters().total).toBe(1);
  });

  it('several API keys (accounts) in one process share one scheduler but not one budget', async () => {
    const { client, emulator, scheduler, clock } = await setup({ factor: 100 });
    const second = new NeonClient({ apiKey: 'second-account-key-abcdef', scheduler, baseUrl: emulator.url, clock, requestTimeoutMs: 3_000_000 });
    cleanups.push(() => second.close());
    const a = await client.createProject({ name: 'a' });
    const b = await second.createProject({ name: 'b' });
    expect(client.account).not.toBe(second.account);
    expect((await client.listAllProjects()).map((p) => p.id)).toEqual([a.project.id]);
    expect((await second.listAllProjects()).map((p) => p.id)).toEqual([b.project.id]);
    expect(scheduler.budget(client.account)).not.toBe(scheduler.budget(second.account));
  });

  it('never writes the API key, a password or a connection URI to its logs or errors', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (s: string) => lines.push(s) });
    const { client, emulator } = await setup({ factor: 100, logger });
    const p = await client.createProject({ name: 'secrets' });
    const pid = p.project.id;
    const branchId = p.branch.id;
    const role = await client.createRole(pid, branchId, { name: 'app' });
    const revealed = await client.revealRolePassword(pid, branchId, 'app');
    const reset = await client.resetRolePassword(pid, branchId, 'app');
    const uri = await client.connectionUri(pid, { databaseName: 'neondb', roleName: 'app', pooled: true });
    emulator.setFaults({ rate500: 1, routes: ['POST /projects/{project_id}/branches/{branch_id}/roles'] });
    const err = await client.createRole(pid, branchId, { name: 'other' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);

    const secrets = [
      KEY,
      role.role.password,
      revealed,
      reset.role.password,
      uri,
      p.connection_uris[0]?.connection_uri,
      p.connection_uris[0]?.connection_parameters.password,
    ].filter((s): s is string => typeof s === 'string' && s.length > 0);
    expect(secrets.length).toBeGreaterThanOrEqual(6);
    const logText = lines.join('');
    expect(lines.length).toBeGreaterThan(5);
    expect(logText).toContain('request_id');
    for (const s of secrets) {
      expect(logText).not.toContain(s);
      expect(String(err)).not.toContain(s);
    }
  });
});

describe('scheduler guards against misuse', () => {
  it('rejects a call whose signal aborts while it is queued, without sending it', async () => {
    const { client, emulator } = await setup({
      factor: 50,
      emulator: { durations: { create_timeline: 1_000_000 } },
      scheduler: { operationPoll: { initialMs: 100, maxMs: 100 } },
    });
    const p = await client.createProject({ name: 'busy' });
    emulator.resetCounters();
    const controller = new AbortController();
    // The lane holds this mutation until create_timeline ends, which it never does.
    const pending = client.createRole(p.project.id, p.branch.id, { name: 'r' }, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('gave up')), 50);
    await expect(pending).rejects.toThrow('gave up');
    expect(emulator.counters().byRoute['POST /projects/{project_id}/branches/{branch_id}/roles'] ?? 0).toBe(0);
  });
});
