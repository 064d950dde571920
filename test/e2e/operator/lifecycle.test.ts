// The operator end to end on a real API server and the Neon emulator: all examples at once in shuffled
// order converge; Secrets match Neon; spec changes reach Neon with the fewest calls; drift made behind the
// operator's back is repaired on resync; deletion honours deletionPolicy; a Neon 4xx shows on the
// condition and backs off; `kubectl wait --for=condition=Ready` works on every kind.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useControlPlane } from '../../controlplane/e2e.ts';
import { CONNECTION_SECRET_KEYS, FINALIZER } from '../../../src/controllers/index.ts';
import { coreResources, type KubeObject } from '../../../src/runtime/index.ts';
import {
  eventually,
  exampleObjects,
  getSecretData,
  projectsInNeon,
  readyCondition,
  requestsSince,
  setUpSuite,
  typeOfKind,
  waitReady,
  type NeonObject,
  type Suite,
} from './fixture.ts';

const execFileAsync = promisify(execFile);

/** Deterministic shuffle (a fixed permutation that puts children before their parents). */
function shuffled<T>(items: T[], seed = 7): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe('operator: examples end to end', () => {
  let suite: Suite;
  const cp = useControlPlane();

  beforeAll(async () => {
    suite = await setUpSuite('op-life');
    await suite.startOperator({ resyncPeriodMs: 3_000 });
  });
  afterAll(async () => {
    await suite?.teardown();
  });

  it('all examples applied at once in shuffled order become Ready; Secrets match Neon', async () => {
    const objects = await exampleObjects(suite.namespace);
    const order = shuffled(objects);
    // Parents last, to be sure the order really is "wrong".
    order.sort((a, b) => (a.kind === 'NeonProject' ? 1 : 0) - (b.kind === 'NeonProject' ? 1 : 0));
    await Promise.all(order.map((o) => suite.kube.create(typeOfKind(o.kind), o)));

    // While the project is not there yet, a dependent says what it waits for.
    for (const o of objects) await waitReady(suite, o.kind ?? '', o.metadata?.name ?? '', 90_000);

    const projects = projectsInNeon(suite);
    expect(projects).toHaveLength(1);
    const project = projects[0]!;
    const dev = [...project.branches.values()].find((b) => b.name === 'dev');
    expect(dev).toBeDefined();
    expect([...project.branches.values()].filter((b) => b.name === 'dev')).toHaveLength(1);

    // The role's Secret: every key, and the password Neon has now.
    const role = dev!.roles.get('app');
    expect(role).toBeDefined();
    const secret = await getSecretData(suite, 'app-db');
    expect(Object.keys(secret ?? {}).sort()).toEqual([...CONNECTION_SECRET_KEYS].sort());
    const rw = [...project.endpoints.values()].find((e) => e.branchId === dev!.id && e.type === 'read_write');
    expect(rw).toBeDefined();
    const host = suite.emulator.state.host(rw!);
    expect(secret?.['password']).toBe(role!.password);
    expect(secret?.['host']).toBe(host);
    expect(secret?.['pooled-host']).toBe(suite.emulator.state.host(rw!, true));
    expect(secret?.['dbname']).toBe('app');
    expect(secret?.['username']).toBe('app');
    expect(secret?.['port']).toBe('5432');
    const uri = new URL(secret?.['uri'] ?? '');
    expect(decodeURIComponent(uri.password)).toBe(role!.password);
    expect(uri.hostname).toBe(host);
    expect(uri.searchParams.get('sslmode')).toBe('require');
    expect(new URL(secret?.['pooled-uri'] ?? '').hostname).toBe(suite.emulator.state.host(rw!, true));
    expect(secret?.['DATABASE_URL']).toBe(secret?.['uri']);
    expect(secret?.['jdbc-uri']).toMatch(/^jdbc:postgresql:\/\/.+:5432\/app\?user=app&password=.+&sslmode=require$/);
    expect(secret?.['pgpass']).toBe(`${host}:5432:app:app:${role!.password}\n`);
    expect(dev!.databases.get('app')?.ownerName).toBe('app');

    // The project's Secret, for its default role and database.
    const main = [...project.branches.values()].find((b) => b.isDefault);
    const projectSecret = await getSecretData(suite, 'demo-connection');
    const owner = main?.roles.get(projectSecret?.['username'] ?? '');
    expect(owner).toBeDefined();
    expect(projectSecret?.['password']).toBe(owner!.password);
    expect(projectSecret?.['dbname']).toBe('neondb');

    // Statuses carry the Neon IDs.
    const ep = await suite.kube.get<NeonObject>(typeOfKind('NeonEndpoint'), { namespace: suite.namespace, name: 'dev-rw' });
    expect(ep?.status).toMatchObject({ endpointId: rw!.id, host, poolerHost: suite.emulator.state.host(rw!, true) });
    const secretObj = await suite.kube.get(coreResources.secret, { namespace: suite.namespace, name: 'app-db' });
    expect(secretObj?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'NeonRole', name: 'app', controller: true });
    expect(secretObj?.metadata?.labels?.['neon-operator.dev/source-name']).toBe('app');
    expect(suite.emulator.specViolations()).toEqual([]);

    // The operator's metrics saw it: reconciles per kind and Neon requests.
    const metrics = await suite.operator!.metrics.registry.metrics();
    for (const kind of ['NeonProject', 'NeonBranch', 'NeonEndpoint', 'NeonRole', 'NeonDatabase']) {
      expect(metrics).toMatch(new RegExp(`neon_operator_reconcile_total\\{[^}]*kind="${kind}"[^}]*result="success"[^}]*\\} [1-9]`));
    }
    expect(metrics).toMatch(/neon_operator_neon_api_requests_total\{[^}]*\} [1-9]/);
  });

  it('kubectl wait --for=condition=Ready works on every kind', async () => {
    const cacheDir = join(cp.workDir, `kubectl-${suite.namespace}`);
    for (const resource of ['neonproject/demo', 'neonbranch/dev', 'neonendpoint/dev-rw', 'neonrole/app', 'neondatabase/app']) {
      const { stdout } = await execFileAsync('kubectl', [
        `--kubeconfig=${cp.kubeconfigPath}`,
        `--cache-dir=${cacheDir}`,
        '-n',
        suite.namespace,
        'wait',
        '--for=condition=Ready',
        '--timeout=60s',
        resource,
      ]);
      expect(stdout).toContain('condition met');
    }
  });

  it('spec changes reach Neon with one PATCH each; nothing else is mutated', async () => {
    const from = suite.emulator.requests.length;
    const endpointType = typeOfKind('NeonEndpoint');
    await suite.kube.patch(endpointType, { namespace: suite.namespace, name: 'dev-rw' }, { spec: { autoscaling: { minCu: 0.5, maxCu: 2 }, suspendTimeoutSeconds: 600 } }, { type: 'merge' });
    await suite.kube.patch(typeOfKind('NeonBranch'), { namespace: suite.namespace, name: 'dev' }, { spec: { protected: true } }, { type: 'merge' });
    await suite.kube.patch(
      typeOfKind('NeonProject'),
      { namespace: suite.namespace, name: 'demo' },
      { spec: { historyRetentionSeconds: 3600, settings: { allowedIps: { ips: ['10.0.0.0/8'] } } } },
      { type: 'merge' },
    );
    const ep = await waitReady(suite, 'NeonEndpoint', 'dev-rw');
    await waitReady(suite, 'NeonBranch', 'dev');
    await waitReady(suite, 'NeonProject', 'demo');
    const project = projectsInNeon(suite)[0]!;
    expect(project.historyRetentionSeconds).toBe(3600);
    expect(project.settings['allowed_ips']).toEqual({ ips: ['10.0.0.0/8'] });
    const endpointId = String(ep.status?.['endpointId']);
    const neonEp = suite.emulator.state.findEndpoint(endpointId);
    expect(neonEp).toMatchObject({ minCu: 0.5, maxCu: 2, suspendTimeoutSeconds: 600 });
    const dev = [...projectsInNeon(suite)[0]!.branches.values()].find((b) => b.name === 'dev');
    expect(dev?.protected).toBe(true);
    const mutations = requestsSince(suite, from).filter((r) => r.method !== 'GET');
    expect(mutations.filter((r) => r.route === 'PATCH /projects/{project_id}/endpoints/{endpoint_id}')).toHaveLength(1);
    expect(mutations.filter((r) => r.route === 'PATCH /projects/{project_id}/branches/{branch_id}')).toHaveLength(1);
    expect(mutations.filter((r) => r.route === 'PATCH /projects/{project_id}')).toHaveLength(1);
    expect(mutations.filter((r) => !r.route.startsWith('PATCH'))).toEqual([]);
  });

  it('a change made behind the operator\'s back is repaired on resync', async () => {
    const ep = await waitReady(suite, 'NeonEndpoint', 'dev-rw');
    const neonEp = suite.emulator.state.findEndpoint(String(ep.status?.['endpointId']));
    expect(neonEp).toBeDefined();
    neonEp!.maxCu = 4;
    neonEp!.suspendTimeoutSeconds = 60;
    await eventually('drift repaired', () =>
      neonEp!.maxCu === 2 && neonEp!.suspendTimeoutSeconds === 600 ? true : undefined, 30_000);
  });

  it('a role\'s password rotation (annotation) resets it in Neon and updates the Secret', async () => {
    const before = await getSecretData(suite, 'app-db');
    await suite.kube.patch(typeOfKind('NeonRole'), { namespace: suite.namespace, name: 'app' }, { metadata: { annotations: { 'neon-operator.dev/rotate-password': 'r1' } } }, { type: 'merge' });
    const role = await eventually('rotation recorded', async () => {
      const r = await suite.kube.get<NeonObject>(typeOfKind('NeonRole'), { namespace: suite.namespace, name: 'app' });
      return (r?.status?.['passwordRotation'] as { request?: string } | undefined)?.request === 'r1' ? r : undefined;
    });
    const branch = suite.emulator.state.findBranch(String(role.status?.['branchId']));
    const after = await getSecretData(suite, 'app-db');
    expect(after?.['password']).not.toBe(before?.['password']);
    expect(after?.['password']).toBe(branch?.roles.get('app')?.password);
  });

  it('a deleted Secret is written again with the valid password; a Secret owned by someone else is never taken over', async () => {
    await suite.kube.delete(coreResources.secret, { namespace: suite.namespace, name: 'app-db' });
    const role = await waitReady(suite, 'NeonRole', 'app');
    const password = suite.emulator.state.findBranch(String(role.status?.['branchId']))?.roles.get('app')?.password;
    await eventually('Secret rewritten', async () => ((await getSecretData(suite, 'app-db'))?.['password'] === password ? true : undefined));

    // A new Secret name: the Secret moves (the old one is deleted).
    await suite.kube.patch(typeOfKind('NeonRole'), { namespace: suite.namespace, name: 'app' }, { spec: { secret: { name: 'app-db-2' } } }, { type: 'merge' });
    await eventually('Secret moved', async () =>
      (await getSecretData(suite, 'app-db-2'))?.['password'] === password && !(await getSecretData(suite, 'app-db')) ? true : undefined);
    expect((await waitReady(suite, 'NeonRole', 'app')).status?.['secretName']).toBe('app-db-2');

    await suite.kube.create(coreResources.secret, { metadata: { name: 'taken', namespace: suite.namespace }, stringData: { mine: 'yes' } } as KubeObject);
    await suite.kube.create(typeOfKind('NeonRole'), {
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind: 'NeonRole',
      metadata: { name: 'squatter', namespace: suite.namespace },
      spec: { projectRef: { name: 'demo' }, databaseName: 'neondb', secret: { name: 'taken' } },
    } as NeonObject);
    const conflict = await eventually('SecretConflict', async () => {
      const c = readyCondition(await suite.kube.get<NeonObject>(typeOfKind('NeonRole'), { namespace: suite.namespace, name: 'squatter' }));
      return c?.reason === 'SecretConflict' ? c : undefined;
    });
    expect(conflict.message).toContain('taken');
    expect(await getSecretData(suite, 'taken')).toEqual({ mine: 'yes' });
    const main = [...projectsInNeon(suite)[0]!.branches.values()].find((b) => b.isDefault);
    expect(main?.roles.has('squatter')).toBe(false);
    await suite.kube.delete(typeOfKind('NeonRole'), { namespace: suite.namespace, name: 'squatter' });
  });

  it('a Neon 4xx shows on the condition, is not retried in a hot loop, and nothing is deleted', async () => {
    // A role name Neon protects (pg_…): the create answers 400 every time.
    const name = 'bad-role';
    await suite.kube.create(typeOfKind('NeonRole'), {
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind: 'NeonRole',
      metadata: { name, namespace: suite.namespace },
      spec: { projectRef: { name: 'demo' }, name: 'pg_reserved', databaseName: 'neondb' },
    } as NeonObject);
    const failed = await eventually('Ready=False from Neon', async () => {
      const b = await suite.kube.get<NeonObject>(typeOfKind('NeonRole'), { namespace: suite.namespace, name });
      const ready = readyCondition(b);
      return ready?.status === 'False' && ready.reason === 'NeonRejected' ? ready : undefined;
    });
    expect(failed.message).toMatch(/HTTP 400.*protected/);
    const creates = () => suite.emulator.requests.filter((r) => r.route === 'POST /projects/{project_id}/branches/{branch_id}/roles' && r.status >= 400).length;
    const first = creates();
    await new Promise((r) => setTimeout(r, 6_000));
    // Backoff 1s, 2s, 4s, ...: at most a handful of attempts in six seconds, never a hot loop.
    expect(creates() - first).toBeLessThanOrEqual(4);
    await suite.kube.delete(typeOfKind('NeonRole'), { namespace: suite.namespace, name });
    await eventually('bad role gone', async () =>
      (await suite.kube.get(typeOfKind('NeonRole'), { namespace: suite.namespace, name })) ? undefined : true);
  });

  it('delete: Delete removes Neon resources, Retain keeps them; a namespace deletion cleans up', async () => {
    // A read_only endpoint with Retain: kept in Neon when its object goes.
    await suite.kube.create(typeOfKind('NeonEndpoint'), {
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind: 'NeonEndpoint',
      metadata: { name: 'dev-ro', namespace: suite.namespace },
      spec: { branchRef: { name: 'dev' }, type: 'read_only', deletionPolicy: 'Retain' },
    } as NeonObject);
    const ro = await waitReady(suite, 'NeonEndpoint', 'dev-ro');
    const roId = String(ro.status?.['endpointId']);
    await suite.kube.delete(typeOfKind('NeonEndpoint'), { namespace: suite.namespace, name: 'dev-ro' });
    await eventually('dev-ro object gone', async () =>
      (await suite.kube.get(typeOfKind('NeonEndpoint'), { namespace: suite.namespace, name: 'dev-ro' })) ? undefined : true);
    expect(suite.emulator.state.findEndpoint(roId)).toBeDefined();

    // The database (Delete): gone from Neon.
    const db = await waitReady(suite, 'NeonDatabase', 'app');
    const branchId = String(db.status?.['branchId']);
    await suite.kube.delete(typeOfKind('NeonDatabase'), { namespace: suite.namespace, name: 'app' });
    await eventually('database dropped in Neon', () => (suite.emulator.state.findBranch(branchId)?.databases.has('app') ? undefined : true));

    // The namespace: every object's finalizer cleans up; the project (deletionPolicy Delete) goes.
    const projectId = projectsInNeon(suite)[0]?.id;
    expect(projectId).toBeDefined();
    const remaining = await suite.kube.list<NeonObject>(typeOfKind('NeonBranch'), suite.namespace);
    expect(remaining.items.every((o) => o.metadata?.finalizers?.includes(FINALIZER))).toBe(true);
    await suite.kube.delete(coreResources.namespace, { namespace: '', name: suite.namespace });
    await eventually('project deleted in Neon', () => (projectsInNeon(suite).length === 0 ? true : undefined), 60_000);
    for (const kind of ['NeonProject', 'NeonBranch', 'NeonEndpoint', 'NeonRole']) {
      await eventually(`${kind} objects gone`, async () => ((await suite.kube.list(typeOfKind(kind), suite.namespace)).items.length === 0 ? true : undefined), 60_000);
    }
    expect(suite.emulator.specViolations()).toEqual([]);
  });
});
