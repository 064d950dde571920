// Drift with the project view in place: a Ready fleet that nothing changes costs only the project-level reads
// (branches, computes, one page of operations) per view max age, never a branch's role or database list, a
// password reveal or a mutation; and a change made through Neon's API outside the operator (a database
// dropped, a password reset) is repaired within one resync period, because the operation Neon starts for it
// shows in that page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../../emulator/raw-client.ts';
import { coreResources, type KubeObject } from '../../../src/runtime/index.ts';
import { API_KEY, eventually, getSecretData, requestsSince, setUpSuite, typeOfKind, waitReady, type NeonObject, type Suite } from './fixture.ts';

const apiVersion = 'neon-operator.dev/v1alpha1';
const RESYNC_MS = 20_000;
const GROUPS = 2;

describe('operator: drift repaired with the project view', () => {
  let suite: Suite;

  beforeAll(async () => {
    suite = await setUpSuite('op-drift');
    // The view's max age is 9/10 of the period: 18 s. One worker per kind: the objects of a kind that read the
    // same project list at once outnumber the workers, as a large fleet's do after a restart or a drift.
    await suite.startOperator({ resyncPeriodMs: RESYNC_MS, resyncJitter: 0, concurrency: 1 });
  });
  afterAll(async () => {
    await suite?.teardown();
  });

  const create = (kind: string, name: string, spec: Record<string, unknown>) =>
    suite.kube.create(typeOfKind(kind), { apiVersion, kind, metadata: { name, namespace: suite.namespace }, spec } as NeonObject);

  it('a quiet Ready fleet reads no role or database list; a database dropped and a password reset in Neon are repaired within one resync period', async () => {
    await create('NeonProject', 'shop', { regionId: 'aws-us-east-2', pgVersion: 17 });
    for (let g = 0; g < GROUPS; g++) {
      const branchRef = { name: `b-${String(g)}` };
      await create('NeonBranch', `b-${String(g)}`, { projectRef: { name: 'shop' } });
      await create('NeonEndpoint', `e-${String(g)}`, { branchRef, type: 'read_write' });
      await create('NeonDatabase', `d-${String(g)}`, { branchRef, name: 'app', ownerRef: { name: `r-${String(g)}` } });
      await create('NeonRole', `r-${String(g)}`, { branchRef, name: 'app', secret: { name: `s-${String(g)}` }, endpointRef: { name: `e-${String(g)}` }, databaseRef: { name: `d-${String(g)}` } });
    }
    const roles: NeonObject[] = [];
    for (let g = 0; g < GROUPS; g++) {
      await waitReady(suite, 'NeonDatabase', `d-${String(g)}`);
      roles.push(await waitReady(suite, 'NeonRole', `r-${String(g)}`));
    }
    const projectId = String(roles[0]?.status?.['projectId']);

    // Two resync periods of a quiet fleet: every object is looked at twice, and reads only project-level lists.
    const quietFrom = suite.emulator.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 2 * RESYNC_MS));
    const quiet = requestsSince(suite, quietFrom);
    const routes = new Set(quiet.map((r) => r.route));
    const projectLevel = ['GET /projects/{project_id}', 'GET /projects/{project_id}/branches', 'GET /projects/{project_id}/endpoints', 'GET /projects/{project_id}/operations'];
    expect([...routes].filter((r) => !projectLevel.includes(r))).toEqual([]);
    expect(quiet.filter((r) => r.route.includes('/roles') || r.route.includes('/databases'))).toEqual([]);
    // About one read of each per max age (18 s) over 40 s; never one per object.
    for (const route of projectLevel) expect(quiet.filter((r) => r.route === route).length, route).toBeLessThanOrEqual(3);

    // Drift through Neon's API, as the console or another tool would make it.
    const raw = new RawClient(suite.emulator.url, API_KEY);
    // Neon answers 423 while the project's previous operation runs; a client retries it.
    const neon = { call: (method: string, path: string) => eventually(`${method} ${path} past 423`, async () => {
      const answer = await raw.call(method, path);
      return answer.status === 423 ? undefined : answer;
    }, 30_000, 200) };
    const branch0 = String(roles[0]?.status?.['branchId']);
    const branch1 = String(roles[1]?.status?.['branchId']);
    const dropped = await neon.call('DELETE', `/projects/${projectId}/branches/${branch0}/databases/app`);
    expect(dropped.status).toBe(200);
    const reset = await neon.call('POST', `/projects/${projectId}/branches/${branch1}/roles/app/reset_password`);
    expect(reset.status).toBe(200);
    const newPassword = String(reset.body.role.password);
    const driftAt = Date.now();

    await eventually('database app recreated on b-0', () => (suite.emulator.state.findBranch(branch0)?.databases.has('app') ? true : undefined), RESYNC_MS + 10_000);
    await eventually('Secret s-1 holds the password reset in Neon', async () => ((await getSecretData(suite, 's-1'))?.['password'] === newPassword ? true : undefined), RESYNC_MS + 10_000);
    const repairedAfterMs = Date.now() - driftAt;
    expect(repairedAfterMs).toBeLessThanOrEqual(RESYNC_MS + 10_000);
    expect(suite.emulator.state.findBranch(branch0)?.databases.get('app')?.ownerName).toBe('app');
    await waitReady(suite, 'NeonDatabase', 'd-0');
    await waitReady(suite, 'NeonRole', 'r-1');
  }, 180_000);

  it('a restarted operator starts from the view\'s checkpoint: its first resync period reads no role or database list', async () => {
    await suite.stopOperator();
    const checkpoint = await suite.kube.get<KubeObject & { binaryData?: Record<string, string> }>(coreResources.configMap, {
      namespace: 'default',
      name: `neon-operator-leader-${suite.namespace}-neon-view`,
    });
    expect(Object.keys(checkpoint?.binaryData ?? {})).toHaveLength(1);
    // A change made while the operator was down is served after the restart (and costs its one PATCH).
    const changed = await suite.kube.patch<NeonObject>(typeOfKind('NeonBranch'), { namespace: suite.namespace, name: 'b-1' }, { spec: { protected: true } }, { type: 'merge' });
    const from = suite.emulator.requests.length;
    await suite.startOperator({ resyncPeriodMs: RESYNC_MS, resyncJitter: 0, concurrency: 1 });
    await eventually('NeonBranch b-1 Ready at its new generation', async () => {
      const b = await suite.kube.get<NeonObject>(typeOfKind('NeonBranch'), { namespace: suite.namespace, name: 'b-1' });
      const ready = b?.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && ready.observedGeneration === changed.metadata?.generation ? true : undefined;
    }, RESYNC_MS);
    await new Promise((resolve) => setTimeout(resolve, RESYNC_MS + 2_000));
    const sent = requestsSince(suite, from);
    expect(sent.filter((r) => r.route.includes('/roles') || r.route.includes('/databases'))).toEqual([]);
    expect(sent.filter((r) => r.method !== 'GET').map((r) => r.route)).toEqual(['PATCH /projects/{project_id}/branches/{branch_id}']);
    for (let g = 0; g < GROUPS; g++) {
      await waitReady(suite, 'NeonRole', `r-${String(g)}`);
      await waitReady(suite, 'NeonDatabase', `d-${String(g)}`);
    }
  }, 120_000);
});
