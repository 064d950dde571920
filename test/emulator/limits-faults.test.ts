import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from './manual-clock.ts';
import { RawClient } from './raw-client.ts';
import { startEmulator, type EmulatorHandle, type EmulatorOptions } from './server.ts';

const running: EmulatorHandle[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.stop()));
});

async function emulator(opts: EmulatorOptions): Promise<EmulatorHandle> {
  const em = await startEmulator(opts);
  running.push(em);
  return em;
}

describe('rate limits', () => {
  it('answers 429 with Retry-After past the per-route burst, and recovers after a second', async () => {
    const clock = new ManualClock();
    const em = await emulator({ clock, limits: { perMinute: 100, perRoutePerSecond: 3, retryAfter: true } });
    const api = new RawClient(em.url);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await api.get('/projects')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await api.get('/projects');
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(limited.body.message).toBe('rate limit exceeded');
    // Another route has its own burst budget.
    expect((await api.get('/users/me')).status).toBe(200);
    // Another key is another account.
    expect((await new RawClient(em.url, 'other').get('/projects')).status).toBe(200);
    clock.advance(1000);
    expect((await api.get('/projects')).status).toBe(200);
    expect(em.counters().byRouteStatus['GET /projects 429']).toBe(2);
  });

  it('holds the per-minute budget per key across routes', async () => {
    const clock = new ManualClock();
    const em = await emulator({ clock, limits: { perMinute: 5, perRoutePerSecond: 40, retryAfter: true } });
    const api = new RawClient(em.url);
    const routes = ['/projects', '/users/me', '/auth', '/projects', '/users/me'];
    for (const r of routes) {
      expect((await api.get(r)).status).toBe(200);
      clock.advance(1000);
    }
    const over = await api.get('/auth');
    expect(over.status).toBe(429);
    // The oldest admitted request was 5 s ago; it leaves the window in 55 s.
    expect(over.headers.get('retry-after')).toBe('55');
    clock.advance(55_000);
    expect((await api.get('/auth')).status).toBe(200);
  });

  it('omits Retry-After when configured off, and can be changed at run time', async () => {
    const clock = new ManualClock();
    const em = await emulator({ clock, limits: { perMinute: 1, perRoutePerSecond: 40, retryAfter: false } });
    const api = new RawClient(em.url);
    await api.get('/projects');
    const over = await api.get('/projects');
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBeNull();
    em.setLimits(false);
    expect((await api.get('/projects')).status).toBe(200);
  });

  it('uses Neon’s 700/min and 40/s by default', async () => {
    const clock = new ManualClock();
    const em = await emulator({ clock });
    const api = new RawClient(em.url);
    const results = await Promise.all(Array.from({ length: 41 }, () => api.get('/projects')));
    expect(results.filter((r) => r.status === 429)).toHaveLength(1);
  });
});

describe('faults', () => {
  it('503 is never applied', async () => {
    const em = await emulator({ limits: false, faults: { rate503: 1 } });
    const res = await new RawClient(em.url).post('/projects', { project: {} });
    expect(res.status).toBe(503);
    expect(em.state.projects.size).toBe(0);
    expect(em.requests.at(-1)).toMatchObject({ status: 503, fault: '503' });
  });

  it('a connection reset can come after the mutation was applied', async () => {
    const em = await emulator({ limits: false, faults: { resetRate: 1, appliedBeforeFailure: 1 } });
    const api = new RawClient(em.url);
    await expect(api.post('/projects', { project: { name: 'ghost' } })).rejects.toThrow();
    expect([...em.state.projects.values()].map((p) => p.name)).toEqual(['ghost']);
    expect(em.requests.at(-1)).toMatchObject({ status: 0, fault: 'reset', applied: true, route: 'POST /projects' });
    expect(em.counters().byStatus['reset']).toBe(1);
    em.setFaults({ resetRate: 1, appliedBeforeFailure: 0 });
    await expect(api.post('/projects', { project: { name: 'never' } })).rejects.toThrow();
    expect(em.state.projects.size).toBe(1);
    em.setFaults({});
    expect((await api.get('/projects')).body.projects).toHaveLength(1);
  });

  it('a 524 may or may not have applied the mutation, as configured', async () => {
    const em = await emulator({ limits: false, faults: { rate524: 1, appliedBeforeFailure: 1 } });
    const res = await new RawClient(em.url).post('/projects', { project: {} });
    expect(res.status).toBe(524);
    expect(em.state.projects.size).toBe(1);
  });

  it('an injected 429 carries Retry-After; faults can be limited to routes', async () => {
    const em = await emulator({ limits: false, faults: { rate429: 1, routes: ['POST /projects'] } });
    const api = new RawClient(em.url);
    const res = await api.post('/projects', { project: {} });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await api.get('/projects')).status).toBe(200);
  });

  it('adds latency on the emulator’s clock', async () => {
    const clock = new ManualClock();
    const em = await emulator({ clock, limits: false, faults: { latencyMs: 250 } });
    const before = clock.now();
    await new RawClient(em.url).get('/projects');
    expect(clock.now() - before).toBe(250);
  });

  it('is deterministic for a seed: same faults, same IDs and passwords', async () => {
    const run = async () => {
      const em = await emulator({ seed: 42, limits: false, faults: { rate500: 0.3, rate503: 0.2 } });
      const api = new RawClient(em.url);
      const out: string[] = [];
      for (let i = 0; i < 20; i++) {
        const r = await api.post('/projects', { project: {} });
        out.push(r.status === 201 ? `${r.body.project.id}/${r.body.roles[0].password}` : String(r.status));
      }
      return out;
    };
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
    expect(new Set(a.map((s) => s.length > 3)).size).toBe(2);
  });

  it('counts by route, method and status, and resets the counters', async () => {
    const em = await emulator({ limits: false });
    const api = new RawClient(em.url);
    await api.get('/projects');
    await api.get('/projects/missing-1');
    await api.post('/projects', { project: {} });
    const c = em.counters();
    expect(c.total).toBe(3);
    expect(c.byRoute).toEqual({ 'GET /projects': 1, 'GET /projects/{project_id}': 1, 'POST /projects': 1 });
    expect(c.byStatus).toEqual({ '200': 1, '404': 1, '201': 1 });
    expect(c.byMethod).toEqual({ GET: 2, POST: 1 });
    expect(c.applied).toEqual({ 'POST /projects': 1 });
    em.resetCounters();
    expect(em.counters().total).toBe(0);
    expect(em.requests).toHaveLength(3);
    expect(em.requests.every((r) => r.account === em.accountOf('test-key'))).toBe(true);
  });
});
