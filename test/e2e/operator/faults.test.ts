// "Faults cost time, never data", end to end: the emulator answers a fixed-seed share of every request on
// every route with 429, 500, 503, 524 or a connection reset (half of the failed mutations WERE applied),
// plus latency, while the operator converges the examples, applies spec changes and a password rotation,
// is restarted mid-convergence, and deletes everything. After each phase the suite checks exact
// properties of Neon's state: no duplicate anywhere, Secrets holding Neon's current passwords and hosts,
// every Secret whose object says Ready logging in to the emulator's real Postgres, nothing deleted that was
// not asked to be. It prints what the faults cost (calls, retries, 429s, outcome-unknown, failed logins)
// but asserts no timing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultConfig, ProjectRecord } from '../../emulator/server.ts';
import type { SchedulerStats } from '../../../src/neon/index.ts';
import {
  API_KEY,
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
import { readySecretLogins } from './logins.ts';

/**
 * 15 % of all requests fail, on every route; a failed mutation was applied half of the time. To hunt
 * for new failures, E2E_FAULT_SEED and E2E_FAULT_SCALE (a multiplier of the rates) vary the run.
 */
const SCALE = Number(process.env['E2E_FAULT_SCALE'] ?? 1);
const FAULTS: FaultConfig = {
  rate429: 0.03 * SCALE,
  rate500: 0.03 * SCALE,
  rate503: 0.04 * SCALE,
  rate524: 0.03 * SCALE,
  resetRate: 0.02 * SCALE,
  appliedBeforeFailure: 0.5,
  latencyMs: 2,
  latencyJitterMs: 25,
};
const SEED = Number(process.env['E2E_FAULT_SEED'] ?? 4242);
const READY_MS = 90_000;
const TEST_MS = 200_000;

const CREATE_ROUTES = [
  'POST /projects',
  'POST /projects/{project_id}/branches',
  'POST /projects/{project_id}/endpoints',
  'POST /projects/{project_id}/branches/{branch_id}/roles',
  'POST /projects/{project_id}/branches/{branch_id}/databases',
];

function obj(kind: string, name: string, namespace: string, spec: Record<string, unknown>): NeonObject {
  return { apiVersion: 'neon-operator.dev/v1alpha1', kind, metadata: { name, namespace }, spec } as NeonObject;
}

/** What an untouched project looks like: everything but the ever-changing compute states. */
function snapshot(p: ProjectRecord): unknown {
  return {
    id: p.id,
    name: p.name,
    settings: p.settings,
    historyRetentionSeconds: p.historyRetentionSeconds,
    branches: [...p.branches.values()].map((b) => ({
      id: b.id,
      name: b.name,
      protected: b.protected,
      annotations: b.annotations,
      roles: [...b.roles.values()].map((r) => [r.name, r.password]),
      databases: [...b.databases.values()].map((d) => [d.name, d.ownerName]),
    })),
    endpoints: [...p.endpoints.values()].map((e) => [e.id, e.branchId, e.type, e.minCu, e.maxCu, e.suspendTimeoutSeconds, e.disabled]),
  };
}

function branchNamed(p: ProjectRecord, name: string) {
  const all = [...p.branches.values()].filter((b) => b.name === name);
  expect(all.map((b) => b.name), `branches named ${name} in ${p.name}`).toEqual([name]);
  return all[0]!;
}

describe('operator: faults cost time, never data', () => {
  let suite: Suite;
  const statsOfStopped: SchedulerStats[] = [];
  const phases: Array<{ phase: string; requests: number; faults: Record<string, number> }> = [];
  let phaseStart = 0;
  let restarts = 0;
  let bystander: ProjectRecord;
  let bystanderBefore: unknown;
  const get = (kind: string, name: string) => suite.kube.get<NeonObject>(typeOfKind(kind), { namespace: suite.namespace, name });

  /** The operator's projects (the bystander, made behind its back, excluded). */
  const ours = () => projectsInNeon(suite).filter((p) => p.id !== bystander.id);

  const loginFailures: string[] = [];
  /** Every Secret whose object says Ready logs in with each of its URIs (the API faults never reach Postgres). */
  async function readySecretsLogIn(expected: string[]): Promise<void> {
    const { checked, failures } = await readySecretLogins(suite);
    loginFailures.push(...failures);
    expect(checked.sort()).toEqual(expected);
    expect(failures).toEqual([]);
  }

  function endPhase(phase: string): void {
    const entries = suite.emulator.requests.slice(phaseStart);
    const faults: Record<string, number> = {};
    for (const r of entries) if (r.fault) faults[r.fault] = (faults[r.fault] ?? 0) + 1;
    phases.push({ phase, requests: entries.length, faults });
    phaseStart = suite.emulator.requests.length;
  }

  /** Operators stopped, with how many calls their scheduler had made when stop() returned. */
  const stopped: Array<{ scheduler: { stats(): SchedulerStats }; calls: number }> = [];
  const callsOf = (s: SchedulerStats) => Object.values(s.requests).reduce((a, r) => a + r.count, 0);

  async function restartOperator(): Promise<void> {
    const old = suite.operator;
    await suite.stopOperator();
    if (old) {
      statsOfStopped.push(old.scheduler.stats());
      stopped.push({ scheduler: old.scheduler, calls: callsOf(old.scheduler.stats()) });
    }
    await suite.startOperator({ resyncPeriodMs: 20_000, waitingRequeueMs: 5_000 });
    restarts++;
  }

  /** Waits for all of them; on a timeout the error lists every object's Ready condition. */
  async function allReady(names: Array<[string, string]>): Promise<void> {
    try {
      await Promise.all(names.map(([kind, name]) => waitReady(suite, kind, name, READY_MS)));
    } catch (err) {
      const states: string[] = [];
      for (const [kind, name] of names) {
        const o = await get(kind, name);
        const c = readyCondition(o);
        states.push(`${kind} ${name}: gen ${o?.metadata?.generation} ${c?.status} ${c?.reason} (${c?.observedGeneration}) ${c?.message}`);
      }
      throw new Error(`${(err as Error).message}\n${states.join('\n')}`);
    }
  }

  beforeAll(async () => {
    suite = await setUpSuite('op-faults', { seed: SEED, postgres: true });
    // A project in the same account that the operator was never told about, with a branch named like
    // the example's: it must come through every phase byte for byte.
    const account = suite.emulator.accountOf(API_KEY);
    const made = suite.emulator.state.createProject(account, { name: 'bystander' });
    bystander = made.project;
    const dev = suite.emulator.state.newBranch(bystander, { name: 'dev', parentId: made.branch.id });
    dev.roles.set('app', suite.emulator.state.newRole('app'));
    dev.databases.set('app', suite.emulator.state.newDatabase('app', 'app'));
    bystanderBefore = snapshot(bystander);
    suite.emulator.setFaults(FAULTS);
    await suite.startOperator({ resyncPeriodMs: 20_000, waitingRequeueMs: 5_000 });
  });

  afterAll(async () => {
    if (suite?.operator) statsOfStopped.push(suite.operator.scheduler.stats());
    if (suite) {
      const c = suite.emulator.counters();
      const sum = (k: keyof SchedulerStats) => statsOfStopped.reduce((s, x) => s + (x[k] as number), 0);
      const calls = statsOfStopped.reduce((s, x) => s + callsOf(x), 0);
      console.log(
        JSON.stringify(
          {
            faults: FAULTS,
            seed: SEED,
            operatorRestarts: restarts,
            operatorCalls: calls,
            operatorRetries: sum('retries'),
            operator429sSeen: sum('rateLimited'),
            operator423sSeen: sum('locked'),
            operatorOutcomeUnknown: sum('outcomeUnknown'),
            emulatorTotal: c.total,
            // Mutations Neon applied whose answer the operator never got: the case adoption must handle.
            mutationsAppliedAnswerLost: suite.emulator.requests.filter((r) => r.method !== 'GET' && r.applied && (r.fault === '500' || r.fault === '524' || r.fault === 'reset')).length,
            emulatorByStatus: c.byStatus,
            secretsFailingLogin: loginFailures.length,
            appliedCreates: Object.fromEntries(CREATE_ROUTES.map((r) => [r, c.applied[r] ?? 0])),
            phases,
          },
          null,
          1,
        ),
      );
      await suite.teardown();
    }
  });

  it('examples applied under faults all become Ready, with no duplicate and valid Secrets', async () => {
    const objects = await exampleObjects(suite.namespace);
    const ns = suite.namespace;
    objects.push(
      obj('NeonProject', 'keep', ns, { name: 'neon-operator-keep' }),
      obj('NeonBranch', 'keep-kept', ns, { projectRef: { name: 'keep' }, deletionPolicy: 'Retain' }),
      obj('NeonBranch', 'keep-tmp', ns, { projectRef: { name: 'keep' } }),
    );
    await Promise.all(objects.map((o) => suite.kube.create(typeOfKind(o.kind), o)));
    await allReady(objects.map((o) => [o.kind ?? '', o.metadata?.name ?? '']));

    const projects = ours();
    expect(projects.map((p) => p.name).sort()).toEqual(['neon-operator-demo', 'neon-operator-keep']);
    const demo = projects.find((p) => p.name === 'neon-operator-demo')!;
    expect([...demo.branches.values()].map((b) => b.name).sort()).toEqual(['dev', 'main']);
    const dev = branchNamed(demo, 'dev');
    const main = branchNamed(demo, 'main');
    expect(dev.annotations['neon-operator.dev/uid']).toBeDefined();
    expect([...demo.endpoints.values()].filter((e) => e.branchId === dev.id)).toHaveLength(1);
    expect([...demo.endpoints.values()].filter((e) => e.branchId === main.id)).toHaveLength(1);
    // A branch starts with its parent's roles and databases (as in Neon); the operator added one of each.
    expect([...dev.roles.keys()].sort()).toEqual(['app', 'neondb_owner']);
    expect([...dev.databases.keys()].sort()).toEqual(['app', 'neondb']);
    expect([...main.roles.keys()]).toEqual(['neondb_owner']);
    expect([...main.databases.keys()]).toEqual(['neondb']);
    const keep = projects.find((p) => p.name === 'neon-operator-keep')!;
    expect([...keep.branches.values()].map((b) => b.name).sort()).toEqual(['keep-kept', 'keep-tmp', 'main']);

    const rw = [...demo.endpoints.values()].find((e) => e.branchId === dev.id)!;
    const secret = await getSecretData(suite, 'app-db');
    expect(secret?.['password']).toBe(dev.roles.get('app')?.password);
    expect(secret?.['host']).toBe(suite.emulator.state.host(rw));
    expect(secret?.['pooled-host']).toBe(suite.emulator.state.host(rw, true));
    expect(secret?.['dbname']).toBe('app');
    const projectSecret = await getSecretData(suite, 'demo-connection');
    expect(projectSecret?.['username']).toBe('neondb_owner');
    expect(projectSecret?.['password']).toBe(main.roles.get('neondb_owner')?.password);
    const mainRw = [...demo.endpoints.values()].find((e) => e.branchId === main.id)!;
    expect(projectSecret?.['host']).toBe(suite.emulator.state.host(mainRw));
    const keepSecret = await getSecretData(suite, 'keep-connection');
    expect(keepSecret?.['password']).toBe(branchNamed(keep, 'main').roles.get(keepSecret?.['username'] ?? '')?.password);

    expect(snapshot(bystander)).toEqual(bystanderBefore);
    expect(suite.emulator.specViolations()).toEqual([]);
    await readySecretsLogIn(['app-db', 'demo-connection', 'keep-connection']);
    endPhase('apply');
  }, TEST_MS);

  it('spec changes, a database rename and a password rotation under faults reach Neon; the Secret stays valid', async () => {
    const ns = suite.namespace;
    const merge = { type: 'merge' } as const;
    await suite.kube.patch(typeOfKind('NeonEndpoint'), { namespace: ns, name: 'dev-rw' }, { spec: { autoscaling: { minCu: 0.5, maxCu: 2 }, suspendTimeoutSeconds: 600 } }, merge);
    await suite.kube.patch(typeOfKind('NeonBranch'), { namespace: ns, name: 'dev' }, { spec: { protected: true } }, merge);
    await suite.kube.patch(typeOfKind('NeonProject'), { namespace: ns, name: 'demo' }, { spec: { historyRetentionSeconds: 3600 } }, merge);
    await suite.kube.patch(typeOfKind('NeonDatabase'), { namespace: ns, name: 'app' }, { spec: { name: 'app_v2' } }, merge);
    await suite.kube.patch(typeOfKind('NeonRole'), { namespace: ns, name: 'app' }, { metadata: { annotations: { 'neon-operator.dev/rotate-password': 'r1' } } }, merge);
    const before = await getSecretData(suite, 'app-db');

    await allReady([['NeonEndpoint', 'dev-rw'], ['NeonBranch', 'dev'], ['NeonProject', 'demo'], ['NeonDatabase', 'app']]);
    await eventually('rotation recorded', async () => {
      const r = await get('NeonRole', 'app');
      return (r?.status?.['passwordRotation'] as { request?: string } | undefined)?.request === 'r1' ? r : undefined;
    }, READY_MS);
    await waitReady(suite, 'NeonRole', 'app', READY_MS);

    const demo = ours().find((p) => p.name === 'neon-operator-demo')!;
    expect(demo.historyRetentionSeconds).toBe(3600);
    const dev = branchNamed(demo, 'dev');
    expect(dev.protected).toBe(true);
    const eps = [...demo.endpoints.values()].filter((e) => e.branchId === dev.id);
    expect(eps).toHaveLength(1);
    expect(eps[0]).toMatchObject({ minCu: 0.5, maxCu: 2, suspendTimeoutSeconds: 600 });
    expect([...dev.databases.keys()].sort()).toEqual(['app_v2', 'neondb']);
    expect(dev.databases.get('app_v2')?.ownerName).toBe('app');
    expect([...dev.roles.keys()].sort()).toEqual(['app', 'neondb_owner']);

    const password = dev.roles.get('app')!.password;
    expect(password).not.toBe(before?.['password']);
    await eventually('Secret follows the rename and the rotation', async () => {
      const s = await getSecretData(suite, 'app-db');
      return s?.['password'] === password && s['dbname'] === 'app_v2' ? s : undefined;
    }, READY_MS);
    const secret = await getSecretData(suite, 'app-db');
    expect(decodeURIComponent(new URL(secret?.['uri'] ?? '').password)).toBe(password);
    expect(new URL(secret?.['uri'] ?? '').pathname).toBe('/app_v2');
    expect(snapshot(bystander)).toEqual(bystanderBefore);
    await readySecretsLogIn(['app-db', 'demo-connection', 'keep-connection']);
    endPhase('changes');
  }, TEST_MS);

  it('the operator restarted again and again mid-convergence under faults creates nothing twice', async () => {
    const ns = suite.namespace;
    const fresh = [
      obj('NeonBranch', 'feature', ns, { projectRef: { name: 'demo' }, parentRef: { name: 'dev' } }),
      obj('NeonEndpoint', 'feature-rw', ns, { branchRef: { name: 'feature' }, type: 'read_write' }),
      obj('NeonEndpoint', 'feature-ro', ns, { branchRef: { name: 'feature' }, type: 'read_only' }),
      obj('NeonRole', 'feature-app', ns, { branchRef: { name: 'feature' }, name: 'feature_app', secret: { name: 'feature-db' }, databaseRef: { name: 'feature' }, endpointRef: { name: 'feature-rw' } }),
      obj('NeonDatabase', 'feature', ns, { branchRef: { name: 'feature' }, name: 'feature', ownerRef: { name: 'feature-app' } }),
    ];
    // Heavier on the creates here: answers lost after Neon applied them are what restarts must not turn
    // into duplicates (the other routes keep no faults during this phase).
    suite.emulator.setFaults({ ...FAULTS, rate500: 0.1 * SCALE, rate524: 0.1 * SCALE, resetRate: 0.1 * SCALE, routes: CREATE_ROUTES });
    const appliedCreates = () => CREATE_ROUTES.reduce((s, r) => s + (suite.emulator.counters().applied[r] ?? 0), 0);
    let seen = appliedCreates();
    await Promise.all(fresh.map((o) => suite.kube.create(typeOfKind(o.kind), o)));
    // Each time Neon has applied another create, the operator is stopped and a new one started.
    const names: Array<[string, string]> = fresh.map((o) => [o.kind ?? '', o.metadata?.name ?? '']);
    const allFreshReady = async () => {
      for (const [kind, name] of names) {
        const o = await get(kind, name);
        const c = readyCondition(o);
        if (c?.status !== 'True' || c.observedGeneration !== o?.metadata?.generation) return false;
      }
      return true;
    };
    for (let i = 0; i < 5; i++) {
      const next = await eventually('another create applied, or everything Ready', async () =>
        appliedCreates() > seen ? 'restart' : (await allFreshReady()) ? 'ready' : undefined, READY_MS, 20);
      if (next === 'ready') break;
      seen = appliedCreates();
      await restartOperator();
    }
    expect(restarts).toBeGreaterThan(0);
    await allReady(names);

    const demo = ours().find((p) => p.name === 'neon-operator-demo')!;
    expect([...demo.branches.values()].map((b) => b.name).sort()).toEqual(['dev', 'feature', 'main']);
    const feature = branchNamed(demo, 'feature');
    expect(feature.parentId).toBe(branchNamed(demo, 'dev').id);
    const eps = [...demo.endpoints.values()].filter((e) => e.branchId === feature.id);
    expect(eps.map((e) => e.type).sort()).toEqual(['read_only', 'read_write']);
    expect(eps.find((e) => e.type === 'read_only')?.name).toBe('feature-ro');
    const ro = await get('NeonEndpoint', 'feature-ro');
    expect(ro?.status?.['endpointId']).toBe(eps.find((e) => e.type === 'read_only')?.id);
    expect(ro?.status?.['pendingCreate']).toBeUndefined();
    expect([...feature.roles.keys()].sort()).toEqual(['app', 'feature_app', 'neondb_owner']);
    expect([...feature.databases.keys()].sort()).toEqual(['app_v2', 'feature', 'neondb']);
    const rw = eps.find((e) => e.type === 'read_write')!;
    await eventually('feature Secret valid', async () => {
      const s = await getSecretData(suite, 'feature-db');
      return s?.['password'] === feature.roles.get('feature_app')?.password && s?.['host'] === suite.emulator.state.host(rw) ? s : undefined;
    }, READY_MS);
    // The other Secrets survived the restarts with Neon's passwords.
    const dev = branchNamed(demo, 'dev');
    expect((await getSecretData(suite, 'app-db'))?.['password']).toBe(dev.roles.get('app')?.password);
    const main = branchNamed(demo, 'main');
    expect((await getSecretData(suite, 'demo-connection'))?.['password']).toBe(main.roles.get('neondb_owner')?.password);
    expect(ours()).toHaveLength(2);
    expect(snapshot(bystander)).toEqual(bystanderBefore);
    await readySecretsLogIn(['app-db', 'demo-connection', 'feature-db', 'keep-connection']);
    suite.emulator.setFaults(FAULTS);
    endPhase('restarts');
  }, TEST_MS);

  it('deleting everything under faults removes what is Delete, keeps what is Retain, touches nothing else', async () => {
    const ns = suite.namespace;
    const keep = ours().find((p) => p.name === 'neon-operator-keep')!;
    const keptId = branchNamed(keep, 'keep-kept').id;
    const keepMainId = branchNamed(keep, 'main').id;
    const all: NeonObject[] = [];
    for (const kind of ['NeonProject', 'NeonBranch', 'NeonEndpoint', 'NeonRole', 'NeonDatabase']) {
      all.push(...(await suite.kube.list<NeonObject>(typeOfKind(kind), ns)).items);
    }
    await Promise.all(all.map((o) => suite.kube.delete(typeOfKind(o.kind), { namespace: ns, name: o.metadata?.name ?? '' })));
    for (const o of all) {
      await eventually(`${o.kind} ${o.metadata?.name} gone`, async () => ((await get(o.kind ?? '', o.metadata?.name ?? '')) ? undefined : true), READY_MS);
    }
    // demo (Delete) is gone with everything in it; keep (Retain) stays with its Retain branch, its
    // Delete branch is gone; the bystander is exactly as it was.
    expect(ours().map((p) => p.name)).toEqual(['neon-operator-keep']);
    expect(ours()[0]!.id).toBe(keep.id);
    expect([...keep.branches.keys()].sort()).toEqual([keepMainId, keptId].sort());
    expect(snapshot(bystander)).toEqual(bystanderBefore);
    expect(suite.emulator.specViolations()).toEqual([]);
    // A stopped operator sent nothing more: no call queued or operation wait outlived its stop().
    expect(stopped.map((x) => callsOf(x.scheduler.stats()))).toEqual(stopped.map((x) => x.calls));
    endPhase('delete');
  }, TEST_MS);
});
