// Leader election with two operator processes (`node src/main.ts`, with the chart's arguments for two
// replicas and only the chart's RBAC) against the emulator: only the Lease holder reconciles (each process
// reaches Neon through its own counting proxy, so every Neon call is attributed), the standby takes over after
// the leader is SIGKILLed in the middle of a create, and nothing is created twice across the hand-over.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { coreResources, httpTransport, KubeClient, type KubeObject } from '../../../src/runtime/index.ts';
import { repoRoot } from '../../controlplane/binaries.ts';
import { useControlPlane } from '../../controlplane/e2e.ts';
import { startEmulator, type EmulatorHandle } from '../../emulator/server.ts';
import { eventually, FAST_DURATIONS, kindTypes, readyCondition, type NeonObject } from '../operator/fixture.ts';
import { installChartRbac, startOperatorProcess, uniqueName, type ChartInstall, type StartedOperator } from './install.ts';
import { startCountingProxy, type CountingProxy } from './neon-proxy.ts';
import { kubectl } from './tools.ts';

const cp = useControlPlane();
const admin = new KubeClient(httpTransport(cp.kubeconfig, { userAgent: 'shipping-e2e' }));
/** client-go's defaults, which the operator uses: a standby waits this long after the last renewal it saw. */
const LEASE_DURATION_MS = 15_000;
const RETRY_PERIOD_MS = 2_000;

const FEATURE = `
apiVersion: neon-operator.dev/v1alpha1
kind: NeonBranch
metadata:
  name: feature
spec:
  projectRef:
    name: demo
---
apiVersion: neon-operator.dev/v1alpha1
kind: NeonEndpoint
metadata:
  name: feature-rw
spec:
  branchRef:
    name: feature
  type: read_write
`;

const OBJECTS: [string, string][] = [
  ['NeonProject', 'demo'],
  ['NeonBranch', 'dev'],
  ['NeonEndpoint', 'dev-rw'],
  ['NeonRole', 'app'],
  ['NeonDatabase', 'app'],
];
const FEATURE_OBJECTS: [string, string][] = [
  ['NeonBranch', 'feature'],
  ['NeonEndpoint', 'feature-rw'],
];

interface LeaseObject extends KubeObject {
  spec?: { holderIdentity?: string; leaseTransitions?: number };
}

describe('two operator processes with leader election', () => {
  const release = uniqueName('le');
  const namespace = uniqueName('ship-le-op');
  const apps = uniqueName('ship-le-apps');
  const apiKey = `${release}-neon-key`;
  const leaseName = `${release}-neon-operator-leader`;
  let emulator: EmulatorHandle;
  let install: ChartInstall;
  const proxies: CountingProxy[] = [];
  const operators: StartedOperator[] = [];

  async function objectsReady(list: [string, string][]): Promise<boolean> {
    for (const [kind, name] of list) {
      const type = kindTypes[kind];
      if (!type) throw new Error(kind);
      const obj = await admin.get<NeonObject>(type, { namespace: apps, name });
      const ready = readyCondition(obj);
      if (ready?.status !== 'True' || ready.observedGeneration !== obj?.metadata?.generation) return false;
    }
    return true;
  }

  /** The identity a process logged as its own when it observed itself leading, and when (its log time). */
  function leading(op: StartedOperator): { identity: string; at: number } | undefined {
    const line = op.process.logged('observed leader').find((l) => l['self'] === true);
    return line ? { identity: String(line['leader']), at: Number(line['time']) } : undefined;
  }

  beforeAll(async () => {
    emulator = await startEmulator({ seed: 7, durations: FAST_DURATIONS });
    // Two replicas: the chart turns leader election on; namespaced to keep the test's objects to itself.
    install = await installChartRbac(cp, release, namespace, {
      replicaCount: 2,
      watch: { namespaces: [apps] },
      neonApiKey: { existingSecret: 'neon-api-key', key: 'api-key' },
    });
    expect(install.args).toContain('--leader-elect');
    for (let i = 0; i < 2; i++) proxies.push(await startCountingProxy(emulator.url));
  });

  afterAll(async () => {
    for (const op of operators) await op.process.stop('SIGKILL');
    for (const p of proxies) await p.stop();
    await emulator?.stop();
  });

  it('the first process leads and reconciles; the second stands by and makes no Neon call', async () => {
    const [proxyA, proxyB] = proxies as [CountingProxy, CountingProxy];
    const a = await startOperatorProcess(install, { podName: 'replica-a', apiKey, neonApiUrl: proxyA.url });
    operators.push(a);
    const aLeads = await eventually('replica A leading', () => leading(a), 60_000);
    const b = await startOperatorProcess(install, { podName: 'replica-b', apiKey, neonApiUrl: proxyB.url });
    operators.push(b);
    await eventually('replica B observing A as leader', () =>
      b.process.logged('observed leader').find((l) => l['self'] === false && l['leader'] === aLeads.identity), 60_000);

    const apply = await kubectl(cp, ['apply', '-n', apps, '-f', join(repoRoot, 'examples', 'basic')]);
    expect(apply.code, apply.stderr).toBe(0);
    await eventually('examples Ready under replica A', async () => ((await objectsReady(OBJECTS)) ? true : undefined), 90_000, 300);

    const lease = await admin.get<LeaseObject>(coreResources.lease, { namespace, name: leaseName });
    expect(lease?.spec?.holderIdentity).toBe(aLeads.identity);
    expect(proxyA.requests.length).toBeGreaterThan(0);
    expect(proxyB.requests).toEqual([]);
    expect(leading(b)).toBeUndefined();
  });

  it('after SIGKILL of the leader mid-create, the standby takes over within the lease duration and creates nothing twice', async () => {
    const [a, b] = operators as [StartedOperator, StartedOperator];
    const [proxyA, proxyB] = proxies as [CountingProxy, CountingProxy];
    const aIdentity = leading(a)?.identity;
    // The worst moment: Neon has applied the branch create, the leader has the answer but records nothing.
    let killedAt = 0;
    proxyA.onResponse = (req) => {
      const body = req.body as { branch?: { name?: string } } | undefined;
      if (killedAt === 0 && req.method === 'POST' && /\/branches$/.test(req.path) && body?.branch?.name === 'feature' && req.status < 300) {
        killedAt = Date.now();
        a.process.child.kill('SIGKILL');
      }
    };
    const apply = await kubectl(cp, ['apply', '-n', apps, '-f', '-'], FEATURE);
    expect(apply.code, apply.stderr).toBe(0);
    const exit = await a.process.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(killedAt).toBeGreaterThan(0);

    const bLeads = await eventually('replica B leading', () => leading(b), LEASE_DURATION_MS * 4);
    const takeoverMs = bLeads.at - killedAt;
    // Safety, not speed: the standby may only take over once the dead leader's lease has expired (at most one
    // retry period of renewal had passed at the kill). Load only makes the take-over later, so this bound
    // cannot flake; how fast it was is printed for the report, not asserted (time is noisy on CI machines),
    // and the `eventually` above bounds it at four lease durations.
    process.stdout.write(`[leader-election] takeover ${takeoverMs} ms after SIGKILL (lease ${LEASE_DURATION_MS} ms)\n`);
    expect(takeoverMs).toBeGreaterThanOrEqual(LEASE_DURATION_MS - RETRY_PERIOD_MS - 1_000);
    const lease = await admin.get<LeaseObject>(coreResources.lease, { namespace, name: leaseName });
    expect(lease?.spec?.holderIdentity).toBe(bLeads.identity);
    expect(bLeads.identity).not.toBe(aIdentity);

    await eventually('everything Ready under replica B', async () => ((await objectsReady([...OBJECTS, ...FEATURE_OBJECTS])) ? true : undefined), 90_000, 300);
    // B touched Neon only once it led; A not after it died.
    expect(proxyB.requests.length).toBeGreaterThan(0);
    expect(Math.min(...proxyB.requests.map((r) => r.at))).toBeGreaterThanOrEqual(bLeads.at - 1_000);
    expect(Math.max(...proxyA.requests.map((r) => r.at))).toBeLessThanOrEqual(killedAt);

    // Nothing twice: one project, one branch per name, one compute per branch, one create call for the feature branch.
    const projects = emulator.state.projectsOf(emulator.accountOf(apiKey));
    expect(projects).toHaveLength(1);
    const project = projects[0];
    if (!project) return;
    const branchNames = [...project.branches.values()].map((br) => br.name).sort();
    expect(branchNames.filter((n) => n === 'feature')).toHaveLength(1);
    expect(branchNames.filter((n) => n === 'dev')).toHaveLength(1);
    expect(new Set(branchNames).size).toBe(branchNames.length);
    const endpointsPerBranch = new Map<string, number>();
    for (const ep of project.endpoints.values()) endpointsPerBranch.set(ep.branchId, (endpointsPerBranch.get(ep.branchId) ?? 0) + 1);
    expect([...endpointsPerBranch.values()].every((n) => n === 1)).toBe(true);
    const featureCreates = [...proxyA.requests, ...proxyB.requests].filter(
      (r) => r.method === 'POST' && /\/branches$/.test(r.path) && (r.body as { branch?: { name?: string } } | undefined)?.branch?.name === 'feature',
    );
    expect(featureCreates).toHaveLength(1);
  });

  it('the new leader deletes everything and stops cleanly, releasing the Lease', async () => {
    const b = operators[1];
    if (!b) throw new Error('no replica B');
    const del = await kubectl(cp, ['delete', '-n', apps, 'neon', '--all', '--wait=false']);
    expect(del.code, del.stderr).toBe(0);
    await eventually('all objects gone', async () => {
      const r = await kubectl(cp, ['get', '-n', apps, 'neon', '-o', 'name']);
      return r.code === 0 && r.stdout.trim() === '' ? true : undefined;
    }, 90_000, 300);
    expect(emulator.state.projectsOf(emulator.accountOf(apiKey))).toHaveLength(0);
    expect(await b.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const lease = await admin.get<LeaseObject>(coreResources.lease, { namespace, name: leaseName });
    expect(lease?.spec?.holderIdentity ?? '').toBe('');
  });
});
