import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoopWatch } from './event-loop-watch.ts';
import { parseExposition } from './scrape.test-support.ts';
import { startObservabilityServer, type ObservabilityServerOptions } from './server.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function start(over: Partial<ObservabilityServerOptions> = {}) {
  const registry = new Registry();
  const server = await startObservabilityServer({
    port: 0,
    host: '127.0.0.1',
    registry,
    isReady: () => true,
    isHealthy: () => true,
    eventLoopWatch: false,
    ...over,
  });
  cleanups.push(() => server.close());
  const get = async (path: string, method = 'GET') => {
    const res = await fetch(`${server.url}${path}`, { method });
    return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
  };
  return { server, registry, get };
}

/** A stand-in for performance.now that the test moves by hand. */
function manualTime(start = 1_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('startObservabilityServer', () => {
  it('serves the registry on /metrics in the Prometheus text format', async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'neon_operator_test_total', help: 'test', registers: [registry] });
    c.inc(3);
    const { get } = await start({ registry });
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toBe(registry.contentType);
    expect(parseExposition(res.body).value('neon_operator_test_total')).toBe(3);
  });

  it('answers /readyz from isReady: 200 when ready, 503 when not or when the check throws', async () => {
    let ready: boolean | 'throw' = false;
    const { get } = await start({
      isReady: () => {
        if (ready === 'throw') throw new Error('boom');
        return ready;
      },
    });
    expect((await get('/readyz')).status).toBe(503);
    ready = true;
    expect(await get('/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
    ready = 'throw';
    const failed = await get('/readyz');
    expect(failed.status).toBe(503);
    expect(failed.body).not.toContain('boom');
  });

  it('answers /healthz 503 when isHealthy says so or when the event loop is stalled', async () => {
    let healthy = true;
    const time = manualTime();
    // A long interval: the real timer never fires during the test; time moves only by hand.
    const watch = new EventLoopWatch({ intervalMs: 60_000, maxLagMs: 5_000, now: time.now });
    const { get } = await start({ isHealthy: () => healthy, eventLoopWatch: watch });
    expect(await get('/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    healthy = false;
    expect((await get('/healthz')).status).toBe(503);
    healthy = true;

    // The next tick is overdue by more than the limit: stalled, even before the late tick runs.
    time.advance(60_000 + 6_000);
    const stalled = await get('/healthz');
    expect(stalled.status).toBe(503);
    expect(stalled.body).toContain('event loop stalled: 6000 ms behind');
    // The late tick records the lag; the loop counts as stuck until a tick arrives on time.
    watch.tick();
    expect(watch.lagMs).toBe(6_000);
    expect((await get('/healthz')).status).toBe(503);
    time.advance(60_000);
    watch.tick();
    expect(watch.lagMs).toBe(0);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('serves HEAD, refuses other methods with 405 and unknown paths with 404', async () => {
    const { get } = await start();
    expect((await get('/healthz', 'HEAD')).status).toBe(200);
    expect((await get('/metrics', 'POST')).status).toBe(405);
    expect((await get('/nope')).status).toBe(404);
    expect((await get('/healthz?verbose=1')).status).toBe(200);
  });

  it('close() stops listening and is idempotent; the watch it started stops with it', async () => {
    const watch = new EventLoopWatch({ intervalMs: 60_000 });
    const { server } = await start({ eventLoopWatch: watch });
    await Promise.all([server.close(), server.close()]);
    await server.close();
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it('fails to start, without leaking, when the port is taken', async () => {
    const { server } = await start();
    await expect(
      startObservabilityServer({ port: server.port, host: '127.0.0.1', registry: new Registry(), isReady: () => true, isHealthy: () => true, eventLoopWatch: false }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
