import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { ScaledClock } from '../clock.ts';
import { NeonClient, NeonScheduler, type SchedulerEvent, type SchedulerStats } from '../neon/index.ts';
import { pino } from 'pino';
import { KubeClient, Manager, type Controller, type KubeObject } from '../runtime/index.ts';
import { FakeTransport } from '../runtime/fake-transport.ts';
import { RawClient } from '../../test/emulator/raw-client.ts';
import { startEmulator } from '../../test/emulator/server.ts';
import { OperatorMetrics, type ControllerSource, type LeaderSource, type ManagerSource, type SchedulerSource } from './metrics.ts';
import { parseExposition, type Scrape } from './scrape.test-support.ts';
import { startObservabilityServer, type ObservabilityServer } from './server.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Serves the metrics over HTTP and scrapes them as Prometheus would. */
async function serve(metrics: OperatorMetrics): Promise<() => Promise<Scrape>> {
  const server: ObservabilityServer = await startObservabilityServer({
    port: 0,
    host: '127.0.0.1',
    registry: metrics.registry,
    isReady: () => true,
    isHealthy: () => true,
    eventLoopWatch: false,
  });
  cleanups.push(() => server.close());
  return async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    return parseExposition(await res.text());
  };
}

const emptyStats: SchedulerStats = {
  queued: 0,
  inFlight: 0,
  lanes: 0,
  requests: {},
  rateLimited: 0,
  locked: 0,
  retries: 0,
  outcomeUnknown: 0,
  queueWait: { count: 0, totalMs: 0, maxMs: 0 },
  operationPollRounds: 0,
  operationListRequests: 0,
  operationsWaited: 0,
};

/** A scheduler stand-in whose events and stats the test controls. */
class ScriptedScheduler implements SchedulerSource {
  readonly listeners = new Set<(e: SchedulerEvent) => void>();
  current: SchedulerStats = { ...emptyStats };
  onEvent(listener: (e: SchedulerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  stats(): SchedulerStats {
    return this.current;
  }
  emit(e: SchedulerEvent): void {
    for (const l of this.listeners) l(e);
  }
}

const request = (over: Partial<Extract<SchedulerEvent, { type: 'request' }>>): SchedulerEvent => ({
  type: 'request',
  account: 'key-0123456789ab',
  projectId: 'quiet-sky-123456',
  method: 'GET',
  route: '/projects/{project_id}',
  status: 200,
  durationMs: 40,
  queueWaitMs: 0,
  attempt: 1,
  requestId: 'req-1',
  outcome: 'ok',
  ...over,
});

function withReady(name: string, status: 'True' | 'False' | undefined): KubeObject {
  const obj: KubeObject & { status?: unknown } = { metadata: { namespace: 'ns', name } };
  if (status) obj.status = { conditions: [{ type: 'Ready', status, reason: 'R', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
  return obj;
}

function controllerOf(name: string, kind: string, objects: KubeObject[], stats = { queued: 0, processing: 0, waiting: 0 }): ControllerSource {
  return { name, resource: { kind }, queue: { stats }, informer: { list: () => objects } };
}

describe('OperatorMetrics', () => {
  it('takes the runtime Controller and Manager and the NeonScheduler as they are', () => {
    expectTypeOf<Controller>().toExtend<ControllerSource>();
    expectTypeOf<Manager>().toExtend<LeaderSource>();
    expectTypeOf<Manager>().toExtend<ManagerSource>();
    expectTypeOf<NeonScheduler>().toExtend<SchedulerSource>();
  });

  it('exposes every operator metric under the neon_operator_ prefix with Prometheus types, plus process defaults', async () => {
    const scrape = await serve(new OperatorMetrics());
    const s = await scrape();
    const expected: Record<string, string> = {
      neon_operator_reconcile_total: 'counter',
      neon_operator_reconcile_duration_seconds: 'histogram',
      neon_operator_neon_api_requests_total: 'counter',
      neon_operator_neon_api_request_duration_seconds: 'histogram',
      neon_operator_neon_api_retries_total: 'counter',
      neon_operator_neon_api_outcome_unknown_total: 'counter',
      neon_operator_neon_api_rate_limited_total: 'counter',
      neon_operator_neon_api_locked_total: 'counter',
      neon_operator_neon_operation_poll_rounds_total: 'counter',
      neon_operator_neon_scheduler_queue_depth: 'gauge',
      neon_operator_neon_scheduler_in_flight: 'gauge',
      neon_operator_neon_scheduler_queue_wait_seconds: 'histogram',
      neon_operator_workqueue_depth: 'gauge',
      neon_operator_workqueue_in_progress: 'gauge',
      neon_operator_workqueue_delayed: 'gauge',
      neon_operator_resources: 'gauge',
      neon_operator_leader: 'gauge',
      neon_operator_build_info: 'gauge',
      process_cpu_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      nodejs_eventloop_lag_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) {
      // prom-client writes counters' TYPE line without the _total suffix in some versions; accept both.
      const found = s.types.get(name) ?? s.types.get(name.replace(/_total$/, ''));
      expect(found, name).toBe(type);
    }
    expect(s.value('neon_operator_leader')).toBe(0);
    expect(s.value('neon_operator_neon_scheduler_queue_depth')).toBe(0);
    expect(s.sum('neon_operator_build_info')).toBe(1);
  });

  it('counts reconciles by kind and result and observes their durations in seconds', async () => {
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    metrics.bindController(controllerOf('neonbranch', 'NeonBranch', []));
    const scrape = await serve(metrics);
    // Bound kinds start at zero for every result, so rate() works before the first failure.
    let s = await scrape();
    expect(s.value('neon_operator_reconcile_total', { kind: 'NeonBranch', result: 'error' })).toBe(0);

    const key = { namespace: 'ns', name: 'dev' };
    metrics.onReconciled({ controller: 'neonbranch', key, outcome: 'success', durationMs: 30 });
    metrics.onReconciled({ controller: 'neonbranch', key, outcome: 'success', durationMs: 70 });
    metrics.onReconciled({ controller: 'neonbranch', key, outcome: 'error', durationMs: 2_000 });
    // A controller that was never bound is labelled by its name.
    metrics.onReconciled({ controller: 'other', key, outcome: 'requeue', durationMs: 5 });

    s = await scrape();
    expect(s.value('neon_operator_reconcile_total', { kind: 'NeonBranch', result: 'success' })).toBe(2);
    expect(s.value('neon_operator_reconcile_total', { kind: 'NeonBranch', result: 'error' })).toBe(1);
    expect(s.value('neon_operator_reconcile_total', { kind: 'NeonBranch', result: 'terminal' })).toBe(0);
    expect(s.value('neon_operator_reconcile_total', { kind: 'other', result: 'requeue' })).toBe(1);
    expect(s.value('neon_operator_reconcile_duration_seconds_count', { kind: 'NeonBranch' })).toBe(3);
    expect(s.value('neon_operator_reconcile_duration_seconds_sum', { kind: 'NeonBranch' })).toBeCloseTo(2.1, 9);
    expect(s.value('neon_operator_reconcile_duration_seconds_bucket', { kind: 'NeonBranch', le: '0.05' })).toBe(1);
    expect(s.value('neon_operator_reconcile_duration_seconds_bucket', { kind: 'NeonBranch', le: '0.1' })).toBe(2);
    expect(s.value('neon_operator_reconcile_duration_seconds_bucket', { kind: 'NeonBranch', le: '+Inf' })).toBe(3);
  });

  it('turns scheduler events into request, latency, retry, 429, 423 and poll counts, and reads queue depth at scrape time', async () => {
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    const scheduler = new ScriptedScheduler();
    const unbind = metrics.bindScheduler(scheduler);
    expect(metrics.bindScheduler(scheduler)()).toBeUndefined(); // a second bind is a no-op
    const scrape = await serve(metrics);

    scheduler.emit(request({ durationMs: 40, queueWaitMs: 0 }));
    scheduler.emit(request({ durationMs: 60, queueWaitMs: 1_500 }));
    scheduler.emit({ type: 'rate-limited', account: 'a', route: '/projects', pauseMs: 1_000, retryAfterMs: 1_000 });
    scheduler.emit(request({ method: 'POST', route: '/projects', status: 429, outcome: 'retry', durationMs: 10 }));
    scheduler.emit({ type: 'locked', account: 'a', projectId: 'p', route: '/projects/{project_id}/branches' });
    scheduler.emit(request({ method: 'POST', route: '/projects/{project_id}/branches', status: 423, outcome: 'retry' }));
    scheduler.emit(request({ method: 'POST', route: '/projects/{project_id}/branches', status: 0, outcome: 'outcome-unknown' }));
    scheduler.emit({ type: 'operations-poll', account: 'a', projectId: 'p', waiters: 3, pages: 1 });
    scheduler.current = { ...emptyStats, queued: 7, inFlight: 2 };

    const s = await scrape();
    const req = 'neon_operator_neon_api_requests_total';
    expect(s.value(req, { method: 'GET', route: '/projects/{project_id}', status: '200' })).toBe(2);
    expect(s.value(req, { method: 'POST', route: '/projects', status: '429' })).toBe(1);
    expect(s.value(req, { method: 'POST', route: '/projects/{project_id}/branches', status: '423' })).toBe(1);
    expect(s.value(req, { method: 'POST', route: '/projects/{project_id}/branches', status: '0' })).toBe(1);
    expect(s.sum(req)).toBe(5);
    const dur = 'neon_operator_neon_api_request_duration_seconds';
    expect(s.value(`${dur}_count`, { method: 'GET', route: '/projects/{project_id}' })).toBe(2);
    expect(s.value(`${dur}_sum`, { method: 'GET', route: '/projects/{project_id}' })).toBeCloseTo(0.1, 9);
    expect(s.value('neon_operator_neon_api_rate_limited_total', { route: '/projects' })).toBe(1);
    expect(s.value('neon_operator_neon_api_locked_total', { route: '/projects/{project_id}/branches' })).toBe(1);
    expect(s.sum('neon_operator_neon_api_retries_total')).toBe(2);
    expect(s.value('neon_operator_neon_api_outcome_unknown_total', { method: 'POST', route: '/projects/{project_id}/branches' })).toBe(1);
    expect(s.value('neon_operator_neon_operation_poll_rounds_total')).toBe(1);
    expect(s.value('neon_operator_neon_scheduler_queue_depth')).toBe(7);
    expect(s.value('neon_operator_neon_scheduler_in_flight')).toBe(2);
    expect(s.value('neon_operator_neon_scheduler_queue_wait_seconds_count')).toBe(5);
    expect(s.value('neon_operator_neon_scheduler_queue_wait_seconds_bucket', { le: '1' })).toBe(4);
    expect(s.value('neon_operator_neon_scheduler_queue_wait_seconds_bucket', { le: '5' })).toBe(5);
    // No account, project or request ID ever becomes a label.
    const labelValues = s.samples.flatMap((x) => Object.values(x.labels));
    expect(labelValues.filter((v) => /key-|quiet-sky|req-1/.test(v))).toEqual([]);

    unbind();
    scheduler.emit(request({}));
    const after = await scrape();
    expect(after.value(req, { method: 'GET', route: '/projects/{project_id}', status: '200' })).toBe(2);
    expect(after.value('neon_operator_neon_scheduler_queue_depth')).toBe(0);
  });

  it('reports resources by kind and Ready status, work queue gauges and leadership from live sources', async () => {
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    const branches = [withReady('a', 'True'), withReady('b', 'True'), withReady('c', 'False'), withReady('d', undefined)];
    const roles: KubeObject[] = [withReady('app', 'False')];
    const branchQueue = { queued: 3, processing: 1, waiting: 2 };
    metrics.bindController(controllerOf('neonbranch', 'NeonBranch', branches, branchQueue));
    metrics.bindController(controllerOf('neonrole', 'NeonRole', roles));
    const leader = { isLeader: false };
    metrics.bindLeader(leader);
    const scrape = await serve(metrics);

    let s = await scrape();
    const res = 'neon_operator_resources';
    expect(s.value(res, { kind: 'NeonBranch', ready: 'True' })).toBe(2);
    expect(s.value(res, { kind: 'NeonBranch', ready: 'False' })).toBe(1);
    expect(s.value(res, { kind: 'NeonBranch', ready: 'Unknown' })).toBe(1);
    expect(s.value(res, { kind: 'NeonRole', ready: 'True' })).toBe(0);
    expect(s.value(res, { kind: 'NeonRole', ready: 'False' })).toBe(1);
    expect(s.value('neon_operator_workqueue_depth', { kind: 'NeonBranch' })).toBe(3);
    expect(s.value('neon_operator_workqueue_in_progress', { kind: 'NeonBranch' })).toBe(1);
    expect(s.value('neon_operator_workqueue_delayed', { kind: 'NeonBranch' })).toBe(2);
    expect(s.value('neon_operator_workqueue_depth', { kind: 'NeonRole' })).toBe(0);
    expect(s.value('neon_operator_leader')).toBe(0);

    // Gauges follow the sources at each scrape: nothing to keep in sync.
    branches.pop();
    (branches[2] as { status?: unknown }).status = { conditions: [{ type: 'Ready', status: 'True' }] };
    branchQueue.queued = 0;
    leader.isLeader = true;
    s = await scrape();
    expect(s.value(res, { kind: 'NeonBranch', ready: 'True' })).toBe(3);
    expect(s.value(res, { kind: 'NeonBranch', ready: 'False' })).toBe(0);
    expect(s.value(res, { kind: 'NeonBranch', ready: 'Unknown' })).toBe(0);
    expect(s.value('neon_operator_workqueue_depth', { kind: 'NeonBranch' })).toBe(0);
    expect(s.value('neon_operator_leader')).toBe(1);
  });

  it('bound to a real Manager, follows the controllers it runs (also those added later) and labels reconciles by kind', async () => {
    const manager = new Manager({ client: new KubeClient(new FakeTransport()), log: pino({ level: 'silent' }) });
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    metrics.bindManager(manager);
    const scrape = await serve(metrics);
    const resource = { group: 'neon-operator.dev', version: 'v1alpha1', plural: 'neonbranches', kind: 'NeonBranch', namespaced: true };
    const branches = manager.addController({ name: 'neonbranch', resource, reconciler: async () => undefined, onReconciled: metrics.onReconciled });
    // Keys queue before the workers start (the manager starts them when it leads).
    branches.enqueue({ namespace: 'ns', name: 'a' });
    branches.enqueue({ namespace: 'ns', name: 'b' });
    metrics.onReconciled({ controller: 'neonbranch', key: { namespace: 'ns', name: 'a' }, outcome: 'terminal', durationMs: 12 });

    const s = await scrape();
    expect(s.value('neon_operator_workqueue_depth', { kind: 'NeonBranch' })).toBe(2);
    expect(s.value('neon_operator_reconcile_total', { kind: 'NeonBranch', result: 'terminal' })).toBe(1);
    expect(s.value('neon_operator_reconcile_total', { kind: 'NeonBranch', result: 'success' })).toBe(0);
    expect(s.value('neon_operator_resources', { kind: 'NeonBranch', ready: 'True' })).toBe(0);
    expect(s.value('neon_operator_leader')).toBe(0);
  });

  it('separate instances keep separate registries', async () => {
    const a = new OperatorMetrics({ defaultMetrics: false });
    const b = new OperatorMetrics({ defaultMetrics: false });
    a.recordReconcile('NeonProject', 'success', 1);
    const sa = parseExposition(await a.registry.metrics());
    const sb = parseExposition(await b.registry.metrics());
    expect(sa.value('neon_operator_reconcile_total', { kind: 'NeonProject', result: 'success' })).toBe(1);
    expect(sb.value('neon_operator_reconcile_total', { kind: 'NeonProject', result: 'success' })).toBeUndefined();
  });
});

describe('OperatorMetrics bound to a real NeonScheduler talking to the emulator', () => {
  it('counts the requests, 429s and 423s the emulator answered, by route and status', async () => {
    const factor = 100;
    const clock = new ScaledClock(factor);
    const emulator = await startEmulator({ clock, seed: 11, limits: false, durations: { create_timeline: 200, start_compute: 200, create_branch: 20_000 } });
    const scheduler = new NeonScheduler({
      clock,
      random: () => 0.5,
      retry: { maxRateLimitedAttempts: 3 },
      operationPoll: { initialMs: 100, maxMs: 200 },
    });
    const apiKey = 'metrics-test-key-0123456789';
    const client = new NeonClient({ apiKey, scheduler, baseUrl: emulator.url, clock, requestTimeoutMs: 30_000 * factor });
    cleanups.push(async () => {
      await client.close();
      await emulator.stop();
    });
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    metrics.bindScheduler(scheduler);
    const scrape = await serve(metrics);

    const created = await client.createProject({ name: 'metrics' });
    const pid = created.project.id;
    await client.waitForOperations(pid, created.operations);
    await client.getProject(pid);

    // Every GET of the project answers 429 until the scheduler gives up (3 attempts).
    emulator.setFaults({ rate429: 1, routes: ['GET /projects/{project_id}'] });
    await expect(client.getProject(pid)).rejects.toThrow();
    emulator.setFaults({});

    // Someone else starts an operation the scheduler does not know about: the next mutation meets a 423.
    const foreign = await new RawClient(emulator.url, apiKey).post(`/projects/${pid}/branches`, { branch: { name: 'foreign' } });
    expect(foreign.status).toBe(201);
    const branch = await client.createBranch(pid, { branch: { name: 'mine' } });
    await client.waitForOperations(pid, branch.operations);

    const s = await scrape();
    const counters = emulator.counters().byRouteStatus;
    const req = 'neon_operator_neon_api_requests_total';
    const pairs: Array<[string, string, string]> = [
      ['POST', '/projects', '201'],
      ['GET', '/projects/{project_id}', '200'],
      ['GET', '/projects/{project_id}', '429'],
      ['POST', '/projects/{project_id}/branches', '423'],
      ['POST', '/projects/{project_id}/branches', '201'],
    ];
    for (const [method, route, status] of pairs) {
      const seen = counters[`${method} ${route} ${status}`] ?? 0;
      expect(seen, `${method} ${route} ${status}`).toBeGreaterThan(0);
      // The foreign POST went around the scheduler: the emulator saw it, the metrics did not.
      const foreignSeen = method === 'POST' && route === '/projects/{project_id}/branches' && status === '201' ? 1 : 0;
      expect(s.value(req, { method, route, status }), `${method} ${route} ${status}`).toBe(seen - foreignSeen);
    }
    expect(s.value('neon_operator_neon_api_rate_limited_total', { route: '/projects/{project_id}' })).toBe(3);
    expect(s.sum('neon_operator_neon_api_locked_total')).toBe(counters['POST /projects/{project_id}/branches 423']);
    expect(s.sum(req)).toBe(emulator.counters().total - 1);
    expect(s.sum('neon_operator_neon_api_request_duration_seconds_count')).toBe(emulator.counters().total - 1);
    expect(s.value('neon_operator_neon_scheduler_queue_depth')).toBe(0);
    expect(s.value('neon_operator_neon_operation_poll_rounds_total')).toBe(scheduler.stats().operationPollRounds);
  }, 60_000);
});
