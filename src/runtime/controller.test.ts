import { pino, type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { Controller, readableStateChanged, specOrMetadataChanged, type InformerSource, type ReconcileOutcome } from './controller.ts';
import { FakeClock, flushMicrotasks } from './fake-clock.ts';
import { FakeTransport } from './fake-transport.ts';
import { Informer } from './informer.ts';
import { coreResources, KubeApiError, KubeClient, resourcePath, resourceTypeId, type KubeObject, type ResourceType } from './kube-client.ts';
import { ReportedError, TerminalError, type ObjectKey, type ReconcileResult } from './reconcile.ts';

const log = pino({ level: 'silent' });
const branches: ResourceType = { group: 'example.dev', version: 'v1', plural: 'branches', kind: 'Branch', namespaced: true };
const projects: ResourceType = { group: 'example.dev', version: 'v1', plural: 'projects', kind: 'Project', namespaced: true };

interface Branch extends KubeObject {
  spec?: { project: string };
}

const branch = (name: string, rv: string, extra: Partial<Branch['metadata']> = {}, project = 'p1'): Branch => ({
  metadata: { namespace: 'ns', name, resourceVersion: rv, generation: 1, ...extra },
  spec: { project },
});

function setup(
  reconcile: (key: ObjectKey, calls: number) => Promise<ReconcileResult>,
  extra: { resyncPeriodMs?: number; predicate?: boolean; settled?: (b: Branch) => boolean; log?: Logger; ownWrite?: (o: KubeObject) => boolean } = {},
) {
  const clock = new FakeClock();
  const transport = new FakeTransport();
  const initial = new Map<string, KubeObject[]>();
  transport.handle = (req) => ({ metadata: { resourceVersion: '1' }, items: initial.get(req.path) ?? [] });
  const client = new KubeClient(transport);
  const informers = new Map<string, Informer>();
  const source: InformerSource = {
    informer: <T extends KubeObject>(type: ResourceType) => {
      let informer = informers.get(resourceTypeId(type));
      if (!informer) informers.set(resourceTypeId(type), (informer = new Informer({ client, type, clock, log, random: () => 0 })));
      return informer as unknown as Informer<T>;
    },
  };
  const keys: string[] = [];
  const outcomes: ReconcileOutcome[] = [];
  const controller = new Controller<Branch>({
    name: 'branch',
    resource: branches,
    informers: source,
    clock,
    log: extra.log ?? log,
    random: () => 0.5,
    backoff: { baseMs: 1_000, capMs: 10_000 },
    reconciler: (key) => {
      keys.push(`${key.namespace}/${key.name}`);
      return reconcile(key, keys.length);
    },
    onReconciled: (o) => outcomes.push(o.outcome),
    ...(extra.resyncPeriodMs ? { resyncPeriodMs: extra.resyncPeriodMs } : {}),
    ...(extra.predicate ? { updatePredicate: specOrMetadataChanged } : {}),
    ...(extra.settled ? { settled: extra.settled } : {}),
    ...(extra.ownWrite ? { ownWrite: extra.ownWrite } : {}),
  });
  const watchOf = (type: ResourceType) => transport.watches.filter((w) => w.path === resourcePath(type) && !w.closed).at(-1);
  const start = async () => {
    for (const i of informers.values()) i.start();
    await flushMicrotasks();
    controller.start();
    await flushMicrotasks();
  };
  return { clock, controller, keys, outcomes, initial, watchOf, start, informers };
}

describe('Controller', () => {
  it('reconciles each listed object once, then on changes, and not on status-only updates with the predicate', async () => {
    const t = setup(async () => undefined, { predicate: true });
    t.initial.set(resourcePath(branches), [branch('b1', '1'), branch('b2', '2')]);
    await t.start();
    expect(t.keys.sort()).toEqual(['ns/b1', 'ns/b2']);
    const w = t.watchOf(branches);
    w?.send({ type: 'MODIFIED', object: branch('b1', '3') }); // status-only: same generation
    await flushMicrotasks();
    expect(t.keys).toHaveLength(2);
    w?.send({ type: 'MODIFIED', object: branch('b1', '4', { generation: 2 }) });
    w?.send({ type: 'DELETED', object: branch('b2', '5') });
    await flushMicrotasks();
    expect(t.keys.slice(2).sort()).toEqual(['ns/b1', 'ns/b2']);
  });

  it('retries errors with backoff, conflicts quietly, and drops terminal errors', async () => {
    const errors = [new Error('neon down'), new KubeApiError(409, 'Conflict', 'modified'), new TerminalError('invalid spec')];
    const t = setup(async (_key, calls) => {
      const err = errors[calls - 1];
      if (err) throw err;
    });
    t.initial.set(resourcePath(branches), [branch('b1', '1')]);
    await t.start();
    expect(t.outcomes).toEqual(['error']);
    await t.clock.advance(1_000);
    expect(t.outcomes).toEqual(['error', 'conflict']);
    await t.clock.advance(2_000); // second failure → 2s
    expect(t.outcomes).toEqual(['error', 'conflict', 'terminal']);
    await t.clock.advance(600_000);
    expect(t.keys).toHaveLength(3); // terminal: not retried
    t.watchOf(branches)?.send({ type: 'MODIFIED', object: branch('b1', '9', { generation: 2 }) });
    await flushMicrotasks();
    expect(t.outcomes).toEqual(['error', 'conflict', 'terminal', 'success']); // …until the object changes
  });

  it('retries an error already reported on the object with the same backoff, logging it at debug, not error', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const captured = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const t = setup(async () => { throw new ReportedError(new Error('role name "pg_x" is protected')); }, { log: captured });
    t.initial.set(resourcePath(branches), [branch('b1', '1')]);
    await t.start();
    await t.clock.advance(1_000 + 2_000 + 4_000); // three retries: 1 s, 2 s, 4 s
    expect(t.outcomes).toEqual(['error', 'error', 'error', 'error']);
    await t.clock.advance(7_999);
    expect(t.keys).toHaveLength(4); // the fifth waits 8 s
    const failures = lines.filter((l) => l.msg.includes('retrying with backoff'));
    expect(failures).toHaveLength(4);
    expect(failures.every((l) => l.level === 20)).toBe(true);
  });

  it('honours requeueAfter and the resync period', async () => {
    const t = setup(async (_key, calls) => (calls === 1 ? { requeueAfter: 5_000 } : undefined), { resyncPeriodMs: 60_000 });
    t.initial.set(resourcePath(branches), [branch('b1', '1')]);
    await t.start();
    await t.clock.advance(5_000);
    expect(t.keys).toHaveLength(2);
    await t.clock.advance(59_999); // random 0.5 → no jitter offset
    expect(t.keys).toHaveLength(2);
    await t.clock.advance(1);
    expect(t.keys).toHaveLength(3);
  });

  it('wakeWhen brings the key back as soon as the work it names settles, before its requeueAfter', async () => {
    let finish: () => void = () => {};
    const work = new Promise<void>((resolve) => (finish = resolve));
    const t = setup(async (_key, calls) => (calls === 1 ? { requeueAfter: 60_000, wakeWhen: work } : undefined));
    t.initial.set(resourcePath(branches), [branch('b1', '1')]);
    await t.start();
    expect(t.keys).toHaveLength(1);
    await t.clock.advance(1_000);
    expect(t.keys).toHaveLength(1);
    finish();
    await flushMicrotasks();
    expect(t.keys).toHaveLength(2);
  });

  it('a backoff requeue comes back after the growing per-key backoff, and a settled pass resets it', async () => {
    const t = setup(async (_key, calls) => (calls <= 3 ? { backoff: true } : calls === 4 ? undefined : { backoff: true }));
    t.initial.set(resourcePath(branches), [branch('b1', '1')]);
    await t.start();
    expect(t.keys).toHaveLength(1);
    for (const [delay, total] of [[1_000, 2], [2_000, 3], [4_000, 4]] as const) {
      await t.clock.advance(delay - 1);
      expect(t.keys).toHaveLength(total - 1);
      await t.clock.advance(1);
      expect(t.keys).toHaveLength(total);
    }
    expect(t.controller.queue.failures('ns/b1')).toBe(0); // pass 4 settled
    t.controller.enqueue({ namespace: 'ns', name: 'b1' });
    await flushMicrotasks();
    expect(t.controller.queue.failures('ns/b1')).toBe(1); // back to the base delay
    expect(t.outcomes).toEqual(['requeue', 'requeue', 'requeue', 'success', 'requeue']);
  });

  it('requeues the owner when an owned Secret changes', async () => {
    const t = setup(async () => undefined);
    t.controller.watchOwned(coreResources.secret);
    await t.start();
    t.watchOf(coreResources.secret)?.send({
      type: 'ADDED',
      object: {
        metadata: {
          namespace: 'ns',
          name: 'b1-conn',
          resourceVersion: '3',
          ownerReferences: [
            { apiVersion: 'example.dev/v1', kind: 'Branch', name: 'b1', uid: 'u1', controller: true },
            { apiVersion: 'other.dev/v1', kind: 'Branch', name: 'foreign', uid: 'u2' },
          ],
        },
      },
    });
    await flushMicrotasks();
    expect(t.keys).toEqual(['ns/b1']);
  });

  it('requeues dependents when what they reference changes, via the reference index', async () => {
    const t = setup(async () => undefined);
    t.initial.set(resourcePath(branches), [branch('b1', '1', {}, 'p1'), branch('b2', '2', {}, 'p2'), branch('b3', '3', {}, 'p1')]);
    const index = t.controller.watchReferences(projects, (b) => (b.spec ? [{ namespace: 'ns', name: b.spec.project }] : []));
    await t.start();
    t.keys.length = 0;
    expect(index.dependentsOf('ns/p1').sort()).toEqual(['ns/b1', 'ns/b3']);
    t.watchOf(projects)?.send({ type: 'ADDED', object: { metadata: { namespace: 'ns', name: 'p1', resourceVersion: '7' } } });
    await flushMicrotasks();
    expect(t.keys.sort()).toEqual(['ns/b1', 'ns/b3']);
    // b3 moves to p2: the index follows.
    t.watchOf(branches)?.send({ type: 'MODIFIED', object: branch('b3', '8', { generation: 2 }, 'p2') });
    await flushMicrotasks();
    t.keys.length = 0;
    t.watchOf(projects)?.send({ type: 'MODIFIED', object: { metadata: { namespace: 'ns', name: 'p1', resourceVersion: '9' } } });
    await flushMicrotasks();
    expect(t.keys).toEqual(['ns/b1']);
  });

  it('with readableStateChanged, wakes dependents for Ready, spec changes and the fields of a Ready object, not for any status write', async () => {
    const t = setup(async () => undefined);
    t.initial.set(resourcePath(branches), [branch('b1', '1', {}, 'p1')]);
    t.controller.watchReferences(projects, (b) => (b.spec ? [{ namespace: 'ns', name: b.spec.project }] : []), readableStateChanged);
    await t.start();
    const project = (rv: string, status: Record<string, unknown>, generation = 1) => ({
      metadata: { namespace: 'ns', name: 'p1', resourceVersion: rv, generation },
      status,
    });
    const notReady = { type: 'Ready', status: 'False', reason: 'Waiting', message: 'a', observedGeneration: 1 };
    const send = async (type: 'ADDED' | 'MODIFIED', object: Record<string, unknown>) => {
      t.keys.length = 0;
      t.watchOf(projects)?.send({ type, object });
      await flushMicrotasks();
      return [...t.keys];
    };
    expect(await send('ADDED', project('1', { conditions: [notReady] }))).toEqual(['ns/b1']);
    // Another message or reason while still not Ready: nothing a dependent reads.
    expect(await send('MODIFIED', project('2', { conditions: [{ ...notReady, reason: 'Other', message: 'b' }] }))).toEqual([]);
    // Fields recorded on the way to Ready: dependents wait for Ready.
    expect(await send('MODIFIED', project('3', { projectId: 'x', conditions: [notReady] }))).toEqual([]);
    expect(await send('MODIFIED', project('4', { projectId: 'x', conditions: [{ ...notReady, status: 'True' }] }))).toEqual(['ns/b1']);
    expect(await send('MODIFIED', project('5', { projectId: 'x', conditions: [{ ...notReady, status: 'True', message: 'c' }] }))).toEqual([]);
    // While Ready, a changed field (a new host) is news.
    expect(await send('MODIFIED', project('5b', { projectId: 'x', host: 'h2', conditions: [{ ...notReady, status: 'True', message: 'c' }] }))).toEqual(['ns/b1']);
    expect(await send('MODIFIED', project('6', { projectId: 'x', conditions: [{ ...notReady, status: 'True', message: 'c' }] }, 2))).toEqual(['ns/b1']);
  });

  it('at start, serves the objects that need work first and spreads the settled ones over the resync period', async () => {
    const settled = (b: Branch) => b.metadata?.name?.startsWith('ready') ?? false;
    const t = setup(async () => undefined, { resyncPeriodMs: 60_000, settled });
    t.initial.set(resourcePath(branches), [branch('ready-1', '1'), branch('new-1', '2'), branch('ready-2', '3'), branch('new-2', '4')]);
    await t.start();
    expect(t.keys.sort()).toEqual(['ns/new-1', 'ns/new-2']);
    // random() is 0.5: the settled ones come half a period later, then resync as usual.
    await t.clock.advance(29_999);
    expect(t.keys).toHaveLength(2);
    await t.clock.advance(1);
    expect(t.keys.slice(2).sort()).toEqual(['ns/ready-1', 'ns/ready-2']);
    // An object created after the first list is served at once, settled or not.
    t.watchOf(branches)?.send({ type: 'ADDED', object: branch('ready-3', '9') });
    await flushMicrotasks();
    expect(t.keys.at(-1)).toBe('ns/ready-3');
  });

  it('an update carrying a version this process wrote requeues neither the object nor its owner; a deletion always does', async () => {
    const ours = new Set(['5', '7']);
    const t = setup(async () => undefined, { ownWrite: (o) => ours.has(o.metadata?.resourceVersion ?? '') });
    t.initial.set(resourcePath(branches), [branch('b1', '1')]);
    t.controller.watchOwned(coreResources.secret);
    await t.start();
    const owned = (rv: string) => ({
      metadata: { namespace: 'ns', name: 'b1-conn', resourceVersion: rv, ownerReferences: [{ apiVersion: 'example.dev/v1', kind: 'Branch', name: 'b1', uid: 'u1', controller: true }] },
    });
    const send = async (type: string, path: ResourceType, object: KubeObject) => {
      t.keys.length = 0;
      t.watchOf(path)?.send({ type: type as 'MODIFIED', object });
      await flushMicrotasks();
      return [...t.keys];
    };
    expect(await send('MODIFIED', branches, branch('b1', '5', { generation: 2 }))).toEqual([]);
    expect(await send('MODIFIED', branches, branch('b1', '6', { generation: 3 }))).toEqual(['ns/b1']);
    expect(await send('ADDED', coreResources.secret, owned('2'))).toEqual(['ns/b1']);
    expect(await send('MODIFIED', coreResources.secret, owned('7'))).toEqual([]);
    expect(await send('MODIFIED', coreResources.secret, owned('8'))).toEqual(['ns/b1']);
    expect(await send('DELETED', coreResources.secret, owned('8'))).toEqual(['ns/b1']);
  });

  it('stop() lets the in-flight reconcile finish and takes no more work', async () => {
    const releases: Array<() => void> = [];
    const t = setup(() => new Promise<undefined>((resolve) => releases.push(() => resolve(undefined))));
    t.initial.set(resourcePath(branches), [branch('b1', '1'), branch('b2', '2')]);
    await t.start();
    expect(t.keys).toHaveLength(2);
    const stopped = t.controller.stop(30_000);
    releases[0]?.();
    await flushMicrotasks();
    releases[1]?.();
    const report = await stopped;
    expect(report.abortedKeys).toEqual([]);
    t.watchOf(branches)?.send({ type: 'ADDED', object: branch('b9', '5') });
    await flushMicrotasks();
    expect(t.keys).toHaveLength(2);
  });
});
