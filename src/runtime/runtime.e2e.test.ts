// The runtime against a real kube-apiserver (+ controller manager for garbage collection): informers,
// finalizers, the status subresource, Secret apply with owner references, Events, leader election, and a
// Manager running a controller end to end.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { systemClock } from '../clock.ts';
import { useControlPlane } from '../../test/controlplane/e2e.ts';
import { setCondition, type Condition } from './conditions.ts';
import { EventRecorder } from './events.ts';
import { ensureFinalizer, isBeingDeleted, removeFinalizer } from './finalizers.ts';
import { Informer } from './informer.ts';
import { coreResources, httpTransport, KubeClient, type KubeObject, type KubeTransport, type ResourceType } from './kube-client.ts';
import { KubeLeaseLock, LeaderElector, type LeaseLock } from './leader-election.ts';
import { Manager } from './manager.ts';
import { applySecret, type SecretObject } from './secrets.ts';
import { writeStatus } from './status.ts';

const log = pino({ level: process.env['E2E_LOG'] ?? 'silent' });
const gadgets: ResourceType = { group: 'runtime.example.test', version: 'v1', plural: 'gadgets', kind: 'Gadget', namespaced: true };
const crdFile = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'gadgets.crd.yaml');

interface Gadget extends KubeObject {
  spec?: { size?: number };
  status?: { observedGeneration?: number; size?: number; conditions?: Condition[] };
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('runtime against a real API server', () => {
  const cp = useControlPlane();
  const transport = httpTransport(cp.kubeconfig, { userAgent: 'runtime-e2e' });
  const client = new KubeClient(transport);
  /** Someone else: writes through another client are not this process's own (KubeClient.wroteVersion). */
  const someoneElse = new KubeClient(httpTransport(cp.kubeconfig, { userAgent: 'runtime-e2e-someone-else' }));
  const namespace = `rt-${randomBytes(3).toString('hex')}`;
  const gadget = (name: string, size = 1): Gadget => ({ metadata: { namespace, name }, spec: { size } });

  beforeAll(async () => {
    // Installed with our own server-side apply of the raw YAML: the harness's installCrds (client-node's
    // typed serializer) drops `x-kubernetes-*` schema keys, such as preserve-unknown-fields.
    const crd = parseYaml(await readFile(crdFile, 'utf8')) as KubeObject;
    const crds: ResourceType = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false };
    await client.patch(crds, { namespace: '', name: 'gadgets.runtime.example.test' }, crd, { type: 'apply', fieldManager: 'runtime-e2e', force: true });
    await eventually('the Gadget CRD to be established', async () => {
      const got = z
        .object({ status: z.object({ conditions: z.array(z.object({ type: z.string(), status: z.string() })).nullish() }).nullish() })
        .parse(await client.get(crds, { namespace: '', name: 'gadgets.runtime.example.test' }));
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    });
    await client.create(coreResources.namespace, { metadata: { name: namespace } });
  });
  afterAll(async () => {
    await client.delete(coreResources.namespace, { namespace: '', name: namespace });
  });

  it('informer: lists, then sees add, update and delete', async () => {
    await client.create(gadgets, gadget('pre-existing'));
    const informer = new Informer<Gadget>({ client, type: gadgets, clock: systemClock, log, namespaces: [namespace] });
    const seen: string[] = [];
    informer.on({
      add: (o) => seen.push(`add ${o.metadata?.name}`),
      update: (_a, b) => seen.push(`update ${b.metadata?.name} size=${b.spec?.size}`),
      delete: (o) => seen.push(`delete ${o.metadata?.name}`),
    });
    informer.start();
    await informer.waitForSync();
    expect(seen).toEqual(['add pre-existing']);
    await client.create(gadgets, gadget('g1'));
    await client.patch(gadgets, { namespace, name: 'g1' }, { spec: { size: 2 } }, { type: 'merge' });
    await client.delete(gadgets, { namespace, name: 'g1' });
    await eventually('add, update and delete of g1', () => seen.includes('delete g1'));
    expect(seen).toEqual(['add pre-existing', 'add g1', 'update g1 size=2', 'delete g1']);
    expect(informer.get({ namespace, name: 'g1' })).toBeUndefined();
    expect(informer.stats.errors).toBe(0);
    await informer.stop();
  });

  it('metadata-only informer: the API server sends Secrets without their data, in the list and in the watch', async () => {
    // What came over the wire, before the informer saw it.
    const answers: unknown[] = [];
    const recording: KubeTransport = {
      request: async (req) => {
        const answer = await transport.request(req);
        answers.push(answer);
        return answer;
      },
      async *watch(path, query, signal, options) {
        for await (const event of transport.watch(path, query, signal, options)) {
          answers.push((event as { object?: unknown }).object);
          yield event;
        }
      },
    };
    const data = { 'api-key': 'bWV0YWRhdGEtb25seQ==' };
    await client.create<SecretObject>(coreResources.secret, { metadata: { namespace, name: 'key-before' }, data });
    const informer = new Informer({ client: new KubeClient(recording), type: coreResources.secret, clock: systemClock, log, namespaces: [namespace], metadataOnly: true });
    const seen: string[] = [];
    // Only this test's Secrets: the namespace may hold others (e.g. from the Secret apply test).
    const ours = (o: KubeObject): boolean => o.metadata?.name?.startsWith('key-') ?? false;
    informer.on({ add: (o) => ours(o) && seen.push(`add ${o.metadata?.name}`), update: (_a, b) => ours(b) && seen.push(`update ${b.metadata?.name}`) });
    informer.start();
    await informer.waitForSync();
    await client.create<SecretObject>(coreResources.secret, { metadata: { namespace, name: 'key-after' }, data });
    await client.patch(coreResources.secret, { namespace, name: 'key-after' }, { data: { 'api-key': 'cm90YXRlZA==' } }, { type: 'merge' });
    await eventually('add and update of key-after', () => seen.includes('update key-after'));
    await informer.stop();
    expect(seen).toEqual(['add key-before', 'add key-after', 'update key-after']);
    expect(informer.get({ namespace, name: 'key-after' })).toMatchObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'key-after' } });
    const kinds = answers.map((a) => (a as { kind?: string }).kind);
    expect(kinds[0]).toBe('PartialObjectMetadataList');
    expect(kinds.slice(1).every((k) => k === 'PartialObjectMetadata')).toBe(true);
    expect(kinds.length).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(answers)).not.toContain('"data"');
  });

  it('informer: survives broken watches and restarts a stalled one', async () => {
    // Every second watch connection breaks right after it opens (a proxy dropping connections).
    let watchCalls = 0;
    const flaky: KubeTransport = {
      request: (req) => transport.request(req),
      async *watch(path, query, signal, options) {
        watchCalls++;
        if (watchCalls % 2 === 1) throw new TypeError('fetch failed: connection reset');
        yield* transport.watch(path, query, signal, options);
      },
    };
    const informer = new Informer<Gadget>({
      client: new KubeClient(flaky),
      type: gadgets,
      clock: systemClock,
      log,
      namespaces: [namespace],
      stallTimeoutMs: 1_500, // far below the bookmark interval: a quiet watch counts as stalled
      backoff: { baseMs: 50, capMs: 200 },
    });
    const added = new Set<string>();
    informer.on({ add: (o) => added.add(o.metadata?.name ?? '') });
    informer.start();
    await informer.waitForSync();
    await eventually('a stalled watch to be restarted', () => informer.stats.stalls >= 1);
    await client.create(gadgets, gadget('after-trouble'));
    await eventually('the informer to see an object created after errors and stalls', () => added.has('after-trouble'));
    expect(informer.stats.errors).toBeGreaterThanOrEqual(1);
    await informer.stop();
  });

  it('finalizers: added once, removed idempotently; removal lets a deleted object go', async () => {
    const created = await client.create(gadgets, gadget('fin'));
    const withFinalizer = await ensureFinalizer(client, gadgets, created, 'runtime.example.test/cleanup');
    expect(withFinalizer.metadata?.finalizers).toEqual(['runtime.example.test/cleanup']);
    expect(await ensureFinalizer(client, gadgets, withFinalizer, 'runtime.example.test/cleanup')).toBe(withFinalizer);
    // A stale object is refused (resourceVersion precondition), not merged blindly.
    const stale: Gadget = { ...created, metadata: { ...created.metadata, finalizers: ['runtime.example.test/cleanup'] } };
    await expect(removeFinalizer(client, gadgets, stale, 'runtime.example.test/cleanup')).rejects.toMatchObject({ statusCode: 409 });

    await client.delete(gadgets, { namespace, name: 'fin' });
    const deleting = await client.get<Gadget>(gadgets, { namespace, name: 'fin' });
    expect(deleting && isBeingDeleted(deleting)).toBe(true);
    expect(await removeFinalizer(client, gadgets, deleting ?? created, 'runtime.example.test/cleanup')).toBeDefined();
    await eventually('the deleted gadget to be gone', async () => (await client.get(gadgets, { namespace, name: 'fin' })) === undefined);
  });

  it('status: written through /status with observedGeneration; an unchanged status makes no request', async () => {
    const created = await client.create<Gadget>(gadgets, gadget('st', 3));
    const conditions = setCondition([], { type: 'Ready', status: 'True', reason: 'Ready', message: 'all good' }, created.metadata?.generation, Date.now());
    const first = await writeStatus(client, gadgets, created, { size: 3, conditions });
    expect(first.written).toBe(true);
    expect(first.object.status).toEqual({ size: 3, conditions, observedGeneration: 1 });
    // What the server stored round-trips exactly (second-precision times), so the next write is skipped.
    const fresh = await client.get<Gadget>(gadgets, { namespace, name: 'st' });
    const again = await writeStatus(client, gadgets, fresh ?? created, { size: 3, conditions });
    expect(again.written).toBe(false);
    // Removing a field sends null for it.
    const third = await writeStatus(client, gadgets, fresh ?? created, { conditions });
    expect(third.written).toBe(true);
    expect(third.object.status).toEqual({ conditions, observedGeneration: 1 });
  });

  it('Secret apply: created with owner reference and labels, skipped when current, updated on change, collected with its owner', async () => {
    const owner = await client.create<Gadget>(gadgets, gadget('owner'));
    const desired = {
      namespace,
      name: 'owner-conn',
      stringData: { username: 'app', password: 'first' },
      labels: { 'app.kubernetes.io/managed-by': 'runtime-e2e' },
      owner: { type: gadgets, object: owner },
    };
    expect(await applySecret(client, desired, { fieldManager: 'runtime-e2e' })).toEqual({ changed: true });
    let secret = await client.get<SecretObject>(coreResources.secret, { namespace, name: 'owner-conn' });
    expect(secret?.metadata?.ownerReferences).toEqual([
      { apiVersion: 'runtime.example.test/v1', kind: 'Gadget', name: 'owner', uid: owner.metadata?.uid, controller: true },
    ]);
    expect(secret?.metadata?.labels).toMatchObject(desired.labels);
    expect(Buffer.from(secret?.data?.['password'] ?? '', 'base64').toString()).toBe('first');
    expect(await applySecret(client, desired, { fieldManager: 'runtime-e2e', current: secret })).toEqual({ changed: false });
    await applySecret(client, { ...desired, stringData: { username: 'app', password: 'second' } }, { fieldManager: 'runtime-e2e', current: secret });
    secret = await client.get<SecretObject>(coreResources.secret, { namespace, name: 'owner-conn' });
    expect(Object.keys(secret?.data ?? {}).sort()).toEqual(['password', 'username']);
    expect(Buffer.from(secret?.data?.['password'] ?? '', 'base64').toString()).toBe('second');

    await client.delete(gadgets, { namespace, name: 'owner' });
    await eventually('the garbage collector to delete the owned Secret', async () =>
      (await client.get(coreResources.secret, { namespace, name: 'owner-conn' })) === undefined, 60_000);
  });

  it('Events: one Event per repeated occurrence, with a series count', async () => {
    const obj = await client.create<Gadget>(gadgets, gadget('ev'));
    const recorder = new EventRecorder({
      client,
      clock: systemClock,
      log,
      reportingController: 'runtime.example.test/e2e',
      reportingInstance: 'e2e-1',
      minUpdateIntervalMs: 0,
    });
    const event = { type: 'Warning' as const, reason: 'SomethingFailed', action: 'Reconcile', note: 'the thing failed' };
    await recorder.record(gadgets, obj, event);
    await recorder.record(gadgets, obj, event);
    await recorder.record(gadgets, obj, event);
    const listed = await client.list<KubeObject & { reason?: string; note?: string; series?: { count: number }; regarding?: { uid?: string } }>(coreResources.event, namespace);
    const mine = listed.items.filter((e) => e.regarding?.uid === obj.metadata?.uid);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ reason: 'SomethingFailed', note: 'the thing failed', series: { count: 3 } });
    // core/v1 (what `kubectl describe` reads) sees the same Event.
    const core = z
      .object({ items: z.array(z.looseObject({ reason: z.string().optional(), count: z.number().optional(), involvedObject: z.looseObject({ uid: z.string().optional() }) })) })
      .parse(await transport.request({ method: 'GET', path: `/api/v1/namespaces/${namespace}/events` }));
    expect(core.items.filter((e) => e.involvedObject.uid === obj.metadata?.uid).map((e) => e.reason)).toEqual(['SomethingFailed']);
  });

  describe('leader election on a real Lease', () => {
    const timings = { leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 };
    /** A lock whose calls fail once `dead` is set: a process that vanished (no renewals, no release). */
    function killableLock(name: string) {
      const inner = new KubeLeaseLock(client, namespace, name);
      const state = { dead: false };
      const guard = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
        if (state.dead) throw new Error('process is gone');
        return fn(...a);
      };
      const lock: LeaseLock = {
        description: inner.description,
        get: guard((s?: AbortSignal) => inner.get(s)),
        create: guard((r, s?: AbortSignal) => inner.create(r, s)),
        update: guard((r, v: string, s?: AbortSignal) => inner.update(r, v, s)),
      };
      return { lock, state };
    }
    function campaign(lockName: string, identity: string, extra: Partial<typeof timings> = {}) {
      const { lock, state } = killableLock(lockName);
      const elector = new LeaderElector({ lock, identity, clock: systemClock, log, ...timings, ...extra });
      const stop = new AbortController();
      const done = elector.run({ onStartedLeading: () => undefined, onStoppedLeading: () => undefined }, stop.signal);
      return { elector, stop, done, state };
    }

    it('only one of two leads; the other takes over after the leader dies without releasing', async () => {
      const a = campaign('lock-takeover', 'a');
      await eventually('a to lead', () => a.elector.isLeader);
      const b = campaign('lock-takeover', 'b');
      await sleep(2 * timings.leaseDurationMs);
      expect(a.elector.isLeader).toBe(true);
      expect(b.elector.isLeader).toBe(false);
      a.state.dead = true;
      await eventually('b to take over after the lease expired', () => b.elector.isLeader, 20_000);
      expect(await a.done).toBe('lost');
      const lease = await new KubeLeaseLock(client, namespace, 'lock-takeover').get();
      expect(lease?.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
      b.stop.abort();
      await b.done;
    });

    it('a graceful stop releases the lease so the standby takes over at its next retry, not after the lease duration', async () => {
      // A lease duration far longer than the wait below: only the release can explain a take-over in time.
      const long = { leaseDurationMs: 120_000, renewDeadlineMs: 60_000, retryPeriodMs: 500 };
      const a = campaign('lock-release', 'a', long);
      await eventually('a to lead', () => a.elector.isLeader);
      const b = campaign('lock-release', 'b', long);
      await sleep(1_500);
      expect(b.elector.isLeader).toBe(false);
      a.stop.abort();
      expect(await a.done).toBe('stopped');
      await eventually('b to take over after the release', () => b.elector.isLeader, 30_000);
      b.stop.abort();
      await b.done;
    });
  });

  it('Manager: a controller converges objects (finalizer, Secret, status) and cleans up on delete; dependents follow owned Secrets', async () => {
    const finalizer = 'runtime.example.test/cleanup';
    const manager = new Manager({
      client,
      log,
      namespaces: [namespace],
      leaderElection: { namespace, name: 'manager-lock', leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 },
      eventReportingController: 'runtime.example.test/e2e',
    });
    let reconciles = 0;
    const controller = manager.addController<Gadget>({
      name: 'gadget',
      resource: gadgets,
      reconciler: async (key, ctx) => {
        reconciles++;
        const cached = controller.informer.get(key);
        if (!cached) return;
        if (isBeingDeleted(cached)) {
          await removeFinalizer(client, gadgets, cached, finalizer, ctx.signal);
          return;
        }
        const obj = await ensureFinalizer(client, gadgets, cached, finalizer, ctx.signal);
        const secrets = manager.informer<SecretObject>(coreResources.secret);
        await applySecret(
          client,
          { namespace: key.namespace, name: `${key.name}-conn`, stringData: { size: String(obj.spec?.size ?? 0) }, owner: { type: gadgets, object: obj } },
          { fieldManager: 'runtime-e2e', current: secrets.get({ namespace: key.namespace, name: `${key.name}-conn` }), signal: ctx.signal },
        );
        const conditions = setCondition(obj.status?.conditions, { type: 'Ready', status: 'True', reason: 'Converged', message: 'size copied' }, obj.metadata?.generation, manager.clock.now());
        const { written } = await writeStatus(client, gadgets, obj, { size: obj.spec?.size ?? 0, conditions }, { signal: ctx.signal });
        if (written) await manager.events.record(gadgets, obj, { type: 'Normal', reason: 'Converged', action: 'Reconcile', note: `size ${obj.spec?.size}` });
      },
    });
    controller.watchOwned(coreResources.secret);
    await client.create(gadgets, gadget('m1', 5));
    const running = manager.run();
    const readGadget = () => client.get<Gadget>(gadgets, { namespace, name: 'm1' });
    await eventually('m1 to be Ready with size 5', async () => (await readGadget())?.status?.size === 5, 60_000);
    expect(manager.isLeader).toBe(true);
    expect((await readGadget())?.metadata?.finalizers).toEqual([finalizer]);

    // Someone tampers with the owned Secret: the owner is requeued and repairs it.
    await someoneElse.patch(coreResources.secret, { namespace, name: 'm1-conn' }, { data: { size: Buffer.from('999').toString('base64') } }, { type: 'merge' });
    await eventually('the Secret to be repaired', async () => {
      const s = await client.get<SecretObject>(coreResources.secret, { namespace, name: 'm1-conn' });
      return Buffer.from(s?.data?.['size'] ?? '', 'base64').toString() === '5';
    });

    // A spec change converges with a new observedGeneration.
    await someoneElse.patch(gadgets, { namespace, name: 'm1' }, { spec: { size: 7 } }, { type: 'merge' });
    await eventually('size 7', async () => {
      const g = await readGadget();
      return g?.status?.size === 7 && g.status.observedGeneration === g.metadata?.generation;
    });
    const quietCount = reconciles;
    await sleep(1_500);
    // Converged: our own status write echoes back at most once; no hot loop.
    expect(reconciles - quietCount).toBeLessThanOrEqual(1);

    await client.delete(gadgets, { namespace, name: 'm1' });
    await eventually('m1 to be deleted once its finalizer is removed', async () => (await readGadget()) === undefined);

    await manager.stop();
    await running;
    const lease = await new KubeLeaseLock(client, namespace, 'manager-lock').get();
    expect(lease?.record.holderIdentity).toBe(''); // released on graceful stop
  });

  it('SIGTERM: the in-flight reconcile finishes, then the lease is released and the process exits 0', async () => {
    await client.create(gadgets, gadget('sig'));
    const script = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'sigterm-operator.ts');
    const child = spawn(process.execPath, [script, cp.kubeconfigPath, namespace], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await eventually('the reconcile to start', () => output.includes('reconcile started sig'), 60_000);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('reconcile finished sig');
    expect(output).toContain('exited cleanly');
    expect((await client.get<KubeObject & { status?: { done?: boolean } }>(gadgets, { namespace, name: 'sig' }))?.status?.done).toBe(true);
    expect((await new KubeLeaseLock(client, namespace, 'sigterm-lock').get())?.record.holderIdentity).toBe('');
  });
});
