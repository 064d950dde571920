import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from './fake-clock.ts';
import { FakeTransport } from './fake-transport.ts';
import { KubeApiError, KubeClient, type KubeRequest, type ResourceType } from './kube-client.ts';
import { EventEmitter } from 'node:events';
import { installSignalHandlers, Manager } from './manager.ts';

const log = pino({ level: 'silent' });
const widgets: ResourceType = { group: 'example.dev', version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: true };
const leasePath = '/apis/coordination.k8s.io/v1/namespaces/ops/leases/op-lock';

/** Serves a widget list and one Lease (held by `otherHolder` until it is released or taken). */
function fakeApi(transport: FakeTransport, journal: string[]) {
  let lease: { metadata: { resourceVersion: string }; spec: Record<string, unknown> } | undefined;
  let version = 0;
  transport.handle = (req: KubeRequest) => {
    if (req.path === '/apis/example.dev/v1/widgets') {
      return { metadata: { resourceVersion: '1' }, items: [{ metadata: { namespace: 'ns', name: 'w1', resourceVersion: '1' } }] };
    }
    if (req.path === leasePath && req.method === 'GET') {
      if (!lease) throw new KubeApiError(404, 'NotFound', 'no lease');
      return lease;
    }
    if (req.path === '/apis/coordination.k8s.io/v1/namespaces/ops/leases' && req.method === 'POST') {
      lease = { metadata: { resourceVersion: String(++version) }, spec: (req.body as { spec: Record<string, unknown> }).spec };
      journal.push(`lease acquired by ${String(lease.spec.holderIdentity)}`);
      return lease;
    }
    if (req.path === leasePath && req.method === 'PUT') {
      const body = req.body as { metadata: { resourceVersion: string }; spec: Record<string, unknown> };
      if (body.metadata.resourceVersion !== lease?.metadata.resourceVersion) throw new KubeApiError(409, 'Conflict', 'stale');
      if (body.spec.holderIdentity !== lease.spec.holderIdentity) journal.push(`lease holder '${String(body.spec.holderIdentity)}'`);
      lease = { metadata: { resourceVersion: String(++version) }, spec: body.spec };
      return lease;
    }
    throw new Error(`unexpected ${req.method} ${req.path}`);
  };
  return {
    holdBy: (identity: string, at: string) => {
      lease = {
        metadata: { resourceVersion: String(++version) },
        spec: { holderIdentity: identity, leaseDurationSeconds: 15, acquireTime: at, renewTime: at, leaseTransitions: 0 },
      };
    },
  };
}

describe('Manager', () => {
  it('reconciles only while leading, and on stop finishes in-flight work before releasing the lease', async () => {
    const clock = new FakeClock();
    const transport = new FakeTransport();
    const journal: string[] = [];
    const api = fakeApi(transport, journal);
    api.holdBy('someone-else', '2026-01-01T00:00:00.000000Z');
    const manager = new Manager({
      client: new KubeClient(transport),
      clock,
      log,
      random: () => 0,
      leaderElection: { namespace: 'ops', name: 'op-lock', identity: 'me' },
    });
    let finishReconcile: (() => void) | undefined;
    manager.addController({
      name: 'widget',
      resource: widgets,
      reconciler: async (key) => {
        journal.push(`reconcile ${key.name} started`);
        await new Promise<void>((resolve) => (finishReconcile = resolve));
        journal.push(`reconcile ${key.name} finished`);
      },
    });
    const running = manager.run();
    await clock.advance(10_000);
    expect(manager.ready()).toBe(true); // caches warm on the standby
    expect(manager.isLeader).toBe(false);
    expect(journal).toEqual([]);
    await clock.advance(10_000); // the other holder's lease expired (15 s after we first saw it)
    expect(manager.isLeader).toBe(true);
    expect(journal).toEqual(["lease holder 'me'", 'reconcile w1 started']);

    const stopped = manager.stop();
    await flushMicrotasks();
    expect(journal.at(-1)).toBe('reconcile w1 started'); // the lease is kept while work is in flight
    finishReconcile?.();
    await stopped;
    await running;
    expect(journal).toEqual(["lease holder 'me'", 'reconcile w1 started', 'reconcile w1 finished', "lease holder ''"]);
    expect(transport.watches.every((w) => w.signal.aborted)).toBe(true);
  });

  it('without leader election, runs controllers once the caches synced and stops gracefully', async () => {
    const clock = new FakeClock();
    const transport = new FakeTransport();
    const journal: string[] = [];
    fakeApi(transport, journal);
    const manager = new Manager({ client: new KubeClient(transport), clock, log, random: () => 0 });
    const reconciled: string[] = [];
    manager.addController({ name: 'widget', resource: widgets, reconciler: async (key) => void reconciled.push(`a:${key.name}`) });
    manager.addController({ name: 'widget-2', resource: widgets, reconciler: async (key) => void reconciled.push(`b:${key.name}`) });
    const running = manager.run();
    await flushMicrotasks();
    expect(reconciled.sort()).toEqual(['a:w1', 'b:w1']);
    // Both controllers watch one resource type through one shared informer: one list, one watch.
    expect(transport.watches.length).toBe(1);
    expect(transport.requests.filter((r) => r.path === '/apis/example.dev/v1/widgets').length).toBe(1);
    expect(() => manager.addController({ name: 'late', resource: widgets, reconciler: async () => undefined })).toThrow(/before/);
    await manager.stop();
    await running;
    expect(manager.healthy()).toBe(false);
  });

  it('SIGTERM triggers the graceful stop; a second signal exits at once', async () => {
    const clock = new FakeClock();
    const transport = new FakeTransport();
    fakeApi(transport, []);
    const manager = new Manager({ client: new KubeClient(transport), clock, log, random: () => 0 });
    const reconciled: string[] = [];
    manager.addController({ name: 'widget', resource: widgets, reconciler: async (key) => void reconciled.push(key.name) });
    const exits: number[] = [];
    const proc = Object.assign(new EventEmitter(), { exit: (code: number) => void exits.push(code) });
    const uninstall = installSignalHandlers(manager, proc as unknown as NodeJS.Process);
    const running = manager.run();
    await flushMicrotasks();
    expect(manager.healthy()).toBe(true);
    proc.emit('SIGTERM', 'SIGTERM');
    await running;
    expect(manager.healthy()).toBe(false);
    expect(exits).toEqual([]);
    proc.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([1]);
    uninstall();
    expect(proc.listenerCount('SIGTERM')).toBe(0);
  });
});
