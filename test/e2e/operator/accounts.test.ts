// Several Neon accounts in one cluster (apiKeySecretRef): cleanup after a restart finds the right account
// from the object's status; a changed key Secret is picked up at once (watched), not on the next requeue;
// and a NeonEndpoint's state follows Neon once the operations a change started are done.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coreResources, type KubeObject } from '../../../src/runtime/index.ts';
import { API_KEY, eventually, readyCondition, requestsSince, setUpSuite, typeOfKind, waitReady, type NeonObject, type Suite } from './fixture.ts';

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
});
