// Tenant boundaries between namespaces that share one operator (and its Neon key): a namespace reaches only
// the projects its own NeonProjects created, an account it names itself, or what the operator's allow-list
// grants it; adopting never implies deleting; and an account named in status is never another namespace's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { coreResources, type KubeObject } from '../../../src/runtime/index.ts';
import { API_KEY, eventually, getSecretData, readyCondition, setUpSuite, typeOfKind, waitIdle, type NeonObject, type Suite } from './fixture.ts';

const SECOND_KEY = 'second-account-key-0123456789';

interface EventObject extends KubeObject {
  reason?: string;
  type?: string;
  note?: string;
  regarding?: { name?: string };
}

describe('operator: tenant boundaries between namespaces', () => {
  let suite: Suite;
  let teamA: string;
  let teamB: string;
  /** A project made directly in Neon with the operator's key, allowed for team-b only. */
  let sharedId: string;
  /** A project of the second account (team-b's own key). */
  let ownId: string;

  const get = (ns: string, kind: string, name: string) => suite.kube.get<NeonObject>(typeOfKind(kind), { namespace: ns, name });
  const create = (ns: string, kind: string, name: string, spec: Record<string, unknown>) =>
    suite.kube.create(typeOfKind(kind), { apiVersion: 'neon-operator.dev/v1alpha1', kind, metadata: { name, namespace: ns }, spec } as NeonObject);
  const remove = async (ns: string, kind: string, name: string) => {
    await suite.kube.delete(typeOfKind(kind), { namespace: ns, name });
    await eventually(`${kind} ${ns}/${name} gone`, async () => ((await get(ns, kind, name)) ? undefined : true));
  };
  const waitReadyIn = (ns: string, kind: string, name: string) =>
    eventually(`${kind} ${ns}/${name} Ready`, async () => {
      const obj = await get(ns, kind, name);
      const c = readyCondition(obj);
      return c?.status === 'True' && c.observedGeneration === obj?.metadata?.generation ? obj : undefined;
    });
  const waitReason = (ns: string, kind: string, name: string, reason: string) =>
    eventually(`${kind} ${ns}/${name} ${reason}`, async () => {
      const c = readyCondition(await get(ns, kind, name));
      return c?.status === 'False' && c.reason === reason ? c : undefined;
    });
  const events = async (ns: string, name: string, reason: string) =>
    (await suite.kube.list<EventObject>(coreResources.event, ns)).items.filter((e) => e.reason === reason && e.regarding?.name === name);
  const neonProject = (id: string) => suite.emulator.state.projects.get(id);
  const defaultBranchOf = (id: string) => [...(neonProject(id)?.branches.values() ?? [])].find((b) => b.isDefault);
  const createInNeon = async (apiKey: string, name: string) => {
    const res = await fetch(`${suite.emulator.url}/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ project: { name } }),
    });
    expect(res.status).toBe(201);
    return z.object({ project: z.object({ id: z.string() }) }).parse(await res.json()).project.id;
  };

  beforeAll(async () => {
    suite = await setUpSuite('op-team-a', { apiKeys: [API_KEY, SECOND_KEY] });
    teamA = suite.namespace;
    teamB = `${teamA.replace('op-team-a', 'op-team-b')}`;
    await suite.kube.create(coreResources.namespace, { metadata: { name: teamB } });
    sharedId = await createInNeon(API_KEY, 'keep-my-name');
    ownId = await createInNeon(SECOND_KEY, 'team-b-own');
    await suite.kube.create(coreResources.secret, { metadata: { name: 'team-b-key', namespace: teamB }, stringData: { 'api-key': SECOND_KEY } } as KubeObject);
    await suite.startOperator({ namespaces: [teamA, teamB], allowedProjects: [{ namespace: teamB, projectId: sharedId }] });
    await create(teamA, 'NeonProject', 'a', {});
    await waitReadyIn(teamA, 'NeonProject', 'a');
  });
  afterAll(async () => {
    await suite?.teardown();
  });

  it("another namespace cannot use a project by ID with the operator's key: no branch, no Secret, no deletion, no Neon call", async () => {
    const a = await get(teamA, 'NeonProject', 'a');
    const projectId = String(a?.status?.['projectId']);
    const branchId = String(a?.status?.['defaultBranchId']);
    const roleName = String(a?.status?.['defaultRoleName']);
    const databaseName = String(a?.status?.['defaultDatabaseName']);
    // team-a's own passes are over (no request for a second) before team-b's objects arrive.
    await waitIdle(suite);
    const requestsBefore = suite.emulator.requests.length;
    const touchesA = () => suite.emulator.requests.slice(requestsBefore).filter((r) => r.path.includes(projectId));

    await create(teamB, 'NeonBranch', 'intruder', { projectId });
    await create(teamB, 'NeonProject', 'intruder', { projectId });
    await create(teamB, 'NeonRole', 'owner', { projectId, branchId, name: roleName, databaseName });
    await create(teamB, 'NeonDatabase', 'db', { projectId, branchId, name: databaseName, ownerName: roleName });
    for (const kind of ['NeonBranch', 'NeonProject']) {
      const c = await waitReason(teamB, kind, 'intruder', 'ProjectNotAllowed');
      expect(c.message).toContain(`not reachable from namespace ${teamB}`);
    }
    await waitReason(teamB, 'NeonRole', 'owner', 'ProjectNotAllowed');
    await waitReason(teamB, 'NeonDatabase', 'db', 'ProjectNotAllowed');

    expect([...(neonProject(projectId)?.branches.values() ?? [])].map((b) => b.name)).toEqual([defaultBranchOf(projectId)?.name]);
    expect(await getSecretData({ ...suite, namespace: teamB }, 'intruder-connection')).toBeUndefined();
    expect(await getSecretData({ ...suite, namespace: teamB }, 'owner-connection')).toBeUndefined();

    await remove(teamB, 'NeonDatabase', 'db');
    await remove(teamB, 'NeonRole', 'owner');
    await remove(teamB, 'NeonBranch', 'intruder');
    await remove(teamB, 'NeonProject', 'intruder');
    expect(defaultBranchOf(projectId)?.databases.has(databaseName)).toBe(true);
    expect(defaultBranchOf(projectId)?.roles.has(roleName)).toBe(true);
    expect(touchesA()).toEqual([]);
    expect(readyCondition(await get(teamA, 'NeonProject', 'a'))?.status).toBe('True');
  });

  it("a namespace reaches its own account's projects, and the operator's allow-list grants exactly what it names", async () => {
    await create(teamB, 'NeonBranch', 'own', { projectId: ownId, apiKeySecretRef: { name: 'team-b-key' } });
    await create(teamB, 'NeonBranch', 'shared', { projectId: sharedId });
    await create(teamA, 'NeonBranch', 'shared', { projectId: sharedId });
    await waitReadyIn(teamB, 'NeonBranch', 'own');
    await waitReadyIn(teamB, 'NeonBranch', 'shared');
    await waitReason(teamA, 'NeonBranch', 'shared', 'ProjectNotAllowed');
    expect([...(neonProject(sharedId)?.branches.values() ?? [])].filter((b) => b.name === 'shared')).toHaveLength(1);
    await remove(teamA, 'NeonBranch', 'shared');
    await remove(teamB, 'NeonBranch', 'shared');
    await remove(teamB, 'NeonBranch', 'own');
    expect([...(neonProject(sharedId)?.branches.values() ?? [])].map((b) => b.name)).not.toContain('shared');
  });

  it('adopting never implies deleting: the default role and database stay, an adopted project keeps its name', async () => {
    const a = await get(teamA, 'NeonProject', 'a');
    const projectId = String(a?.status?.['projectId']);
    const roleName = String(a?.status?.['defaultRoleName']);
    const databaseName = String(a?.status?.['defaultDatabaseName']);
    await create(teamA, 'NeonRole', 'default-owner', { projectRef: { name: 'a' }, name: roleName, databaseName });
    await create(teamA, 'NeonDatabase', 'default-db', { projectRef: { name: 'a' }, name: databaseName, ownerName: roleName });
    await create(teamA, 'NeonRole', 'app', { projectRef: { name: 'a' }, databaseName });
    for (const [kind, name] of [['NeonRole', 'default-owner'], ['NeonDatabase', 'default-db']] as const) {
      const obj = await waitReadyIn(teamA, kind, name);
      expect(obj?.status?.['origin']).toBe('Adopted');
      const adopted = await eventually(`Adopted event of ${name}`, async () => (await events(teamA, name, 'Adopted'))[0]);
      expect(adopted.note).toContain('leaves it in Neon');
    }
    expect((await waitReadyIn(teamA, 'NeonRole', 'app'))?.status?.['origin']).toBe('Created');

    await remove(teamA, 'NeonDatabase', 'default-db');
    await remove(teamA, 'NeonRole', 'default-owner');
    await remove(teamA, 'NeonRole', 'app');
    const main = defaultBranchOf(projectId);
    expect(main?.roles.has(roleName)).toBe(true);
    expect(main?.databases.has(databaseName)).toBe(true);
    expect(main?.roles.has('app')).toBe(false); // what the object created is still deleted (deletionPolicy Delete)
    expect(await events(teamA, 'default-db', 'Retained')).toHaveLength(1);

    // With ownAdopted the user says the adopted database is the object's own: deletion removes it.
    const made = await fetch(`${suite.emulator.url}/projects/${projectId}/branches/${main?.id ?? ''}/databases`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ database: { name: 'extra', owner_name: roleName } }),
    });
    expect(made.status).toBe(201);
    await create(teamA, 'NeonDatabase', 'extra', { projectRef: { name: 'a' }, ownerName: roleName, ownAdopted: true });
    expect((await waitReadyIn(teamA, 'NeonDatabase', 'extra'))?.status?.['origin']).toBe('Adopted');
    await remove(teamA, 'NeonDatabase', 'extra');
    expect(main?.databases.has('extra')).toBe(false);

    // Adopting a project by ID (allowed for team-b) manages only what the spec sets: no rename to metadata.name.
    await create(teamB, 'NeonProject', 'adopted-shared', { projectId: sharedId });
    const adopted = await waitReadyIn(teamB, 'NeonProject', 'adopted-shared');
    expect(adopted?.status?.['origin']).toBe('Adopted');
    expect(neonProject(sharedId)?.name).toBe('keep-my-name');
  });

  it("an account named in status is never another namespace's key: deletion ignores it (Warning) and deletes nothing there", async () => {
    await suite.kube.create(coreResources.secret, { metadata: { name: 'a-key', namespace: teamA }, stringData: { 'api-key': SECOND_KEY } } as KubeObject);
    await create(teamA, 'NeonProject', 'a2', { apiKeySecretRef: { name: 'a-key' } });
    await create(teamA, 'NeonBranch', 'a2-dev', { projectRef: { name: 'a2' } });
    const dev = await waitReadyIn(teamA, 'NeonBranch', 'a2-dev');
    const projectId = String(dev?.status?.['projectId']);
    const branchId = String(dev?.status?.['branchId']);

    // team-b's object waits for a NeonProject that does not exist, holding the operator's finalizer; then
    // someone who may write its status points it at team-a's branch and key.
    await create(teamB, 'NeonBranch', 'forged', { projectRef: { name: 'missing' } });
    const forged = await waitReason(teamB, 'NeonBranch', 'forged', 'ProjectNotReady');
    expect(forged).toBeDefined();
    const current = await get(teamB, 'NeonBranch', 'forged');
    await suite.kube.patch(
      typeOfKind('NeonBranch'),
      { namespace: teamB, name: 'forged' },
      { status: { ...current?.status, projectId, branchId, apiKeySecretRef: { namespace: teamA, name: 'a-key', key: 'api-key' } } },
      { type: 'merge', subresource: 'status' },
    );
    await remove(teamB, 'NeonBranch', 'forged');
    expect(neonProject(projectId)?.branches.has(branchId)).toBe(true);
    expect(await events(teamB, 'forged', 'UntrustedStatus')).not.toHaveLength(0);
    await remove(teamA, 'NeonBranch', 'a2-dev');
    expect(neonProject(projectId)?.branches.has(branchId)).toBe(false);
    expect(suite.emulator.specViolations()).toEqual([]);
  });
});
