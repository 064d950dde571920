// How the operator waits, adopts and repairs: dependents wait for their references with a reason and no
// Warning spam; an unanswered create is adopted rather than repeated; resources deleted behind the
// operator's back are reported (and recreated, except projects); the Secret follows a renamed database
// and a new compute host; a branch with children waits for them; Retain keeps the project.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coreResources, type KubeObject } from '../../../src/runtime/index.ts';
import {
  eventually,
  exampleObjects,
  getSecretData,
  projectsInNeon,
  readyCondition,
  setUpSuite,
  typeOfKind,
  waitReady,
  type NeonObject,
  type Suite,
} from './fixture.ts';

interface EventObject extends KubeObject {
  reason?: string;
  type?: string;
  note?: string;
  regarding?: { kind?: string; name?: string };
}

describe('operator: waiting, adoption and repair', () => {
  let suite: Suite;
  const get = (kind: string, name: string) => suite.kube.get<NeonObject>(typeOfKind(kind), { namespace: suite.namespace, name });
  const events = async (reason: string) =>
    (await suite.kube.list<EventObject>(coreResources.event, suite.namespace)).items.filter((e) => e.reason === reason);

  beforeAll(async () => {
    suite = await setUpSuite('op-recover');
    // This suite's operator runs with leader election, as a Deployment with several replicas would.
    // It adopts a project by ID with the operator's key, which the allow-list must grant this namespace.
    await suite.startOperator({
      resyncPeriodMs: 2_000,
      leaderElection: { enabled: true, namespace: 'default', name: `neon-operator-${suite.namespace}` },
      allowedProjects: [{ namespace: suite.namespace, projectId: '*' }],
    });
  });
  afterAll(async () => {
    await suite?.teardown();
  });

  it('holds the leader Lease while it reconciles', async () => {
    const lease = await eventually('lease acquired', async () => {
      const l = await suite.kube.get<KubeObject & { spec?: { holderIdentity?: string } }>(coreResources.lease, { namespace: 'default', name: `neon-operator-${suite.namespace}` });
      return l?.spec?.holderIdentity ? l : undefined;
    });
    expect(lease.spec?.holderIdentity).toBe(suite.operator?.manager.identity);
  });

  it('dependents wait with <Kind>NotReady until the project exists; an unanswered branch create is adopted', async () => {
    const objects = await exampleObjects(suite.namespace);
    for (const o of objects.filter((x) => x.kind !== 'NeonProject')) await suite.kube.create(typeOfKind(o.kind), o);
    const branch = await eventually('branch waiting', async () => {
      const c = readyCondition(await get('NeonBranch', 'dev'));
      return c?.reason === 'ProjectNotReady' ? c : undefined;
    });
    expect(branch.status).toBe('False');
    expect(branch.message).toContain('NeonProject demo');
    const endpoint = await eventually('endpoint waiting', async () => {
      const c = readyCondition(await get('NeonEndpoint', 'dev-rw'));
      return c?.reason === 'BranchNotReady' ? c : undefined;
    });
    expect(endpoint.message).toContain('NeonBranch dev');
    expect(readyCondition(await get('NeonDatabase', 'app'))?.status).toBe('False');
    // Waiting is not an error: no Warning Events.
    expect((await suite.kube.list<EventObject>(coreResources.event, suite.namespace)).items.filter((e) => e.type === 'Warning')).toEqual([]);

    // The branch create is applied but its answer is lost: the operator must adopt, not create again.
    suite.emulator.setFaults({ resetRate: 1, appliedBeforeFailure: 1, routes: ['POST /projects/{project_id}/branches'] });
    const stopFault = setInterval(() => {
      if (suite.emulator.counters().applied['POST /projects/{project_id}/branches']) {
        suite.emulator.setFaults({});
        clearInterval(stopFault);
      }
    }, 5);
    await suite.kube.create(typeOfKind('NeonProject'), objects.find((o) => o.kind === 'NeonProject') as NeonObject);
    for (const o of objects) await waitReady(suite, o.kind ?? '', o.metadata?.name ?? '', 90_000);
    clearInterval(stopFault);
    const devs = [...projectsInNeon(suite)[0]!.branches.values()].filter((b) => b.name === 'dev');
    expect(devs).toHaveLength(1);
    expect(suite.emulator.counters().applied['POST /projects/{project_id}/branches']).toBe(1);
    expect(suite.emulator.requests.some((r) => r.route === 'POST /projects/{project_id}/branches' && r.status === 0)).toBe(true);
    expect((await events('Adopted')).some((e) => e.regarding?.kind === 'NeonBranch')).toBe(true);
  });

  it('an unanswered read_only compute create is adopted through its pending-create marker', async () => {
    const route = 'POST /projects/{project_id}/endpoints';
    const before = suite.emulator.counters().applied[route] ?? 0;
    suite.emulator.setFaults({ resetRate: 1, appliedBeforeFailure: 1, routes: [route] });
    const stopFault = setInterval(() => {
      if ((suite.emulator.counters().applied[route] ?? 0) > before) {
        suite.emulator.setFaults({});
        clearInterval(stopFault);
      }
    }, 5);
    await suite.kube.create(typeOfKind('NeonEndpoint'), {
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind: 'NeonEndpoint',
      metadata: { name: 'dev-ro', namespace: suite.namespace },
      spec: { branchRef: { name: 'dev' }, type: 'read_only' },
    } as NeonObject);
    const ro = await waitReady(suite, 'NeonEndpoint', 'dev-ro');
    clearInterval(stopFault);
    expect(suite.emulator.counters().applied[route]).toBe(before + 1);
    expect(suite.emulator.requests.some((r) => r.route === route && r.status === 0)).toBe(true);
    const readOnly = [...projectsInNeon(suite)[0]!.endpoints.values()].filter((e) => e.type === 'read_only');
    expect(readOnly.map((e) => e.id)).toEqual([ro.status?.['endpointId']]);
    expect(readOnly[0]?.name).toBe('dev-ro');
    expect(ro.status?.['pendingCreate']).toBeUndefined();
    await suite.kube.delete(typeOfKind('NeonEndpoint'), { namespace: suite.namespace, name: 'dev-ro' });
    await eventually('read_only compute deleted', () => (suite.emulator.state.findEndpoint(String(ro.status?.['endpointId'])) ? undefined : true));
  });

  it('a compute deleted outside is reported and recreated; the Secret follows its new host', async () => {
    const ep = await waitReady(suite, 'NeonEndpoint', 'dev-rw');
    const oldId = String(ep.status?.['endpointId']);
    const project = projectsInNeon(suite)[0]!;
    project.endpoints.delete(oldId);
    const recreated = await eventually('endpoint recreated', async () => {
      const e = await get('NeonEndpoint', 'dev-rw');
      const id = e?.status?.['endpointId'];
      return id && id !== oldId && e?.status?.['host'] && readyCondition(e)?.status === 'True' ? e : undefined;
    }, 30_000);
    expect((await events('DeletedOutside')).some((e) => e.regarding?.name === 'dev-rw' && e.type === 'Warning')).toBe(true);
    const host = String(recreated.status?.['host']);
    await eventually('Secret host updated', async () => ((await getSecretData(suite, 'app-db'))?.['host'] === host ? true : undefined), 30_000);
    expect(new URL((await getSecretData(suite, 'app-db'))?.['uri'] ?? '').hostname).toBe(host);
  });

  it('renaming the database renames it in Neon and the Secret follows', async () => {
    await suite.kube.patch(typeOfKind('NeonDatabase'), { namespace: suite.namespace, name: 'app' }, { spec: { name: 'app_v2' } }, { type: 'merge' });
    const db = await waitReady(suite, 'NeonDatabase', 'app');
    expect(db.status?.['databaseName']).toBe('app_v2');
    const branch = suite.emulator.state.findBranch(String(db.status?.['branchId']));
    expect(branch?.databases.has('app_v2')).toBe(true);
    expect(branch?.databases.has('app')).toBe(false);
    await eventually('Secret dbname updated', async () => ((await getSecretData(suite, 'app-db'))?.['dbname'] === 'app_v2' ? true : undefined), 30_000);
    await waitReady(suite, 'NeonRole', 'app');
  });

  it('a branch with child branches waits for them before it is deleted', async () => {
    await suite.kube.create(typeOfKind('NeonBranch'), {
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind: 'NeonBranch',
      metadata: { name: 'child', namespace: suite.namespace },
      spec: { projectRef: { name: 'demo' }, parentRef: { name: 'dev' } },
    } as NeonObject);
    const child = await waitReady(suite, 'NeonBranch', 'child');
    const dev = await get('NeonBranch', 'dev');
    expect(child.status?.['parentId']).toBe(dev?.status?.['branchId']);
    // Delete the endpoint, role and database first so only the child holds the branch.
    for (const [kind, name] of [['NeonRole', 'app'], ['NeonDatabase', 'app'], ['NeonEndpoint', 'dev-rw']] as const) {
      await suite.kube.delete(typeOfKind(kind), { namespace: suite.namespace, name });
    }
    await suite.kube.delete(typeOfKind('NeonBranch'), { namespace: suite.namespace, name: 'dev' });
    const waiting = await eventually('parent waits for child', async () => {
      const c = readyCondition(await get('NeonBranch', 'dev'));
      return c?.reason === 'BranchHasChildren' ? c : undefined;
    });
    expect(waiting.message).toContain('child');
    const devId = String(dev?.status?.['branchId']);
    expect(suite.emulator.state.findBranch(devId)).toBeDefined();
    await suite.kube.delete(typeOfKind('NeonBranch'), { namespace: suite.namespace, name: 'child' });
    await eventually('both branches gone', async () =>
      !(await get('NeonBranch', 'dev')) && !(await get('NeonBranch', 'child')) && !suite.emulator.state.findBranch(devId) ? true : undefined, 60_000);
  });

  it('a NeonBranch naming the default branch adopts it and never deletes it', async () => {
    await suite.kube.create(typeOfKind('NeonBranch'), {
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind: 'NeonBranch',
      metadata: { name: 'main-ref', namespace: suite.namespace },
      spec: { projectRef: { name: 'demo' }, name: 'main' },
    } as NeonObject);
    const main = await waitReady(suite, 'NeonBranch', 'main-ref');
    expect(main.status?.['default']).toBe(true);
    const creates = suite.emulator.counters().applied['POST /projects/{project_id}/branches'];
    await suite.kube.delete(typeOfKind('NeonBranch'), { namespace: suite.namespace, name: 'main-ref' });
    await eventually('main-ref object gone', async () => ((await get('NeonBranch', 'main-ref')) ? undefined : true));
    expect(suite.emulator.state.findBranch(String(main.status?.['branchId']))?.isDefault).toBe(true);
    expect(suite.emulator.counters().applied['POST /projects/{project_id}/branches']).toBe(creates);
  });

  it('a project deleted outside is reported and not recreated; Retain (the default) keeps a project', async () => {
    const p = await waitReady(suite, 'NeonProject', 'demo');
    const projectId = String(p.status?.['projectId']);
    suite.emulator.state.projects.delete(projectId);
    const c = await eventually('project reported deleted', async () => {
      const cond = readyCondition(await get('NeonProject', 'demo'));
      return cond?.reason === 'ProjectDeletedOutside' ? cond : undefined;
    }, 30_000);
    expect(c.status).toBe('False');
    expect(projectsInNeon(suite)).toHaveLength(0);
    expect((await events('DeletedOutside')).some((e) => e.regarding?.name === 'demo')).toBe(true);
    // Its finalizer lets go (nothing left to delete).
    await suite.kube.delete(typeOfKind('NeonProject'), { namespace: suite.namespace, name: 'demo' });
    await eventually('project object gone', async () => ((await get('NeonProject', 'demo')) ? undefined : true));

    // A project with the default deletionPolicy (Retain) outlives its object.
    await suite.kube.create(typeOfKind('NeonProject'), {
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind: 'NeonProject',
      metadata: { name: 'kept', namespace: suite.namespace },
      spec: {},
    } as NeonObject);
    const kept = await waitReady(suite, 'NeonProject', 'kept');
    expect(kept.spec?.['deletionPolicy']).toBe('Retain');
    await suite.kube.delete(typeOfKind('NeonProject'), { namespace: suite.namespace, name: 'kept' });
    await eventually('kept object gone', async () => ((await get('NeonProject', 'kept')) ? undefined : true));
    const keptId = String(kept.status?.['projectId']);
    expect(projectsInNeon(suite).map((x) => x.id)).toContain(keptId);

    // Adopting an existing project by ID: nothing is created, and its Secret has the password Neon has.
    const creates = suite.emulator.counters().applied['POST /projects'];
    await suite.kube.create(typeOfKind('NeonProject'), {
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind: 'NeonProject',
      metadata: { name: 'adopted', namespace: suite.namespace },
      spec: { projectId: keptId },
    } as NeonObject);
    const adopted = await waitReady(suite, 'NeonProject', 'adopted');
    expect(adopted.status?.['projectId']).toBe(keptId);
    expect(suite.emulator.counters().applied['POST /projects']).toBe(creates);
    const secret = await getSecretData(suite, 'adopted-connection');
    const main = [...suite.emulator.state.projects.get(keptId)!.branches.values()].find((b) => b.isDefault);
    expect(secret?.['password']).toBe(main?.roles.get(secret?.['username'] ?? '')?.password);
    expect(suite.emulator.specViolations()).toEqual([]);
  });

  it('a project with apiKeySecretRef is managed with that key (another Neon account), and so are its branches', async () => {
    const otherKey = 'second-account-key-0123456789';
    await suite.kube.create(coreResources.secret, {
      metadata: { name: 'other-neon-key', namespace: suite.namespace },
      stringData: { 'api-key': otherKey },
    } as KubeObject);
    await suite.kube.create(typeOfKind('NeonProject'), {
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind: 'NeonProject',
      metadata: { name: 'other', namespace: suite.namespace },
      spec: { apiKeySecretRef: { name: 'other-neon-key' } },
    } as NeonObject);
    await suite.kube.create(typeOfKind('NeonBranch'), {
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind: 'NeonBranch',
      metadata: { name: 'other-dev', namespace: suite.namespace },
      spec: { projectRef: { name: 'other' } },
    } as NeonObject);
    const branch = await waitReady(suite, 'NeonBranch', 'other-dev');
    const theirs = suite.emulator.state.projectsOf(suite.emulator.accountOf(otherKey));
    expect(theirs).toHaveLength(1);
    expect(theirs[0]!.branches.has(String(branch.status?.['branchId']))).toBe(true);
    expect(projectsInNeon(suite).some((p) => p.id === theirs[0]!.id)).toBe(false);
    // The project object (Retain) goes first; the branch's cleanup still uses the right account.
    await suite.kube.delete(typeOfKind('NeonProject'), { namespace: suite.namespace, name: 'other' });
    await eventually('other project object gone', async () => ((await get('NeonProject', 'other')) ? undefined : true));
    await suite.kube.delete(typeOfKind('NeonBranch'), { namespace: suite.namespace, name: 'other-dev' });
    await eventually('other branch object gone', async () => ((await get('NeonBranch', 'other-dev')) ? undefined : true));
    expect(theirs[0]!.branches.has(String(branch.status?.['branchId']))).toBe(false);
    expect(suite.emulator.state.projectsOf(suite.emulator.accountOf(otherKey))).toHaveLength(1);
  });
});
