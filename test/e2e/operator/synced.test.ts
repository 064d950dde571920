// Ready and Synced: a change Neon refuses on a working project (a history window above the account's plan, which
// no CRD can know) makes the project Synced=False with Neon's reason while it stays Ready=True, so a branch created
// under it meanwhile becomes Ready; once Neon accepts the change, Synced is True again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, projectsInNeon, setUpSuite, typeOfKind, waitReady, type NeonObject, type Suite } from './fixture.ts';

const apiVersion = 'neon-operator.dev/v1alpha1';

const condition = (obj: NeonObject | undefined, type: string) => obj?.status?.conditions?.find((c) => c.type === type);

describe('operator: Ready and Synced', () => {
  let suite: Suite;

  beforeAll(async () => {
    suite = await setUpSuite('op-synced');
    await suite.startOperator();
  });
  afterAll(async () => {
    await suite?.teardown();
  });

  const get = (kind: string, name: string) => suite.kube.get<NeonObject>(typeOfKind(kind), { namespace: suite.namespace, name });

  it('a refused change: project Ready=True and Synced=False NeonRejected, a branch under it still becomes Ready', async () => {
    await suite.kube.create(typeOfKind('NeonProject'), {
      apiVersion,
      kind: 'NeonProject',
      metadata: { name: 'shop', namespace: suite.namespace },
      spec: { historyRetentionSeconds: 3600 },
    } as NeonObject);
    const ready = await waitReady(suite, 'NeonProject', 'shop');
    expect(condition(ready, 'Synced')).toMatchObject({ status: 'True', reason: 'ReconcileSuccess' });
    const projectId = String(ready.status?.['projectId']);

    // The account is on the free plan now: a one-day history window is more than it allows.
    suite.emulator.state.plan = 'free';
    await suite.kube.patch(typeOfKind('NeonProject'), { namespace: suite.namespace, name: 'shop' }, { spec: { historyRetentionSeconds: 86400 } }, { type: 'merge' });
    const refused = await eventually('NeonProject shop Synced=False', async () => {
      const p = await get('NeonProject', 'shop');
      const synced = condition(p, 'Synced');
      return synced?.status === 'False' && synced.observedGeneration === p?.metadata?.generation ? p : undefined;
    });
    expect(condition(refused, 'Synced')?.reason).toBe('NeonRejected');
    expect(condition(refused, 'Synced')?.message).toMatch(/PATCH \/projects\/\{project_id\} \(HTTP 400\): history_retention_seconds: 86400 exceeds the free plan's maximum/);
    // Still usable, for the spec it now has: dependents read Ready at the current generation.
    expect(condition(refused, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready', observedGeneration: refused.metadata?.generation });
    expect(projectsInNeon(suite).find((p) => p.id === projectId)?.historyRetentionSeconds).toBe(3600);

    await suite.kube.create(typeOfKind('NeonBranch'), {
      apiVersion,
      kind: 'NeonBranch',
      metadata: { name: 'feature', namespace: suite.namespace },
      spec: { projectRef: { name: 'shop' } },
    } as NeonObject);
    const branch = await waitReady(suite, 'NeonBranch', 'feature');
    expect(branch.status?.['projectId']).toBe(projectId);
    expect(condition(await get('NeonProject', 'shop'), 'Synced')).toMatchObject({ status: 'False', reason: 'NeonRejected' });

    // The plan allows it again: the retry (with backoff) applies it.
    suite.emulator.state.plan = 'scale';
    await eventually('NeonProject shop Synced=True', async () => (condition(await get('NeonProject', 'shop'), 'Synced')?.status === 'True' ? true : undefined), 120_000);
    expect(projectsInNeon(suite).find((p) => p.id === projectId)?.historyRetentionSeconds).toBe(86400);
  }, 240_000);
});
