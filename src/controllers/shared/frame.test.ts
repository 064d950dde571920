// The reconcile frame every kind shares: what each kind of failure does to the object's status, Events
// and retry, and the finalizer on create and delete. Against a scripted API server (FakeTransport).
import { pino } from 'pino';
import { ResourceParseError } from '../../api/index.ts';
import { describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../clock.ts';
import { InvalidRequestError, LockedError } from '../../neon/index.ts';
import { EventRecorder, KubeApiError, KubeClient, ReportedError, type KubeObject, type KubeRequest, type ReconcileContext } from '../../runtime/index.ts';
import { FakeTransport } from '../../runtime/fake-transport.ts';
import type { ControllerDeps } from './deps.ts';
import { BlockedError } from './blocked.ts';
import { adoptingSoon, frameReconciler, type KindReconciler, type SyncOutcome } from './frame.ts';
import { branchIdentity } from './identity.ts';
import { FINALIZER, resourceTypes } from './kinds.ts';
import { PAUSED_ANNOTATION } from '../../api/index.ts';
import type { NeonAccounts } from './neon-accounts.ts';
import { NotReadyError } from './not-ready.ts';

type Obj = KubeObject & { status?: Record<string, unknown> };
const log = pino({ level: 'silent' });

function setUp(object: Obj) {
  const transport = new FakeTransport();
  let current: Obj = structuredClone(object);
  transport.handle = (req: KubeRequest) => {
    if (req.path.includes('/events')) return {};
    if (req.method === 'GET') return structuredClone(current);
    if (req.method === 'PATCH') {
      const body = req.body as { status?: Record<string, unknown>; metadata?: { finalizers?: string[]; resourceVersion?: string; annotations?: Record<string, string | null> } };
      // A resourceVersion in the patch is a precondition, as on the API server.
      if (body.metadata?.resourceVersion !== undefined && body.metadata.resourceVersion !== current.metadata?.resourceVersion) {
        throw new KubeApiError(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again');
      }
      if (req.path.endsWith('/status')) current = { ...current, status: { ...(current.status ?? {}), ...body.status } };
      else if (body.metadata?.finalizers) current = { ...current, metadata: { ...current.metadata, finalizers: body.metadata.finalizers } };
      else if (body.metadata?.annotations) {
        const annotations: Record<string, string> = { ...(current.metadata?.annotations ?? {}) };
        for (const [k, v] of Object.entries(body.metadata.annotations)) if (v === null) delete annotations[k]; else annotations[k] = v;
        current = { ...current, metadata: { ...current.metadata, annotations } };
      }
      current = { ...current, metadata: { ...current.metadata, resourceVersion: String(Number(current.metadata?.resourceVersion ?? '1') + 1) } };
      return structuredClone(current);
    }
    throw new Error(`unexpected ${req.method} ${req.path}`);
  };
  const kube = new KubeClient(transport);
  const deps: ControllerDeps = {
    accounts: {} as NeonAccounts,
    kube,
    informers: { informer: () => { throw new Error('not used'); } },
    events: new EventRecorder({ client: kube, clock: systemClock, log, reportingController: 'test', reportingInstance: 'test' }),
    clock: systemClock,
    log,
    resyncPeriodMs: 600_000,
    resyncJitter: 0.1,
    concurrency: 1,
    waitingRequeueMs: 30_000,
    allowedProjects: [],
  };
  return { transport, deps, current: () => current, edit: (f: (o: Obj) => Obj) => { current = f(current); } };
}

function kindThat(sync: () => Promise<SyncOutcome>, finalize: () => Promise<{ done: true }> = async () => ({ done: true })): KindReconciler<Obj> {
  return { type: resourceTypes.branch, parse: (raw) => raw as Obj, sync, finalize };
}

const base: Obj = { metadata: { name: 'dev', namespace: 'ns', uid: 'u1', generation: 3, resourceVersion: '1' } };
const ctx = (): ReconcileContext => ({ signal: new AbortController().signal, log });
const key = { namespace: 'ns', name: 'dev' };
const ready = (o: Obj) => (o.status?.['conditions'] as Array<Record<string, unknown>> | undefined)?.find((c) => c['type'] === 'Ready');
const synced = (o: Obj) => (o.status?.['conditions'] as Array<Record<string, unknown>> | undefined)?.find((c) => c['type'] === 'Synced');
const events = (t: FakeTransport) => t.requests.filter((r) => r.method === 'POST' && r.path.includes('/events'));

describe('reconcile frame', () => {
  it('hands back work Neon finishes on its own: the object is woken when it ends, and a failure is a Warning Event', async () => {
    const { deps, current, transport } = setUp(base);
    let fail: (e: unknown) => void = () => {};
    const operations = new Promise<unknown>((_, reject) => (fail = reject));
    const result = await frameReconciler(
      kindThat(async () => ({ status: { branchId: 'br-1' }, ready: { ok: false, reason: 'BranchNotReady', message: 'being created' }, wakeWhen: operations })),
      deps,
    )(key, ctx());
    expect(ready(current())).toMatchObject({ status: 'False', reason: 'BranchNotReady' });
    // A safety requeue, and the wait itself: the worker is free while Neon runs the operations.
    expect(result).toMatchObject({ requeueAfter: deps.waitingRequeueMs });
    const wake = (result as { wakeWhen?: Promise<unknown> }).wakeWhen;
    expect(wake).toBeInstanceOf(Promise);
    const before = events(transport).length;
    fail(new InvalidRequestError({ status: 400, code: '', neonMessage: 'operation failed', requestId: 'r', method: 'GET', route: '/x', mayHaveApplied: false }));
    await expect(wake).resolves.toBeUndefined();
    await vi.waitFor(() => expect(events(transport).length).toBe(before + 1));
  });

  it('adds the finalizer, then writes status and Ready=True with observedGeneration', async () => {
    const { deps, current } = setUp(base);
    const result = await frameReconciler(kindThat(async () => ({ status: { branchId: 'br-1' }, ready: { ok: true, reason: 'Ready', message: 'ok' } })), deps)(key, ctx());
    expect(result).toBeUndefined();
    expect(current().metadata?.finalizers).toEqual([FINALIZER]);
    expect(current().status).toMatchObject({ branchId: 'br-1', observedGeneration: 3 });
    expect(ready(current())).toMatchObject({ status: 'True', reason: 'Ready', observedGeneration: 3 });
    expect(synced(current())).toMatchObject({ status: 'True', reason: 'ReconcileSuccess', observedGeneration: 3 });
  });

  it('a pass that ends without applying the spec (the resource is gone): Synced=False with the Ready reason', async () => {
    const { deps, current } = setUp(base);
    const outcome = { ready: { ok: false, reason: 'ProjectDeletedOutside', message: 'gone' }, synced: false };
    await frameReconciler(kindThat(async () => outcome), deps)(key, ctx());
    expect(ready(current())).toMatchObject({ status: 'False', reason: 'ProjectDeletedOutside' });
    expect(synced(current())).toMatchObject({ status: 'False', reason: 'ProjectDeletedOutside', message: 'gone' });
  });

  it('a missing dependency: Ready=False with its reason, a slow requeue, no Event, no error', async () => {
    const { deps, current, transport } = setUp(base);
    const result = await frameReconciler(kindThat(async () => { throw new NotReadyError('ProjectNotReady', 'waiting for NeonProject demo'); }), deps)(key, ctx());
    expect(result).toEqual({ requeueAfter: 30_000 });
    expect(ready(current())).toMatchObject({ status: 'False', reason: 'ProjectNotReady', message: 'waiting for NeonProject demo' });
    expect(synced(current())).toMatchObject({ status: 'False', reason: 'ProjectNotReady' });
    expect(events(transport)).toEqual([]);
  });

  it('a Neon 4xx: Ready=False with Neon\'s message, a Warning Event, and a reported error for the backoff; logged at warn once', async () => {
    const { deps, current, transport } = setUp(base);
    const lines: Array<{ level: number; msg: string }> = [];
    const captured = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const err = new InvalidRequestError({ status: 400, code: '', neonMessage: 'role name is reserved', requestId: 'r1', method: 'POST', route: '/projects/{project_id}/branches/{branch_id}/roles', mayHaveApplied: false });
    const reconcile = frameReconciler(kindThat(async () => { throw err; }), deps);
    const pass = () => reconcile(key, { signal: new AbortController().signal, log: captured });
    const first = await pass().catch((e: unknown) => e);
    expect(first).toBeInstanceOf(ReportedError);
    expect((first as ReportedError).cause).toBe(err);
    expect(ready(current())).toMatchObject({ status: 'False', reason: 'NeonRejected' });
    expect(String(ready(current())?.['message'])).toContain('role name is reserved');
    await new Promise((r) => setTimeout(r, 10));
    expect(events(transport)).toHaveLength(1);
    expect((events(transport)[0]?.body as { type?: string; reason?: string })).toMatchObject({ type: 'Warning', reason: 'NeonRejected' });
    // The same refusal on the retries: the object already says it, so the log line drops to debug.
    await expect(pass()).rejects.toBeInstanceOf(ReportedError);
    await expect(pass()).rejects.toBeInstanceOf(ReportedError);
    const about = lines.filter((l) => l.msg.includes('role name is reserved'));
    expect(about.map((l) => l.level)).toEqual([40, 20, 20]); // warn, then debug
  });

  it('a transient Neon error does not flip a Ready object: Synced=False says the pass failed', async () => {
    const readyObj: Obj = { ...base, metadata: { ...base.metadata, finalizers: [FINALIZER] }, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 3 }] } };
    const { deps, current, transport } = setUp(readyObj);
    const err = new LockedError({ status: 423, code: '', neonMessage: 'busy', requestId: 'r2', method: 'PATCH', route: '/projects/{project_id}', mayHaveApplied: false });
    await expect(frameReconciler(kindThat(async () => { throw err; }), deps)(key, ctx())).rejects.toBe(err);
    expect(ready(current())).toMatchObject({ status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' });
    expect(synced(current())).toMatchObject({ status: 'False', reason: 'NeonUnavailable' });
    expect(events(transport)).toEqual([]);
  });

  it('a refused change to a Ready object: Ready stays True for the new generation, Synced=False NeonRejected, one Warning', async () => {
    const readyObj: Obj = {
      ...base,
      metadata: { ...base.metadata, generation: 4, finalizers: [FINALIZER] },
      status: { conditions: [
        { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 3 },
        { type: 'Synced', status: 'True', reason: 'ReconcileSuccess', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 3 },
      ] },
    };
    const { deps, current, transport } = setUp(readyObj);
    const err = new InvalidRequestError({ status: 400, code: '', neonMessage: 'history retention is out of range', requestId: 'r3', method: 'PATCH', route: '/projects/{project_id}', mayHaveApplied: false });
    await expect(frameReconciler(kindThat(async () => { throw err; }), deps)(key, ctx())).rejects.toBeInstanceOf(ReportedError);
    // Dependents read Ready at the current generation: they keep working.
    expect(ready(current())).toMatchObject({ status: 'True', reason: 'Ready', observedGeneration: 4, lastTransitionTime: '2026-01-01T00:00:00Z' });
    expect(synced(current())).toMatchObject({ status: 'False', reason: 'NeonRejected', observedGeneration: 4 });
    expect(String(synced(current())?.['message'])).toContain('history retention is out of range');
    await new Promise((r) => setTimeout(r, 10));
    expect(events(transport).map((e) => (e.body as { reason?: string }).reason)).toEqual(['NeonRejected']);
    // The next pass that works sets Synced=True again.
    await frameReconciler(kindThat(async () => ({ ready: { ok: true, reason: 'Ready', message: 'ok' } })), deps)(key, ctx());
    expect(synced(current())).toMatchObject({ status: 'True', reason: 'ReconcileSuccess', observedGeneration: 4 });
  });

  it('records the account a pass used (a reference, never the key) with the IDs and the final status, not on a failure', async () => {
    const { deps, current } = setUp(base);
    const kind = kindThat(async () => ({ ready: { ok: true, reason: 'Ready', message: 'ok' } }));
    kind.sync = async (_obj, sctx) => {
      sctx.useAccount({ namespace: 'ns', name: 'second-key', key: 'api-key' });
      await sctx.saveStatus({ branchId: 'br-1' });
      expect(current().status).toMatchObject({ branchId: 'br-1', apiKeySecretRef: { name: 'second-key', key: 'api-key' } });
      return { ready: { ok: true, reason: 'Ready', message: 'ok' } };
    };
    await frameReconciler(kind, deps)(key, ctx());
    expect(current().status?.['apiKeySecretRef']).toEqual({ name: 'second-key', key: 'api-key' });

    // A pass that fails after naming another account leaves the record of the last one that worked.
    kind.sync = async (_obj, sctx) => {
      sctx.useAccount({ namespace: 'ns', name: 'other-key', key: 'api-key' });
      throw new NotReadyError('ProjectNotReady', 'waiting');
    };
    await frameReconciler(kind, deps)(key, ctx());
    expect(ready(current())).toMatchObject({ status: 'False', reason: 'ProjectNotReady' });
    expect(current().status?.['apiKeySecretRef']).toEqual({ name: 'second-key', key: 'api-key' });

    // Back to the operator's own key: the record goes (absent means the operator's key). The merge patch
    // sends null, which removes the field on a real API server (this fake stores the null as it is).
    kind.sync = async (_obj, sctx) => {
      sctx.useAccount(undefined);
      return { ready: { ok: true, reason: 'Ready', message: 'ok' } };
    };
    await frameReconciler(kind, deps)(key, ctx());
    expect(current().status?.['apiKeySecretRef']).toBeNull();
  });

  it('a claim held by another object: Ready=False Conflict, one Warning Event however many passes, backoff', async () => {
    const { deps, current } = setUp(base);
    const recorded = vi.spyOn(deps.events, 'record');
    const message = 'the read_write compute of Neon branch br-1 is already claimed by NeonEndpoint first';
    const reconcile = frameReconciler(kindThat(async () => { throw new BlockedError('Conflict', message, 'backoff'); }), deps);
    for (let pass = 0; pass < 3; pass++) expect(await reconcile(key, ctx())).toEqual({ backoff: true });
    expect(ready(current())).toMatchObject({ status: 'False', reason: 'Conflict', message });
    expect(recorded.mock.calls.map(([, , input]) => input)).toEqual([expect.objectContaining({ type: 'Warning', reason: 'Conflict', note: message })]);
  });

  it('a blocked spec that only a change can fix is not requeued (the resync remains)', async () => {
    const { deps, current } = setUp(base);
    const reconcile = frameReconciler(kindThat(async () => { throw new BlockedError('InvalidSpec', 'spec.parentRef forms a cycle: a → b → a', 'onChange'); }), deps);
    expect(await reconcile(key, ctx())).toBeUndefined();
    expect(ready(current())).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: 'spec.parentRef forms a cycle: a → b → a' });
  });

  it('a 409 on create: Adopting, retried with backoff, one Event until the condition changes', async () => {
    const { deps, current } = setUp(base);
    const recorded = vi.spyOn(deps.events, 'record');
    let outcome: SyncOutcome = adoptingSoon('the branch already has a read-write compute; adopting it');
    const reconcile = frameReconciler(kindThat(async () => outcome), deps);
    expect(await reconcile(key, ctx())).toEqual({ backoff: true });
    expect(await reconcile(key, ctx())).toEqual({ backoff: true });
    expect(ready(current())).toMatchObject({ status: 'False', reason: 'Adopting' });
    outcome = { ready: { ok: true, reason: 'Ready', message: 'ok' } };
    expect(await reconcile(key, ctx())).toBeUndefined();
    outcome = adoptingSoon('the branch already has a read-write compute; adopting it');
    await reconcile(key, ctx());
    // Asked of the recorder (which would also fold repeats into one Event series): once per new condition.
    expect(recorded.mock.calls.map(([, , input]) => input.reason)).toEqual(['Adopting', 'Adopting']);
  });

  it('deletion: finalize, then the finalizer goes; a waiting finalize says why', async () => {
    const deleting: Obj = { ...base, metadata: { ...base.metadata, finalizers: [FINALIZER], deletionTimestamp: '2026-01-01T00:00:00Z' } };
    const done = setUp(deleting);
    await frameReconciler(kindThat(async () => { throw new Error('sync must not run'); }), done.deps)(key, ctx());
    expect(done.current().metadata?.finalizers).toEqual([]);

    const waiting = setUp(deleting);
    const kind: KindReconciler<Obj> = {
      ...kindThat(async () => { throw new Error('sync must not run'); }),
      finalize: async () => ({ done: false, reason: 'BranchHasChildren', message: 'waiting for child', requeueAfterMs: 5_000 }),
    };
    expect(await frameReconciler(kind, waiting.deps)(key, ctx())).toEqual({ requeueAfter: 5_000 });
    expect(waiting.current().metadata?.finalizers).toEqual([FINALIZER]);
    expect(ready(waiting.current())).toMatchObject({ status: 'False', reason: 'BranchHasChildren' });
  });

  describe('deletion of an object that no longer parses (e.g. after a schema tightening)', () => {
    const invalid = new ResourceParseError('NeonBranch', 'ns/dev', [{ path: 'spec.parent', message: 'unknown field(s) parent' }]);
    let valid = false;
    let finalized = 0;
    const kind: KindReconciler<Obj> = {
      ...kindThat(async () => { throw new Error('sync must not run'); }),
      parse: (raw) => {
        if (!valid) throw invalid;
        return raw as Obj;
      },
      finalize: async () => {
        finalized++;
        return { done: true };
      },
    };
    const deleting = (status?: Record<string, unknown>): Obj => ({
      ...base,
      metadata: { ...base.metadata, finalizers: [FINALIZER], deletionTimestamp: '2026-01-01T00:00:00Z' },
      ...(status ? { status } : {}),
    });
    const warnings = async (t: FakeTransport) => {
      await new Promise((r) => setTimeout(r, 10));
      return events(t).map((e) => e.body as { type?: string; reason?: string; note?: string });
    };

    it('keeps the finalizer while status records a Neon resource: Warning Event, InvalidSpec saying what to do, no Neon cleanup', async () => {
      valid = false;
      finalized = 0;
      const { deps, current, transport } = setUp(deleting({ projectId: 'proj-1', branchId: 'br-2' }));
      expect(await frameReconciler(kind, deps)(key, ctx())).toBeUndefined();
      expect(current().metadata?.finalizers).toEqual([FINALIZER]);
      expect(finalized).toBe(0);
      const condition = ready(current());
      expect(condition).toMatchObject({ status: 'False', reason: 'InvalidSpec', observedGeneration: 3 });
      const message = String(condition?.['message']);
      expect(message).toContain('spec.parent: unknown field(s) parent');
      expect(message).toContain('projectId proj-1, branchId br-2');
      expect(message).toContain(`remove the finalizer ${FINALIZER} to leave the Neon resource in place`);
      const [event, ...more] = await warnings(transport);
      expect(more).toEqual([]);
      expect(event).toMatchObject({ type: 'Warning', reason: 'InvalidSpec', note: message });

      // Once the object is fixed, the deletion proceeds as usual (finalize, then the finalizer goes).
      valid = true;
      await frameReconciler(kind, deps)(key, ctx());
      expect(finalized).toBe(1);
      expect(current().metadata?.finalizers).toEqual([]);
    });

    it('keeps it for a create that may have happened (pendingCreate) too', async () => {
      valid = false;
      const { deps, current } = setUp(deleting({ pendingCreate: { startedAt: '2026-01-01T00:00:00Z', name: 'dev' } }));
      await frameReconciler(kind, deps)(key, ctx());
      expect(current().metadata?.finalizers).toEqual([FINALIZER]);
      expect(String(ready(current())?.['message'])).toContain('pendingCreate since 2026-01-01T00:00:00Z');
    });

    it('releases the finalizer when nothing was recorded in Neon, with a Warning Event', async () => {
      valid = false;
      finalized = 0;
      const { deps, current, transport } = setUp(deleting({ conditions: [] }));
      await frameReconciler(kind, deps)(key, ctx());
      expect(current().metadata?.finalizers).toEqual([]);
      expect(finalized).toBe(0);
      const [event] = await warnings(transport);
      expect(event).toMatchObject({ type: 'Warning', reason: 'InvalidSpec' });
      expect(event?.note).toContain('nothing was recorded in Neon for it, so the finalizer is released');
    });
  });

  it('a create: the pending record on the version read (resourceVersion precondition), then the ID in status and in annotations', async () => {
    const { deps, current, transport } = setUp(base);
    const kind: KindReconciler<Obj> = {
      ...kindThat(async () => ({ ready: { ok: true, reason: 'Ready', message: 'ok' } })),
      identity: branchIdentity,
      sync: async (_obj, ctx) => {
        await ctx.recordPendingCreate({ startedAt: '2026-12-01T00:00:00Z', name: 'dev' });
        await ctx.saveStatus({ branchId: 'br-1', origin: 'Created', pendingCreate: undefined });
        return { status: { state: 'ready' }, ready: { ok: true, reason: 'Ready', message: 'ok' } };
      },
    };
    await frameReconciler(kind, deps)(key, ctx());
    const patches = transport.requests.filter((r) => r.method === 'PATCH');
    const pending = patches.find((r) => (r.body as { status?: { pendingCreate?: unknown } }).status?.pendingCreate);
    expect((pending?.body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion).toBeDefined();
    expect(current().metadata?.annotations).toEqual({ 'neon-operator.dev/branch-id': 'br-1', 'neon-operator.dev/origin': 'Created' });
    // Written once, right after the status write that recorded the ID, not again by the final status write.
    expect(patches.filter((r) => !r.path.endsWith('/status') && (r.body as { metadata?: { annotations?: unknown } }).metadata?.annotations)).toHaveLength(1);
  });

  it('a pending record on a version someone else has changed since is refused (409): the pass never reaches the create', async () => {
    const { deps, transport } = setUp(base);
    let created = false;
    const handle = transport.handle;
    let bumped = false;
    transport.handle = (req: KubeRequest) => {
      // Another writer (a second operator instance) changes the object right after this pass read it.
      if (!bumped && req.method === 'PATCH' && req.path.endsWith('/status')) {
        bumped = true;
        handle({ ...req, body: { status: { note: 'other' } } });
      }
      return handle(req);
    };
    const kind: KindReconciler<Obj> = {
      ...kindThat(async () => ({ ready: { ok: true, reason: 'Ready', message: 'ok' } })),
      sync: async (_obj, ctx) => {
        await ctx.recordPendingCreate({ startedAt: '2026-12-01T00:00:00Z', name: 'dev' });
        created = true;
        return { ready: { ok: true, reason: 'Ready', message: 'ok' } };
      },
    };
    const err = await frameReconciler(kind, deps)(key, ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).statusCode).toBe(409);
    expect(created).toBe(false);
  });

  describe(`paused (${PAUSED_ANNOTATION}: "true")`, () => {
    const paused = (o: Obj): Obj => ({ ...o, metadata: { ...o.metadata, annotations: { [PAUSED_ANNOTATION]: 'true' } } });
    const resumed = (o: Obj): Obj => ({ ...o, metadata: { ...o.metadata, annotations: {} } });
    const eventsOf = async (t: FakeTransport) => {
      await new Promise((r) => setTimeout(r, 10));
      return events(t).map((e) => e.body as { type?: string; reason?: string; note?: string });
    };
    const condition = (o: Obj) => (o.status?.['conditions'] as Array<Record<string, unknown>> | undefined)?.find((c) => c['type'] === 'Paused');

    it('makes no call of the kind and no change but the Paused condition (no finalizer either), once; resumes where it left off', async () => {
      let synced = 0;
      const kind = kindThat(async () => {
        synced++;
        return { status: { branchId: 'br-1' }, ready: { ok: true, reason: 'Ready', message: 'ok' } };
      });
      const { deps, current, transport, edit } = setUp(paused(base));
      await frameReconciler(kind, deps)(key, ctx());
      await frameReconciler(kind, deps)(key, ctx());
      expect(synced).toBe(0);
      expect(current().metadata?.finalizers).toBeUndefined();
      expect(condition(current())).toMatchObject({ status: 'True', reason: 'Paused' });
      expect(String(condition(current())?.['message'])).toContain('remove the annotation to resume');
      expect(current().status?.['branchId']).toBeUndefined();
      expect(transport.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
      expect((await eventsOf(transport)).map((e) => e.reason)).toEqual(['Paused']);

      edit(resumed);
      await frameReconciler(kind, deps)(key, ctx());
      expect(synced).toBe(1);
      expect(condition(current())).toBeUndefined();
      expect(current().metadata?.finalizers).toEqual([FINALIZER]);
      expect(ready(current())).toMatchObject({ status: 'True' });
      expect((await eventsOf(transport)).map((e) => e.reason)).toEqual(['Paused', 'Resumed']);
    });

    it('a paused object being deleted keeps its finalizer and says the deletion waits; the deletion proceeds when resumed', async () => {
      let finalized = 0;
      const kind = kindThat(
        async () => ({ ready: { ok: true, reason: 'Ready', message: 'ok' } }),
        async () => {
          finalized++;
          return { done: true };
        },
      );
      const deleting: Obj = { ...base, metadata: { ...base.metadata, finalizers: [FINALIZER], deletionTimestamp: '2026-01-01T00:00:00Z' } };
      const { deps, current, edit } = setUp(paused(deleting));
      await frameReconciler(kind, deps)(key, ctx());
      expect(finalized).toBe(0);
      expect(current().metadata?.finalizers).toEqual([FINALIZER]);
      expect(String(condition(current())?.['message'])).toContain('the deletion waits');
      edit(resumed);
      await frameReconciler(kind, deps)(key, ctx());
      expect(finalized).toBe(1);
      expect(current().metadata?.finalizers).toEqual([]);
    });

    it('only the value "true" pauses', async () => {
      let synced = 0;
      const kind = kindThat(async () => {
        synced++;
        return { ready: { ok: true, reason: 'Ready', message: 'ok' } };
      });
      const { deps } = setUp({ ...base, metadata: { ...base.metadata, annotations: { [PAUSED_ANNOTATION]: 'false' } } });
      await frameReconciler(kind, deps)(key, ctx());
      expect(synced).toBe(1);
    });
  });
});
