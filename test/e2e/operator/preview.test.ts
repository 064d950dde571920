// What preview environments need, end to end on a real API server and the Neon emulator: an object paused with
// `neon-operator.dev/paused: "true"` costs Neon nothing and changes nothing (not even when deleted) until the
// annotation goes; `neon-operator.dev/reset-from-parent` restores a branch to its parent's latest state with
// the same branch ID and compute, and the Secrets of the roles on it follow; a NeonBranch with
// spec.anonymization (Beta) is Ready, and gets its compute, only once Neon has masked its data. Each check reads
// Neon's state in the emulator, not only the objects' conditions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymizationOf, anonymizationState } from '../../emulator/anonymized.ts';
import { queryWithUri } from '../../emulator/compute/client.ts';
import { restoresOf } from '../../emulator/restore.ts';
import { computeAccess } from './logins.ts';
import { coreResources, type KubeObject } from '../../../src/runtime/index.ts';
import { FINALIZER } from '../../../src/controllers/index.ts';
import { eventually, getSecretData, projectsInNeon, setUpSuite, typeOfKind, waitIdle, waitReady, type NeonObject, type Suite } from './fixture.ts';

interface EventObject extends KubeObject {
  reason?: string;
  note?: string;
  regarding?: { kind?: string; name?: string };
}

const PAUSED = 'neon-operator.dev/paused';
const RESET = 'neon-operator.dev/reset-from-parent';
const PRESERVE = 'neon-operator.dev/reset-preserve-under-name';
const merge = { type: 'merge' as const };

describe('operator: pause, reset from parent, anonymized branches', () => {
  let suite: Suite;
  const key = (name: string) => ({ namespace: suite.namespace, name });
  const get = (kind: string, name: string) => suite.kube.get<NeonObject>(typeOfKind(kind), key(name));
  const create = (kind: string, name: string, spec: Record<string, unknown>, annotations?: Record<string, string>) =>
    suite.kube.create(typeOfKind(kind), {
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind,
      metadata: { name, namespace: suite.namespace, ...(annotations ? { annotations } : {}) },
      spec,
    });
  const annotate = (kind: string, name: string, annotations: Record<string, string | null>) =>
    suite.kube.patch(typeOfKind(kind), key(name), { metadata: { annotations } }, merge);
  const events = async (reason: string, name: string) =>
    (await suite.kube.list<EventObject>(coreResources.event, suite.namespace)).items.filter((e) => e.reason === reason && e.regarding?.name === name);
  const project = () => {
    const [p] = projectsInNeon(suite);
    if (!p) throw new Error('no project in Neon');
    return p;
  };
  const neonBranch = (name: string) => [...project().branches.values()].find((b) => b.name === name);
  const paused = (obj: NeonObject | undefined) => obj?.status?.conditions?.find((c) => c.type === 'Paused');
  /** Requests whose path names `id` (a branch's own calls), from index `from` of the emulator's log. */
  const callsFor = (id: string, from: number) => suite.emulator.requests.slice(from).filter((r) => r.path.includes(id));

  beforeAll(async () => {
    // A real Postgres behind every branch: the reset is checked in the data the app sees, not only in the API.
    suite = await setUpSuite('op-preview', { postgres: true });
    await suite.startOperator();
    await create('NeonProject', 'demo', { name: 'preview-demo', deletionPolicy: 'Delete' });
    await create('NeonBranch', 'base', { projectRef: { name: 'demo' } });
    await waitReady(suite, 'NeonBranch', 'base');
  });
  afterAll(async () => {
    await suite?.teardown();
  });

  it('a paused object makes no Neon call and no change, not even on deletion; it resumes where it left off', async () => {
    // A new object created paused: nothing in Neon, no finalizer, a Paused condition.
    await create('NeonBranch', 'later', { projectRef: { name: 'demo' }, parentRef: { name: 'base' } }, { [PAUSED]: 'true' });
    const later = await eventually('NeonBranch later Paused', async () => {
      const obj = await get('NeonBranch', 'later');
      return paused(obj)?.status === 'True' ? obj : undefined;
    });
    expect(paused(later)?.message).toContain('remove the annotation to resume');
    expect(later.metadata?.finalizers ?? []).toEqual([]);

    // An existing branch, paused, then changed and deleted: Neon is not touched.
    await create('NeonBranch', 'keep', { projectRef: { name: 'demo' }, parentRef: { name: 'base' } });
    const keep = await waitReady(suite, 'NeonBranch', 'keep');
    const keepId = String(keep.status?.['branchId']);
    await waitIdle(suite);
    const from = suite.emulator.requests.length;
    await annotate('NeonBranch', 'keep', { [PAUSED]: 'true' });
    await eventually('NeonBranch keep Paused', async () => (paused(await get('NeonBranch', 'keep'))?.status === 'True' ? true : undefined));
    await suite.kube.patch(typeOfKind('NeonBranch'), key('keep'), { spec: { protected: true } }, merge);
    await suite.kube.delete(typeOfKind('NeonBranch'), key('keep'));
    const deleting = await eventually('NeonBranch keep says the deletion waits', async () => {
      const obj = await get('NeonBranch', 'keep');
      return paused(obj)?.message.includes('the deletion waits') ? obj : undefined;
    });
    expect(deleting.metadata?.finalizers).toEqual([FINALIZER]);
    await waitIdle(suite);
    expect(callsFor(keepId, from)).toEqual([]);
    expect(neonBranch('later')).toBeUndefined();
    expect(neonBranch('keep')).toMatchObject({ id: keepId, protected: false });
    // One Event when paused, one when its deletion started to wait.
    expect((await events('Paused', 'keep')).map((e) => e.note?.includes('the deletion waits'))).toEqual([false, true]);

    // Resumed: the deletion proceeds, the new branch is created.
    await annotate('NeonBranch', 'keep', { [PAUSED]: null });
    await annotate('NeonBranch', 'later', { [PAUSED]: null });
    await eventually('NeonBranch keep gone', async () => ((await get('NeonBranch', 'keep')) ? undefined : true));
    expect(neonBranch('keep')).toBeUndefined();
    const resumed = await waitReady(suite, 'NeonBranch', 'later');
    expect(paused(resumed)).toBeUndefined();
    expect(neonBranch('later')?.id).toBe(resumed.status?.['branchId']);
    expect(await events('Resumed', 'later')).toHaveLength(1);
  });

  it('reset-from-parent restores the branch to its parent’s latest state, same branch and compute; role Secrets follow', async () => {
    await create('NeonBranch', 'pr', { projectRef: { name: 'demo' }, parentRef: { name: 'base' } });
    await create('NeonEndpoint', 'pr-rw', { branchRef: { name: 'pr' }, type: 'read_write', suspendTimeoutSeconds: 300 });
    const ep = await waitReady(suite, 'NeonEndpoint', 'pr-rw');
    // `app` exists only on the preview branch; `neondb_owner` comes from the parent.
    await create('NeonRole', 'app', { branchRef: { name: 'pr' }, name: 'app', databaseName: 'neondb', endpointRef: { name: 'pr-rw' }, secret: { name: 'app-db' } });
    await create('NeonRole', 'owner', { branchRef: { name: 'pr' }, name: 'neondb_owner', databaseName: 'neondb', secret: { name: 'owner-db' } });
    const pr = await waitReady(suite, 'NeonBranch', 'pr');
    await waitReady(suite, 'NeonRole', 'app');
    await waitReady(suite, 'NeonRole', 'owner');
    const prId = String(pr.status?.['branchId']);
    const baseId = String((await get('NeonBranch', 'base'))?.status?.['branchId']);
    // The preview's owner password differs from the parent's before the reset.
    await annotate('NeonRole', 'owner', { 'neon-operator.dev/rotate-password': 'r1' });
    await eventually('owner rotated', async () => ((await get('NeonRole', 'owner'))?.status?.['passwordRotation'] ? true : undefined));
    const base = suite.emulator.state.findBranch(baseId);
    expect(neonBranch('pr')?.roles.get('neondb_owner')?.password).not.toBe(base?.roles.get('neondb_owner')?.password);
    // New state on the parent, behind the operator's back: what the reset must bring (a database in the API, a
    // row in Postgres); and a table the preview's run wrote, which the reset must throw away.
    base?.databases.set('release_1', { ...suite.emulator.state.newDatabase('release_1', 'neondb_owner') });
    const sql = async (secret: string, statement: string) => queryWithUri<{ v: string }>(computeAccess(suite), (await getSecretData(suite, secret))?.['uri'] ?? '', statement);
    await suite.emulator.compute?.sync();
    await suite.emulator.compute?.serverOf(baseId)?.query('neondb', 'CREATE TABLE marker (v text)', "INSERT INTO marker VALUES ('release-1')", 'GRANT SELECT ON marker TO PUBLIC');
    await sql('owner-db', "CREATE TABLE scratch AS SELECT 'written by the previous commit' AS v");
    expect(await sql('owner-db', 'SELECT v FROM scratch')).toEqual([{ v: 'written by the previous commit' }]);

    await annotate('NeonBranch', 'pr', { [RESET]: 'sha-1' });
    const reset = await eventually('NeonBranch pr reset sha-1', async () => {
      const obj = await waitReady(suite, 'NeonBranch', 'pr');
      return (obj.status?.['reset'] as { request?: string } | undefined)?.request === 'sha-1' ? obj : undefined;
    });
    expect(reset.status?.['reset']).toMatchObject({ request: 'sha-1', sourceBranchId: baseId, completedAt: expect.any(String) });
    expect(reset.status?.['resetPending']).toBeUndefined();
    // Neon: the same branch, restored from its parent; the same compute on it; the parent's databases.
    expect(restoresOf(project())).toEqual([expect.objectContaining({ branchId: prId, sourceBranchId: baseId })]);
    const branch = neonBranch('pr');
    expect(branch?.id).toBe(prId);
    expect(branch?.lastResetAt).toBeDefined();
    expect([...(branch?.databases.keys() ?? [])]).toContain('release_1');
    expect(project().endpoints.get(String(ep.status?.['endpointId']))?.branchId).toBe(prId);
    expect(await events('Reset', 'pr')).toHaveLength(1);

    // The roles: `app` (gone with the reset) is created again; `neondb_owner` has the parent's password now.
    await eventually('role Secrets follow the reset', async () => {
      const app = await get('NeonRole', 'app');
      const owner = await get('NeonRole', 'owner');
      if (app?.status?.['branchReset'] !== 'sha-1' || owner?.status?.['branchReset'] !== 'sha-1') return undefined;
      const appSecret = await getSecretData(suite, 'app-db');
      const ownerSecret = await getSecretData(suite, 'owner-db');
      const now = neonBranch('pr');
      return appSecret?.['password'] === now?.roles.get('app')?.password && ownerSecret?.['password'] === now?.roles.get('neondb_owner')?.password ? true : undefined;
    });
    expect((await getSecretData(suite, 'owner-db'))?.['password']).toBe(base?.roles.get('neondb_owner')?.password);
    // In Postgres, through the Secrets the app reads: the parent's row is there, the preview's table is gone.
    expect(await sql('app-db', 'SELECT v FROM marker')).toEqual([{ v: 'release-1' }]);
    expect(await sql('owner-db', "SELECT count(*)::text AS v FROM pg_tables WHERE tablename = 'scratch'")).toEqual([{ v: '0' }]);
    expect(await events('RecreatedAfterReset', 'app')).toHaveLength(1);
    expect(await events('PasswordRepaired', 'owner')).toEqual([]);
    expect(await events('DeletedOutside', 'app')).toEqual([]);

    // A new value with a preserve name keeps the old state in a new branch, which becomes the parent. This time
    // Neon does not store passwords (412 from reveal_password): the Secret's password from before the reset is not
    // trusted, the password is reset and the Secret holds the new one.
    await waitIdle(suite);
    project().storePasswords = false;
    await annotate('NeonBranch', 'pr', { [RESET]: 'sha-2', [PRESERVE]: 'pr-before-sha-2' });
    await eventually('NeonBranch pr reset sha-2', async () => {
      const obj = await waitReady(suite, 'NeonBranch', 'pr');
      return (obj.status?.['reset'] as { request?: string } | undefined)?.request === 'sha-2' ? obj : undefined;
    });
    await eventually('owner re-checked after sha-2', async () => ((await get('NeonRole', 'owner'))?.status?.['branchReset'] === 'sha-2' ? true : undefined));
    const ownerNow = neonBranch('pr')?.roles.get('neondb_owner')?.password;
    expect((await getSecretData(suite, 'owner-db'))?.['password']).toBe(ownerNow);
    expect(ownerNow).not.toBe(base?.roles.get('neondb_owner')?.password);
    project().storePasswords = true;
    expect(restoresOf(project())).toHaveLength(2);
    const preserved = neonBranch('pr-before-sha-2');
    expect(preserved?.parentId).toBe(baseId);
    expect(neonBranch('pr')?.parentId).toBe(preserved?.id);

    // Deletion still works afterwards: the restored branch has no children left in Neon.
    for (const [kind, name] of [['NeonRole', 'app'], ['NeonRole', 'owner'], ['NeonEndpoint', 'pr-rw'], ['NeonBranch', 'pr']] as const) {
      await suite.kube.delete(typeOfKind(kind), key(name));
    }
    await eventually('NeonBranch pr gone', async () => ((await get('NeonBranch', 'pr')) ? undefined : true));
    expect(neonBranch('pr')).toBeUndefined();
    expect(neonBranch('pr-before-sha-2')).toBeDefined();
  });

  it('a reset a branch cannot have is refused with a message naming the annotation, and costs Neon nothing', async () => {
    await create('NeonBranch', 'schema', { projectRef: { name: 'demo' }, parentRef: { name: 'base' }, initSource: 'schema-only' });
    await waitReady(suite, 'NeonBranch', 'schema');
    await waitIdle(suite);
    const before = restoresOf(project()).length;
    await annotate('NeonBranch', 'schema', { [RESET]: 'sha-1' });
    const ready = await eventually('NeonBranch schema InvalidSpec', async () => {
      const c = (await get('NeonBranch', 'schema'))?.status?.conditions?.find((x) => x.type === 'Ready');
      return c?.reason === 'InvalidSpec' ? c : undefined;
    });
    expect(ready.message).toContain(`annotation ${RESET}`);
    expect(ready.message).toContain('schema-only');
    expect(restoresOf(project())).toHaveLength(before);
  });
  it('an anonymized branch is Ready only once Neon has masked its data; its compute comes after; rule changes mask again', async () => {
    const email = { databaseName: 'neondb', schemaName: 'public', tableName: 'users', columnName: 'email', maskingFunction: 'anon.fake_email()' };
    await create('NeonBranch', 'masked', { projectRef: { name: 'demo' }, parentRef: { name: 'base' }, anonymization: { maskingRules: [email] } });
    await create('NeonEndpoint', 'masked-rw', { branchRef: { name: 'masked' }, type: 'read_write' });
    const masked = await waitReady(suite, 'NeonBranch', 'masked');
    const record = anonymizationOf(neonBranch('masked')!);
    expect(record?.rules).toEqual([{ database_name: 'neondb', schema_name: 'public', table_name: 'users', column_name: 'email', masking_function: 'anon.fake_email()' }]);
    expect(anonymizationState(record!, suite.emulator.state.now())).toBe('anonymized');
    expect(masked.status?.['anonymization']).toMatchObject({ state: 'anonymized', maskedColumns: 1 });
    // The compute (what an application connects through) was created only after the masking run ended.
    const ep = await waitReady(suite, 'NeonEndpoint', 'masked-rw');
    expect(project().endpoints.get(String(ep.status?.['endpointId']))?.createdAt).toBeGreaterThanOrEqual(record!.run!.endsAt);

    // A new rule: Neon's rules are replaced and the data masked again.
    const firstRun = record!.run!.startedAt;
    const phone = { ...email, columnName: 'phone', maskingFunction: undefined, maskingValue: '000' };
    await suite.kube.patch(typeOfKind('NeonBranch'), key('masked'), { spec: { anonymization: { maskingRules: [email, phone] } } }, merge);
    await eventually('masked again with two columns', async () => {
      const obj = await waitReady(suite, 'NeonBranch', 'masked');
      return (obj.status?.['anonymization'] as { maskedColumns?: number } | undefined)?.maskedColumns === 2 ? obj : undefined;
    });
    expect(anonymizationOf(neonBranch('masked')!)?.rules.map((r) => r.column_name)).toEqual(['email', 'phone']);
    expect(anonymizationOf(neonBranch('masked')!)?.run?.startedAt).toBeGreaterThan(firstRun);

    // A rule Neon cannot apply: Ready=False with Neon's message.
    await suite.kube.patch(typeOfKind('NeonBranch'), key('masked'), { spec: { anonymization: { maskingRules: [{ ...email, databaseName: 'missing' }] } } }, merge);
    const failed = await eventually('masked AnonymizationFailed', async () => {
      const c = (await get('NeonBranch', 'masked'))?.status?.conditions?.find((x) => x.type === 'Ready');
      return c?.reason === 'AnonymizationFailed' ? c : undefined;
    });
    expect(failed.message).toContain('database "missing" does not exist on the branch');
    expect(anonymizationState(anonymizationOf(neonBranch('masked')!)!, suite.emulator.state.now())).toBe('error');

    // A reset would bring back unmasked data: refused.
    await suite.kube.patch(typeOfKind('NeonBranch'), key('masked'), { spec: { anonymization: { maskingRules: [email] } } }, merge);
    await waitReady(suite, 'NeonBranch', 'masked');
    const restores = restoresOf(project()).length;
    await annotate('NeonBranch', 'masked', { [RESET]: 'sha-1' });
    const refused = await eventually('masked reset refused', async () => {
      const c = (await get('NeonBranch', 'masked'))?.status?.conditions?.find((x) => x.type === 'Ready');
      return c?.reason === 'InvalidSpec' ? c : undefined;
    });
    expect(refused.message).toContain('anonymized branch');
    expect(restoresOf(project())).toHaveLength(restores);
  });
});
