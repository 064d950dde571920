// Several Neon accounts in one cluster (apiKeySecretRef): cleanup after a restart finds the right account
// from the object's status; a changed key Secret is picked up at once (watched), not on the next requeue;
// and a NeonEndpoint's state follows Neon once the operations a change started are done.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coreResources, type KubeObject } from '../../../src/runtime/index.ts';
import { API_KEY, eventually, readyCondition, requestsSince, setUpSuite, typeOfKind, waitIdle, waitReady, type NeonObject, type Suite } from './fixture.ts';

const SECOND_KEY = 'second-account-key-0123456789';
/** A key Neon does not accept (HTTP 401): what a revoked or mistyped key looks like. */
const REVOKED_KEY = 'revoked-account-key-0123456789';

describe('operator: Neon accounts and status freshness', () => {
  let suite: Suite;
  const get = (kind: string, name: string) => suite.kube.get<NeonObject>(typeOfKind(kind), { namespace: suite.namespace, name });
  const create = (kind: string, name: string, spec: Record<string, unknown>) =>
    suite.kube.create(typeOfKind(kind), {
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind,
      metadata: { name, namespace: suite.namespace },
      spec,
    } as NeonObject);
  const gone = (kind: string, name: string) => eventually(`${kind} ${name} gone`, async () => ((await get(kind, name)) ? undefined : true));
  const secondAccount = () => suite.emulator.state.projectsOf(suite.emulator.accountOf(SECOND_KEY));
  const putKey = (name: string, value: string) =>
    suite.kube.patch(coreResources.secret, { namespace: suite.namespace, name }, { stringData: { 'api-key': value } }, { type: 'merge' });

  beforeAll(async () => {
    // Only these keys are accepted; any other answers 401.
    suite = await setUpSuite('op-accounts', { apiKeys: [API_KEY, SECOND_KEY] });
    await suite.startOperator();
  });
  afterAll(async () => {
    await suite?.teardown();
  });

  it('after a restart, deleting a branch whose NeonProject (other account, Retain) is gone deletes it in that account', async () => {
    await suite.kube.create(coreResources.secret, {
      metadata: { name: 'second-key', namespace: suite.namespace },
      stringData: { 'api-key': SECOND_KEY },
    } as KubeObject);
    await create('NeonProject', 'second', { apiKeySecretRef: { name: 'second-key' } });
    await create('NeonBranch', 'second-dev', { projectRef: { name: 'second' }, deletionPolicy: 'Delete' });
    const branch = await waitReady(suite, 'NeonBranch', 'second-dev');
    const branchId = String(branch.status?.['branchId']);
    // The account is recorded as a reference to the Secret, never the key.
    expect(branch.status?.['apiKeySecretRef']).toEqual({ name: 'second-key', key: 'api-key' });
    expect(JSON.stringify(branch.status)).not.toContain(SECOND_KEY);
    const project = secondAccount()[0];
    expect(project?.branches.has(branchId)).toBe(true);

    // The NeonProject object goes while no operator runs (Retain: the project stays in Neon); the operator
    // that comes back has never seen it.
    await suite.stopOperator();
    await suite.kube.delete(typeOfKind('NeonProject'), { namespace: suite.namespace, name: 'second' });
    await suite.kube.patch(typeOfKind('NeonProject'), { namespace: suite.namespace, name: 'second' }, { metadata: { finalizers: null } }, { type: 'merge' });
    await gone('NeonProject', 'second');
    await suite.startOperator();

    await suite.kube.delete(typeOfKind('NeonBranch'), { namespace: suite.namespace, name: 'second-dev' });
    await gone('NeonBranch', 'second-dev');
    expect(project?.branches.has(branchId)).toBe(false);
    expect(secondAccount()).toHaveLength(1); // the project itself was retained
  });

  it('when the recorded key Secret is gone too, deletion waits (ApiKeySecretNotFound) and resumes when it is back', async () => {
    await suite.kube.create(coreResources.secret, {
      metadata: { name: 'lost-key', namespace: suite.namespace },
      stringData: { 'api-key': SECOND_KEY },
    } as KubeObject);
    await create('NeonProject', 'lost', { apiKeySecretRef: { name: 'lost-key' } });
    await create('NeonBranch', 'lost-dev', { projectRef: { name: 'lost' }, deletionPolicy: 'Delete' });
    const branchId = String((await waitReady(suite, 'NeonBranch', 'lost-dev')).status?.['branchId']);
    const project = secondAccount().find((p) => p.branches.has(branchId));
    expect(project).toBeDefined();
    await suite.kube.delete(typeOfKind('NeonProject'), { namespace: suite.namespace, name: 'lost' });
    await gone('NeonProject', 'lost');
    await suite.kube.delete(coreResources.secret, { namespace: suite.namespace, name: 'lost-key' });
    // A fresh process: no client for that Secret is left in memory. Its waiting requeue is far away, so
    // only the watch on the Secret can bring the branch back.
    await suite.stopOperator();
    await suite.startOperator({ waitingRequeueMs: 10 * 60_000 });

    await suite.kube.delete(typeOfKind('NeonBranch'), { namespace: suite.namespace, name: 'lost-dev' });
    const waiting = await eventually('branch waiting for its key', async () => {
      const c = readyCondition(await get('NeonBranch', 'lost-dev'));
      return c?.reason === 'ApiKeySecretNotFound' ? c : undefined;
    });
    expect(waiting.message).toContain('lost-key');
    expect(project?.branches.has(branchId)).toBe(true); // not taken for gone through the operator's own key

    // The Secret is back: the watch requeues the branch (its status names it) and it is deleted in Neon.
    await suite.kube.create(coreResources.secret, {
      metadata: { name: 'lost-key', namespace: suite.namespace },
      stringData: { 'api-key': SECOND_KEY },
    } as KubeObject);
    await gone('NeonBranch', 'lost-dev');
    expect(project?.branches.has(branchId)).toBe(false);
  });

  // Nothing else would reconcile these objects for 10 minutes (resync) while they are Ready, so each
  // change seen below within a minute comes from the watch on the Secret.
  it('a key rotated in its Secret is used at once: a key without access shows NeonUnauthorized, the good one Ready again', async () => {
    await suite.kube.create(coreResources.secret, {
      metadata: { name: 'rotating-key', namespace: suite.namespace },
      stringData: { 'api-key': SECOND_KEY },
    } as KubeObject);
    await create('NeonProject', 'rotating', { apiKeySecretRef: { name: 'rotating-key' }, deletionPolicy: 'Delete' });
    const project = await waitReady(suite, 'NeonProject', 'rotating');
    const projectId = String(project.status?.['projectId']);
    await create('NeonBranch', 'rotating-own', { projectId, apiKeySecretRef: { name: 'rotating-key' } });
    await waitReady(suite, 'NeonBranch', 'rotating-own');

    await putKey('rotating-key', REVOKED_KEY);
    for (const [kind, name] of [['NeonProject', 'rotating'], ['NeonBranch', 'rotating-own']] as const) {
      // The resources in Neon are as usable as before (Ready stays True); the operator can no longer manage them.
      const refused = await eventually(`${kind} ${name} NeonUnauthorized`, async () => {
        const c = (await get(kind, name))?.status?.conditions?.find((x) => x.type === 'Synced');
        return c?.reason === 'NeonUnauthorized' ? c : undefined;
      });
      expect(refused.status).toBe('False');
      expect(refused.message).not.toContain(REVOKED_KEY);
      expect(readyCondition(await get(kind, name))?.status).toBe('True');
    }

    await putKey('rotating-key', SECOND_KEY);
    await waitReady(suite, 'NeonProject', 'rotating');
    await waitReady(suite, 'NeonBranch', 'rotating-own');
    expect(readyCondition(await get('NeonProject', 'rotating'))?.reason).toBe('Ready');
  });

  it("a change that suspends a compute shows in status.state once Neon's operations are done, without reading the compute", async () => {
    await create('NeonProject', 'states', { deletionPolicy: 'Delete' });
    await create('NeonEndpoint', 'states-ro', { projectRef: { name: 'states' }, type: 'read_only' });
    const created = await waitReady(suite, 'NeonEndpoint', 'states-ro');
    // The create waited for start_compute: the state is Neon's state after it, not the create answer's.
    expect(created.status?.['state']).toBe('active');

    // The project's own follow-up passes (its Secret written, its status) are over before the change.
    await waitIdle(suite);
    const from = suite.emulator.requests.length;
    await suite.kube.patch(typeOfKind('NeonEndpoint'), { namespace: suite.namespace, name: 'states-ro' }, { spec: { disabled: true } }, { type: 'merge' });
    const idle = await eventually('endpoint idle in status', async () => {
      const e = await get('NeonEndpoint', 'states-ro');
      return e?.status?.['state'] === 'idle' && readyCondition(e)?.observedGeneration === e.metadata?.generation ? e : undefined;
    });
    expect(idle.status?.['state']).toBe('idle');
    const calls = requestsSince(suite, from).map((r) => r.route);
    const count = (route: string) => calls.filter((c) => c === route).length;
    // One PATCH and the operations polled until done (shared per project). Nothing is read: the project view
    // holds the compute since its create, takes the PATCH's answer, and settles its state when the operations end.
    expect(count('PATCH /projects/{project_id}/endpoints/{endpoint_id}')).toBe(1);
    const polls = count('GET /projects/{project_id}/operations');
    expect(polls).toBeGreaterThanOrEqual(1);
    expect(polls).toBeLessThanOrEqual(5);
    expect(calls.length, calls.join(', ')).toBe(1 + polls); // nothing else, and no polling of the compute itself
    expect(suite.emulator.specViolations()).toEqual([]);
  });
});
