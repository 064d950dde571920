/**
 * Benchmark of the Neon scheduler against the emulator with Neon's REAL limits (700 requests per minute
 * per account, 40 per second per route), on a sped-up clock so minutes of Neon time pass in seconds.
 *
 *   npm run bench:scheduler [-- --calls 2000 --projects 10 --factor 100]
 *
 * Prints: for a burst of queued calls, the calls Neon (the emulator) saw against the rate-limit bound
 * for that time, the busiest minute and route-second, and the 429s; for operation waits, the
 * operations-list GETs per waited operation; for one busy project, the gap between an operation's end
 * and the next mutation; the same burst under a 429 storm (sustained rate as a share of the limit); the
 * longest time nothing was in flight while calls were queued after a short burst of 429s; and the 429s
 * from Neon's own limiter when a restarted operator meets the budget its predecessor used.
 * It is a measurement, not a test: nothing here fails on numbers. On a loaded machine the process falls
 * behind a fast clock; a smaller `--factor` (20) gives steadier numbers.
 */
import { parseArgs } from 'node:util';
import { ScaledClock } from '../src/clock.ts';
import { NeonClient, NeonScheduler, RateLimitedError, type SchedulerEvent } from '../src/neon/index.ts';
import { startEmulator, type EmulatorHandle, type RequestLogEntry } from '../test/emulator/server.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    projects: { type: 'string', default: '10' },
    factor: { type: 'string', default: '100' },
    waiters: { type: 'string', default: '10' },
  },
});
const CALLS = Number(values.calls);
const PROJECTS = Number(values.projects);
const FACTOR = Number(values.factor);
const WAITERS = Number(values.waiters);
const PER_MINUTE = 700;
const PER_ROUTE_SECOND = 40;

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

function maxPerRouteSecond(entries: readonly RequestLogEntry[]): { route: string; count: number } {
  const byRoute = new Map<string, RequestLogEntry[]>();
  for (const e of entries) byRoute.set(e.route ?? '?', [...(byRoute.get(e.route ?? '?') ?? []), e]);
  let best = { route: '-', count: 0 };
  for (const [route, list] of byRoute) {
    const count = maxInWindow(list, 1_000);
    if (count > best.count) best = { route, count };
  }
  return best;
}

interface Operator {
  scheduler: NeonScheduler;
  client: NeonClient;
  /** Scheduler events with the clock time they were emitted at. */
  events: Array<{ at: number; event: SchedulerEvent }>;
}

interface Environment extends Operator {
  clock: ScaledClock;
  emulator: EmulatorHandle;
}

function apiKey(seed: number): string {
  return `bench-key-${seed}-0123456789`;
}

/** One operator process's view of Neon: its own scheduler (and so its own budget) and client. */
function connect(clock: ScaledClock, emulator: EmulatorHandle, seed: number): Operator {
  const scheduler = new NeonScheduler({ clock });
  const client = new NeonClient({
    apiKey: apiKey(seed),
    scheduler,
    baseUrl: emulator.url,
    clock,
    requestTimeoutMs: 30_000 * FACTOR,
  });
  const events: Operator['events'] = [];
  scheduler.onEvent((event) => events.push({ at: clock.now(), event }));
  return { scheduler, client, events };
}

async function environment(seed: number): Promise<Environment> {
  const clock = new ScaledClock(FACTOR);
  // A little latency, as a real network has; the emulator enforces Neon's real limits (its default).
  const emulator = await startEmulator({ clock, seed, faults: { latencyMs: 30, latencyJitterMs: 120 } });
  return { clock, emulator, ...connect(clock, emulator, seed) };
}

async function createProjects(client: NeonClient, prefix: string): Promise<string[]> {
  const created = await Promise.all(Array.from({ length: PROJECTS }, (_, i) => client.createProject({ name: `${prefix}-${i}` })));
  return created.map((c) => c.project.id);
}

/** The reads and occasional writes of a resync storm, spread over the projects. */
function burst(client: NeonClient, projects: string[], calls: number): Array<Promise<unknown>> {
  const out: Array<Promise<unknown>> = [];
  for (let i = 0; i < calls; i++) {
    const p = projects[i % projects.length] as string;
    const round = Math.floor(i / projects.length);
    if (round % 50 === 0) out.push(client.createBranch(p, { branch: { name: `bench-${round}` } }));
    else if (round % 4 === 0) out.push(client.listBranches(p));
    else if (round % 4 === 1) out.push(client.getProject(p));
    else if (round % 4 === 2) out.push(client.listEndpoints(p));
    else out.push(client.listOperations(p, { limit: 5 }));
  }
  return out;
}

function fmt(n: number, digits = 1): string {
  return n.toFixed(digits);
}

async function burstPhase(title: string, seed: number, rate429: number): Promise<void> {
  const { clock, emulator, scheduler, client } = await environment(seed);
  const projects = await createProjects(client, 'bench');
  emulator.resetCounters();
  if (rate429 > 0) emulator.setFaults({ rate429, latencyMs: 30, latencyJitterMs: 120 });
  const firstIndex = emulator.requests.length;
  const started = clock.now();
  const realStarted = Date.now();
  const results = await Promise.allSettled(burst(client, projects, CALLS));
  const elapsed = clock.now() - started;
  const log = emulator.requests.slice(firstIndex);
  const admitted = log.filter((e) => e.fault !== 'rate-limit' && e.fault !== '429');
  const failed = results.filter((r) => r.status === 'rejected');
  const stats = scheduler.stats();
  const bound = PER_MINUTE * Math.ceil(elapsed / 60_000);
  const busiestRoute = maxPerRouteSecond(admitted);

  console.log(`\n== ${title}: ${CALLS} queued calls across ${PROJECTS} projects (Neon limits ${PER_MINUTE}/min, ${PER_ROUTE_SECOND}/s per route)`);
  console.log(`  calls issued (requests Neon saw):     ${log.length}  (${admitted.length} admitted)`);
  console.log(`  elapsed Neon time:                    ${fmt(elapsed / 1000)} s  (${fmt((Date.now() - realStarted) / 1000, 2)} s real at ×${FACTOR})`);
  console.log(`  rate-limit bound for that time:       ${bound}  (${PER_MINUTE} × ${Math.ceil(elapsed / 60_000)} started minutes)`);
  console.log(`  busiest 60 s window:                  ${maxInWindow(admitted, 60_000)} / ${PER_MINUTE}`);
  console.log(`  busiest route-second:                 ${busiestRoute.count} / ${PER_ROUTE_SECOND}  (${busiestRoute.route})`);
  const perMinute = (admitted.length / elapsed) * 60_000;
  console.log(`  sustained rate:                       ${fmt(perMinute)} /min  (${fmt((perMinute / PER_MINUTE) * 100, 0)} % of the limit)`);
  const toCallers = failed.filter((r) => r.status === 'rejected' && r.reason instanceof RateLimitedError).length;
  console.log(`  429s: injected ${log.filter((e) => e.fault === '429').length}, from Neon's limiter ${log.filter((e) => e.fault === 'rate-limit').length}, seen by the scheduler ${stats.rateLimited}, reaching callers ${toCallers}`);
  console.log(`  failed calls:                         ${failed.length}`);
  console.log(`  queue wait: mean ${fmt(stats.queueWait.totalMs / Math.max(1, stats.queueWait.count) / 1000)} s, max ${fmt(stats.queueWait.maxMs / 1000)} s`);
  await client.close();
  await emulator.stop();
}

async function waitPhase(): Promise<void> {
  const { emulator, client, events } = await environment(11);
  const projects = await createProjects(client, 'wait');
  // Let creation finish, then start a branch with a compute in every project and wait on it.
  await Promise.all(projects.map(async (p) => client.waitForOperations(p, (await client.listOperations(p)).operations)));
  const created = await Promise.all(projects.map((p) => client.createBranch(p, { branch: { name: 'w' }, endpoints: [{ type: 'read_write' }] })));
  emulator.resetCounters();
  const before = events.length;
  const waits = projects.flatMap((p, i) =>
    Array.from({ length: WAITERS }, () => client.waitForOperations(p, created[i]?.operations ?? [])),
  );
  await Promise.all(waits);
  const operationsWaited = created.reduce((n, c) => n + c.operations.length, 0);
  const gets = emulator.counters().byRoute['GET /projects/{project_id}/operations'] ?? 0;
  const rounds = events.slice(before).filter((e) => e.event.type === 'operations-poll').length;
  console.log(`\n== operation waits: ${PROJECTS} projects × ${WAITERS} waiters on the same create_branch + start_compute`);
  console.log(`  distinct operations waited:           ${operationsWaited}  (${operationsWaited * WAITERS} operation waits)`);
  console.log(`  GET /projects/{id}/operations:        ${gets}  in ${rounds} poll rounds`);
  console.log(`  GETs per waited operation:            ${fmt(gets / operationsWaited, 2)}`);
  console.log(`  GETs per operation wait:              ${fmt(gets / (operationsWaited * WAITERS), 3)}`);
  await client.close();
  await emulator.stop();
}

/**
 * The longest stretch after `from` in which no request was in flight, from the scheduler's request
 * events (each ends at `at` and lasted `durationMs`).
 */
function longestIdle(events: Operator['events'], from: number): number {
  const spans = events
    .flatMap(({ at, event }) => (event.type === 'request' ? [{ start: at - event.durationMs, end: at }] : []))
    .sort((a, b) => a.start - b.start);
  let busyUntil = from;
  let longest = 0;
  for (const span of spans) {
    if (span.end < from) continue;
    longest = Math.max(longest, span.start - busyUntil);
    busyUntil = Math.max(busyUntil, span.end);
  }
  return longest;
}

/** Sleeps on the bench clock until `done` holds, looking every 100 ms of Neon time. */
async function until(clock: ScaledClock, done: () => boolean): Promise<void> {
  while (!done()) await clock.sleep(100);
}

/** A backlog is being served when Neon answers every request with 429 for a moment. */
async function burstOf429sPhase(): Promise<void> {
  const STORM_MS = 3_000;
  const { clock, emulator, client, events } = await environment(3);
  const projects = await createProjects(client, 'burst429');
  const firstIndex = emulator.requests.length;
  const calls = Promise.allSettled(burst(client, projects, CALLS));
  // Strike once a third of the minute's budget is used, so the account has recent history.
  await until(clock, () => emulator.requests.length - firstIndex >= PER_MINUTE / 3);
  const stormStarted = clock.now();
  emulator.setFaults({ rate429: 1, latencyMs: 30, latencyJitterMs: 120 });
  await clock.sleep(STORM_MS);
  emulator.setFaults({ latencyMs: 30, latencyJitterMs: 120 });
  const stormEnded = clock.now();
  const results = await calls;
  const after = emulator.requests.slice(firstIndex).filter((e) => e.time >= stormEnded && e.time < stormEnded + 60_000 && !e.fault);
  console.log(`\n== a ${STORM_MS / 1000} s burst of 429s (Retry-After: 1) while ${CALLS} queued calls are served`);
  console.log(`  429s in the burst:                    ${emulator.requests.filter((e) => e.fault === '429').length}`);
  console.log(`  longest time with nothing in flight:  ${fmt(longestIdle(events, stormStarted) / 1000)} s  (after the burst began; calls were queued)`);
  console.log(`  admitted in the minute after it:      ${after.length}  (${fmt((after.length / PER_MINUTE) * 100, 0)} % of the limit)`);
  console.log(`  failed calls:                         ${results.filter((r) => r.status === 'rejected').length}`);
  await client.close();
  await emulator.stop();
}

/**
 * An operator that used the account's budget stops; a new one starts at once with the same key and a
 * backlog. Neon still counts what the first one sent in the last minute.
 */
async function restartPhase(): Promise<void> {
  const { clock, emulator, scheduler, client } = await environment(4);
  const projects = await createProjects(client, 'restart');
  const startIndex = emulator.requests.length;
  const first = Promise.allSettled(burst(client, projects, CALLS));
  // Restart a busy operator: past its opening minute, with most of the minute's budget used in Neon's eyes.
  await clock.sleep(90_000);
  await until(clock, () => emulator.requests.slice(startIndex).filter((e) => e.time > clock.now() - 60_000).length >= PER_MINUTE * 0.9);
  scheduler.close();
  await first;
  await client.close();
  const restartedAt = clock.now();
  const restartIndex = emulator.requests.length;
  const second = connect(clock, emulator, 4);
  const results = await Promise.allSettled(burst(second.client, projects, PER_MINUTE));
  const log = emulator.requests.slice(restartIndex);
  const limited = log.filter((e) => e.fault === 'rate-limit');
  const firstMinute = log.filter((e) => e.time < restartedAt + 60_000);
  console.log(`\n== restart: a new operator with the same key and ${PER_MINUTE} queued calls, right after one that ran 90+ s and used 90 % of the minute's budget`);
  console.log(`  requests in its first minute:         ${firstMinute.length}  (${firstMinute.filter((e) => !e.fault).length} admitted)`);
  console.log(`  429s from Neon's limiter:             ${limited.length}  (${limited.filter((e) => e.time < restartedAt + 60_000).length} in the first minute)`);
  console.log(`  time to serve the backlog:            ${fmt((clock.now() - restartedAt) / 1000)} s`);
  console.log(`  failed calls:                         ${results.filter((r) => r.status === 'rejected').length}`);
  await second.client.close();
  await emulator.stop();
}

/**
 * One busy project: branches with a compute each, created one after another as Neon serializes them.
 * What matters is the gap between one mutation's operations ending and the next mutation arriving.
 */
async function busyProjectPhase(): Promise<void> {
  const BRANCHES = 20;
  const { clock, emulator, client } = await environment(5);
  const [projectId] = await createProjects(client, 'busy');
  const project = emulator.state.project(emulator.accountOf(apiKey(5)), projectId as string);
  if (!project) throw new Error('the emulator lost the bench project');
  await client.waitForOperations(projectId as string, (await client.listOperations(projectId as string)).operations);
  emulator.resetCounters();
  const startIndex = emulator.requests.length;
  const started = clock.now();
  await Promise.all(
    Array.from({ length: BRANCHES }, (_, i) =>
      client.createBranch(projectId as string, { branch: { name: `busy-${i}` }, endpoints: [{ type: 'read_write' }] }),
    ),
  );
  const elapsed = clock.now() - started;
  const creates = emulator.requests.slice(startIndex).filter((e) => e.route === 'POST /projects/{project_id}/branches' && !e.fault);
  const gaps = creates.slice(1).map((e) => {
    const previousEnd = Math.max(...project.operations.filter((op) => op.createdAt < e.time).map((op) => op.endAt));
    return e.time - previousEnd;
  });
  const serialized = project.operations.filter((op) => op.createdAt >= started).reduce((n, op) => n + (op.endAt - op.startAt), 0);
  const polls = emulator.counters().byRoute['GET /projects/{project_id}/operations'] ?? 0;
  console.log(`\n== one busy project: ${BRANCHES} branches with a compute each, queued at once`);
  console.log(`  serialized operation time:            ${fmt(serialized / 1000)} s;  elapsed ${fmt(elapsed / 1000)} s  (${fmt(elapsed / serialized, 2)} ×)`);
  console.log(`  gap from an operation's end to the next create: mean ${fmt(gaps.reduce((a, b) => a + b, 0) / gaps.length / 1000, 2)} s, max ${fmt(Math.max(...gaps) / 1000, 2)} s`);
  console.log(`  operations GETs per create:           ${fmt(polls / BRANCHES, 1)}`);
  await client.close();
  await emulator.stop();
}

await burstPhase('burst', 1, 0);
await waitPhase();
await busyProjectPhase();
await burstPhase('burst under a 429 storm (10% of answers are injected 429s with Retry-After: 1)', 2, 0.1);
await burstOf429sPhase();
await restartPhase();
