// Backup and restore (Velero, a GitOps re-create, a move to another cluster): objects come back without their
// status. The IDs the operator kept in their annotations bring back the same Neon resources: no second project,
// branch, compute, role or database, and the Secrets get the passwords they had. An annotation naming what is
// gone in Neon is reported, never silently replaced; one naming a project the namespace may not reach is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coreResources, type KubeObject } from '../../../src/runtime/index.ts';
import { eventually, exampleObjects, getSecretData, projectsInNeon, readyCondition, setUpSuite, typeOfKind, waitReady, type NeonObject, type Suite } from './fixture.ts';

const apiVersion = 'neon-operator.dev/v1alpha1';
const ANNOTATIONS = ['neon-operator.dev/project-id', 'neon-operator.dev/branch-id', 'neon-operator.dev/endpoint-id', 'neon-operator.dev/origin'];

/** What `kubectl get -o yaml` gives, minus status and what the API server assigns (uid, resourceVersion, …). */
function exported(obj: NeonObject): NeonObject {
  const { status: _status, ...rest } = obj;
  const { uid: _uid, resourceVersion: _rv, creationTimestamp: _ct, generation: _gen, managedFields: _mf, ...metadata } = (obj.metadata ?? {}) as Record<string, unknown>;
  return { ...rest, metadata } as NeonObject;
}

/** Every Neon resource of the test's account, as `kind:id` (roles and databases by branch and name). */
function neonInventory(suite: Suite): string[] {
  const out: string[] = [];
  for (const p of projectsInNeon(suite)) {
    out.push(`project:${p.id}`);
    for (const b of p.branches.values()) {
      out.push(`branch:${b.id}`);
      for (const r of b.roles.values()) out.push(`role:${b.id}/${r.name}`);
      for (const d of b.databases.values()) out.push(`database:${b.id}/${d.name}`);
    }
    for (const e of p.endpoints.values()) out.push(`endpoint:${e.id}`);
  }
  return out.sort();
}

describe('operator: restore without status', () => {
  let suite: Suite;

  beforeAll(async () => {
    suite = await setUpSuite('op-restore');
    await suite.startOperator({ waitingRequeueMs: 2_000 });
  });
  afterAll(async () => {
    await suite?.teardown();
  });

  const get = (kind: string, name: string) => suite.kube.get<NeonObject>(typeOfKind(kind), { namespace: suite.namespace, name });
  const create = (obj: NeonObject) => suite.kube.create(typeOfKind(obj.kind), obj);
  const creates = () => suite.emulator.requests.filter((r) => r.method === 'POST' && /^POST \/projects(\/\{project_id\}\/(branches|endpoints)(\/\{branch_id\}\/(roles|databases))?)?$/.test(r.route ?? '')).length;

  it('re-applied objects adopt the same Neon resources: same IDs, nothing created, the same passwords', async () => {
    const examples = await exampleObjects(suite.namespace);
    const readOnly: NeonObject = {
      apiVersion,
      kind: 'NeonEndpoint',
      metadata: { name: 'dev-ro', namespace: suite.namespace },
      spec: { branchRef: { name: 'dev' }, type: 'read_only' },
    };
    // Retain: deleting the objects leaves everything in Neon, as a backup before a cluster move would.
    const objects = [...examples, readOnly].map((o) => ({ ...o, spec: { ...o.spec, deletionPolicy: 'Retain' } }));
    for (const o of objects) await create(o);
    const before = new Map<string, NeonObject>();
    for (const o of objects) before.set(`${o.kind}/${o.metadata?.name}`, await waitReady(suite, o.kind ?? '', o.metadata?.name ?? ''));
    const passwords = { project: (await getSecretData(suite, 'demo-connection'))?.['password'], role: (await getSecretData(suite, 'app-db'))?.['password'] };
    expect(passwords.project).toBeTruthy();
    expect(passwords.role).toBeTruthy();

    // The IDs are in annotations, which a restore keeps.
    const project = before.get('NeonProject/demo');
    const projectId = String(project?.status?.['projectId']);
    expect(project?.metadata?.annotations).toMatchObject({ 'neon-operator.dev/project-id': projectId, 'neon-operator.dev/origin': 'Created' });
    expect(before.get('NeonBranch/dev')?.metadata?.annotations).toMatchObject({ 'neon-operator.dev/branch-id': before.get('NeonBranch/dev')?.status?.['branchId'], 'neon-operator.dev/origin': 'Created' });
    for (const name of ['dev-rw', 'dev-ro']) {
      const ep = before.get(`NeonEndpoint/${name}`);
      expect(ep?.metadata?.annotations).toMatchObject({ 'neon-operator.dev/endpoint-id': ep?.status?.['endpointId'], 'neon-operator.dev/origin': 'Created' });
    }
    expect(before.get('NeonRole/app')?.metadata?.annotations).toMatchObject({ 'neon-operator.dev/origin': 'Created' });
    expect(before.get('NeonDatabase/app')?.metadata?.annotations).toMatchObject({ 'neon-operator.dev/origin': 'Created' });

    const backup = [...before.values()].map(exported);
    const inventory = neonInventory(suite);
    for (const o of objects) await suite.kube.delete(typeOfKind(o.kind), { namespace: suite.namespace, name: o.metadata?.name ?? '' });
    await eventually('the objects gone', async () => {
      for (const o of objects) if (await get(o.kind ?? '', o.metadata?.name ?? '')) return undefined;
      return true;
    });
    // The connection Secrets go with their owners (garbage collection): after the restore they are written anew.
    await eventually('the Secrets garbage-collected', async () => {
      for (const name of ['demo-connection', 'app-db']) if (await suite.kube.get(coreResources.secret, { namespace: suite.namespace, name })) return undefined;
      return true;
    });
    expect(neonInventory(suite)).toEqual(inventory);

    const createsBefore = creates();
    for (const o of backup) await create(o);
    for (const o of backup) {
      const restored = await waitReady(suite, o.kind ?? '', o.metadata?.name ?? '').catch(async (err: unknown) => {
        const states = await Promise.all(backup.map(async (x) => `${x.kind} ${x.metadata?.name}: ${JSON.stringify((await get(x.kind ?? '', x.metadata?.name ?? ''))?.status?.conditions)}`));
        throw new Error(`${(err as Error).message}\n${states.join('\n')}`);
      });
      const original = before.get(`${o.kind}/${o.metadata?.name}`);
      for (const field of ['projectId', 'branchId', 'endpointId', 'roleName', 'databaseName', 'host']) {
        expect(restored.status?.[field], `${o.kind} ${o.metadata?.name} status.${field}`).toEqual(original?.status?.[field]);
      }
      expect(restored.status?.['origin'], `${o.kind} ${o.metadata?.name} origin`).toBe('Created');
    }
    expect(neonInventory(suite)).toEqual(inventory);
    expect(creates()).toBe(createsBefore);
    expect((await getSecretData(suite, 'demo-connection'))?.['password']).toBe(passwords.project);
    expect((await getSecretData(suite, 'app-db'))?.['password']).toBe(passwords.role);
  });

  it('an annotation naming a branch that is gone: IdentityNotFound and nothing created, until the annotation is removed', async () => {
    const inventory = neonInventory(suite);
    await create({
      apiVersion,
      kind: 'NeonBranch',
      metadata: { name: 'ghost', namespace: suite.namespace, annotations: { 'neon-operator.dev/branch-id': 'br-long-gone-12345678', 'neon-operator.dev/origin': 'Created' } },
      spec: { projectRef: { name: 'demo' } },
    });
    const ready = await eventually('NeonBranch ghost IdentityNotFound', async () => {
      const c = readyCondition(await get('NeonBranch', 'ghost'));
      return c?.reason === 'IdentityNotFound' ? c : undefined;
    });
    expect(ready.status).toBe('False');
    expect(ready.message).toMatch(/br-long-gone-12345678 named by the annotation neon-operator.dev\/branch-id does not exist .*remove the annotation/);
    expect(neonInventory(suite)).toEqual(inventory);

    // The user asks for a new one by removing the annotation.
    await suite.kube.patch(typeOfKind('NeonBranch'), { namespace: suite.namespace, name: 'ghost' }, { metadata: { annotations: { 'neon-operator.dev/branch-id': null, 'neon-operator.dev/origin': null } } }, { type: 'merge' });
    const branch = await waitReady(suite, 'NeonBranch', 'ghost');
    expect(branch.status?.['branchId']).not.toBe('br-long-gone-12345678');
    expect(branch.metadata?.annotations?.['neon-operator.dev/branch-id']).toBe(branch.status?.['branchId']);
    expect(neonInventory(suite).filter((x) => !inventory.includes(x))).toContain(`branch:${String(branch.status?.['branchId'])}`);
  });

  it('an annotation naming a project the namespace may not reach is refused, and creates nothing', async () => {
    // A project of the operator's account that no NeonProject of this namespace created (no mark of it in Neon).
    const other = suite.emulator.state.createProject(suite.emulator.accountOf('e2e-operator-key-0123456789'), { name: 'another-team' });
    const inventory = neonInventory(suite);
    await create({
      apiVersion,
      kind: 'NeonProject',
      metadata: { name: 'borrowed', namespace: suite.namespace, annotations: { 'neon-operator.dev/project-id': other.project.id, 'neon-operator.dev/origin': 'Created' } },
      spec: {},
    });
    const ready = await eventually('NeonProject borrowed ProjectNotAllowed', async () => {
      const c = readyCondition(await get('NeonProject', 'borrowed'));
      return c?.reason === 'ProjectNotAllowed' ? c : undefined;
    });
    expect(ready.message).toContain(other.project.id);
    const borrowed = await get('NeonProject', 'borrowed');
    expect(borrowed?.status?.['projectId']).toBeUndefined();
    expect(await suite.kube.get(coreResources.secret, { namespace: suite.namespace, name: 'borrowed-connection' })).toBeUndefined();
    expect(neonInventory(suite)).toEqual(inventory);
    // Annotations are not trusted with more than the spec: none of them was rewritten by the operator.
    for (const key of ANNOTATIONS) expect((borrowed as KubeObject | undefined)?.metadata?.annotations?.[key]).toBe(key === 'neon-operator.dev/project-id' ? other.project.id : key === 'neon-operator.dev/origin' ? 'Created' : undefined);
  });
});
