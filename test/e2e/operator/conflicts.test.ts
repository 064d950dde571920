// Issue 9, finding 5, as a user would hit it: a second read_write NeonEndpoint for a branch, a NeonBranch
// whose parent is itself, and two NeonBranches that are each other's parent. Each says what is wrong on its
// Ready condition (naming the other object or the chain) and costs Neon nothing, however often it is
// reconciled; fixing the spec (deleting the other object, breaking the cycle) lets it proceed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coreResources, type KubeObject } from '../../../src/runtime/index.ts';
import { eventually, exampleObjects, projectsInNeon, readyCondition, requestsSince, setUpSuite, typeOfKind, waitReady, type NeonObject, type Suite } from './fixture.ts';

interface EventObject extends KubeObject {
  reason?: string;
  type?: string;
  regarding?: { kind?: string; name?: string };
}

const ENDPOINT_CREATE = 'POST /projects/{project_id}/endpoints';
const ENDPOINT_LIST = 'GET /projects/{project_id}/endpoints';
const BRANCH_CREATE = 'POST /projects/{project_id}/branches';
/** Requests about branches (list, create, get, annotations): what a NeonBranch pass would send. */
const branchRequests = (requests: Array<{ route: string }>) => requests.filter((r) => r.route.includes('/branches'));

describe('operator: conflicting claims and parent cycles are reported, not retried hot', () => {
  let suite: Suite;
  const get = (kind: string, name: string) => suite.kube.get<NeonObject>(typeOfKind(kind), { namespace: suite.namespace, name });
  const create = (kind: string, name: string, spec: Record<string, unknown>) =>
    suite.kube.create(typeOfKind(kind), { apiVersion: 'neon-operator.dev/v1alpha1', kind, metadata: { name, namespace: suite.namespace }, spec });
  const events = async (reason: string, name: string) =>
    (await suite.kube.list<EventObject>(coreResources.event, suite.namespace)).items.filter((e) => e.reason === reason && e.regarding?.name === name);
  /** Waits until `name` is Ready=False with `reason` for its current generation; returns the condition. */
  const waitNotReady = (kind: string, name: string, reason: string) =>
    eventually(`${kind} ${name} Ready=False ${reason}`, async () => {
      const obj = await get(kind, name);
      const ready = readyCondition(obj);
      return ready?.status === 'False' && ready.reason === reason && ready.observedGeneration === obj?.metadata?.generation ? ready : undefined;
    });
  const calls = (from: number, route: string): Array<{ route: string; status: number }> => requestsSince(suite, from).filter((r) => r.route === route);

  beforeAll(async () => {
    suite = await setUpSuite('op-conflict');
    await suite.startOperator();
    const objects = await exampleObjects(suite.namespace);
    for (const o of objects.filter((x) => x.kind === 'NeonProject' || x.kind === 'NeonBranch')) await suite.kube.create(typeOfKind(o.kind), o);
    await waitReady(suite, 'NeonBranch', 'dev', 90_000);
  });
  afterAll(async () => {
    await suite?.teardown();
  });

  it('a second read_write NeonEndpoint for a branch: Conflict naming the first, no Neon call however often it is reconciled', async () => {
    await create('NeonEndpoint', 'first', { branchRef: { name: 'dev' }, type: 'read_write' });
    const first = await waitReady(suite, 'NeonEndpoint', 'first');
    const from = suite.emulator.requests.length;

    await create('NeonEndpoint', 'second', { branchRef: { name: 'dev' }, type: 'read_write', suspendTimeoutSeconds: 300 });
    const conflict = await waitNotReady('NeonEndpoint', 'second', 'Conflict');
    const branchId = String((await get('NeonBranch', 'dev'))?.status?.['branchId']);
    expect(conflict.message).toBe(
      `the read_write compute of Neon branch ${branchId} (Neon allows one per branch) is already claimed by NeonEndpoint first, which manages it; delete one of the two or point this one elsewhere`,
    );

    // Three more reconciles, each witnessed by the condition's observedGeneration following a spec change
    // (before, every pass was a POST answered 409, about once a second, forever).
    for (const seconds of [301, 302, 303]) {
      await suite.kube.patch(typeOfKind('NeonEndpoint'), { namespace: suite.namespace, name: 'second' }, { spec: { suspendTimeoutSeconds: seconds } }, { type: 'merge' });
      await waitNotReady('NeonEndpoint', 'second', 'Conflict');
    }
    expect(calls(from, ENDPOINT_CREATE)).toEqual([]);
    // Not even the list a pass starts with: the claim is decided from the informer caches. (The first
    // compute may still poll its own operations, so other reads are not counted here.)
    expect(calls(from, ENDPOINT_LIST)).toEqual([]);
    const conflictEvents = await eventually('the Conflict Event', async () => {
      const found = await events('Conflict', 'second');
      return found.length > 0 ? found : undefined;
    });
    expect(conflictEvents).toHaveLength(1);
    expect(conflictEvents[0]?.type).toBe('Warning');

    // The first one goes (and its compute with it): the second is requeued at once and gets the branch's compute.
    await suite.kube.delete(typeOfKind('NeonEndpoint'), { namespace: suite.namespace, name: 'first' });
    const second = await waitReady(suite, 'NeonEndpoint', 'second');
    expect(second.status?.['endpointId']).not.toBe(first.status?.['endpointId']);
    expect(calls(from, ENDPOINT_CREATE).map((r) => r.status)).toEqual([201]);
    const project = projectsInNeon(suite)[0];
    expect([...(project?.endpoints.values() ?? [])].filter((e) => e.branchId === branchId && e.type === 'read_write')).toHaveLength(1);
  });

  it('a NeonBranch whose parentRef is itself: InvalidSpec naming it, no Neon call', async () => {
    const from = suite.emulator.requests.length;
    await create('NeonBranch', 'loop', { projectRef: { name: 'demo' }, parentRef: { name: 'loop' } });
    const ready = await waitNotReady('NeonBranch', 'loop', 'InvalidSpec');
    expect(ready.message).toBe('spec.parentRef names this NeonBranch itself (loop); a branch cannot be its own parent');
    // The endpoint of the test before may still be polling its operations: only branch requests are this one's.
    expect(branchRequests(requestsSince(suite, from))).toEqual([]);
  });

  it('two NeonBranches that are each other\'s parent: InvalidSpec naming the chain; breaking it lets both proceed', async () => {
    const from = suite.emulator.requests.length;
    await create('NeonBranch', 'a', { projectRef: { name: 'demo' }, parentRef: { name: 'b' } });
    await create('NeonBranch', 'b', { projectRef: { name: 'demo' }, parentRef: { name: 'a' } });
    const [a, b] = await Promise.all([waitNotReady('NeonBranch', 'a', 'InvalidSpec'), waitNotReady('NeonBranch', 'b', 'InvalidSpec')]);
    expect(a.message).toBe('spec.parentRef forms a cycle: a → b → a; one of these NeonBranches must name another parent');
    expect(b.message).toBe('spec.parentRef forms a cycle: b → a → b; one of these NeonBranches must name another parent');
    expect(branchRequests(requestsSince(suite, from))).toEqual([]);
    const cycleEvents = await eventually('the InvalidSpec Event', async () => {
      const found = await events('InvalidSpec', 'a');
      return found.length > 0 ? found : undefined;
    });
    expect(cycleEvents).toHaveLength(1);

    // parentRef is immutable: b is replaced by one branching from the default branch, and a follows it.
    await suite.kube.delete(typeOfKind('NeonBranch'), { namespace: suite.namespace, name: 'b' });
    await eventually('b gone', async () => ((await get('NeonBranch', 'b')) ? undefined : true));
    await create('NeonBranch', 'b', { projectRef: { name: 'demo' } });
    const [readyA, readyB] = await Promise.all([waitReady(suite, 'NeonBranch', 'a'), waitReady(suite, 'NeonBranch', 'b')]);
    expect(readyA.status?.['parentId']).toBe(readyB.status?.['branchId']);
    expect(calls(from, BRANCH_CREATE).map((r) => r.status)).toEqual([201, 201]);
  });
});
