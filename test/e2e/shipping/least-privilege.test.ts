// Least privilege, proven: the operator runs as a real process with a token of the chart's ServiceAccount,
// bound to exactly the chart's rendered RBAC (not admin), against the Neon emulator. The examples become Ready
// and are deleted again (finalizers included) with nothing forbidden on the way, and in namespaced mode the
// account cannot reach Secrets (or anything else) outside the watched namespace. The operator talks to the
// API server through a recording proxy, and every request it made on Secrets is checked: label-selected to
// the Secrets it writes, metadata only, or by name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { coreResources, httpTransport, KubeApiError, KubeClient, type SecretObject } from '../../../src/runtime/index.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { repoRoot } from '../../controlplane/binaries.ts';
import { useControlPlane } from '../../controlplane/e2e.ts';
import { startEmulator, type EmulatorHandle } from '../../emulator/server.ts';
import { buildRunner, runHealthChecks } from '../../argocd/lua-runner.ts';
import { eventually, FAST_DURATIONS, kindTypes, readyCondition, type NeonObject } from '../operator/fixture.ts';
import { installChartRbac, startOperatorProcess, uniqueName, type ChartInstall, type StartedOperator } from './install.ts';
import { startKubeRecorder, type KubeRecorder, type RecordedKubeRequest } from './kube-recorder.ts';
import { httpGet } from './operator-process.ts';
import { kubectl, run, type ChartValues } from './tools.ts';

const cp = useControlPlane();
const admin = new KubeClient(httpTransport(cp.kubeconfig, { userAgent: 'shipping-e2e' }));
const EXAMPLES = join(repoRoot, 'examples', 'basic');
const EXAMPLE_OBJECTS: [string, string][] = [
  ['NeonProject', 'demo'],
  ['NeonBranch', 'dev'],
  ['NeonEndpoint', 'dev-rw'],
  ['NeonRole', 'app'],
  ['NeonDatabase', 'app'],
];

/** `kubectl auth can-i` as the ServiceAccount: true for yes. */
async function canI(install: ChartInstall, verb: string, resource: string, namespace?: string): Promise<boolean> {
  const r = await run('kubectl', [`--kubeconfig=${install.kubeconfigPath}`, 'auth', 'can-i', verb, resource, ...(namespace ? ['-n', namespace] : ['--all-namespaces'])]);
  return r.stdout.trim() === 'yes';
}

async function liveExamples(namespace: string): Promise<NeonObject[]> {
  const out: NeonObject[] = [];
  for (const [kind, name] of EXAMPLE_OBJECTS) {
    const type = kindTypes[kind];
    if (!type) throw new Error(kind);
    const obj = await admin.get<NeonObject>(type, { namespace, name });
    if (obj) out.push({ ...obj, apiVersion: 'neon-operator.dev/v1alpha1', kind });
  }
  return out;
}

function allReady(objects: NeonObject[]): boolean {
  return (
    objects.length === EXAMPLE_OBJECTS.length &&
    objects.every((o) => {
      const ready = readyCondition(o);
      return ready?.status === 'True' && ready.observedGeneration === o.metadata?.generation;
    })
  );
}

/** Log lines that show a request the API server refused for lack of permission. */
function forbiddenLines(op: StartedOperator): string[] {
  return [...op.process.lines.map((l) => JSON.stringify(l)), ...op.process.rawOutput].filter((l) => /forbidden|\b403\b/i.test(l));
}

const SECRETS_PATH = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?secrets(?:\/([^/]+))?$/;
/** The only label selector under which the operator may see Secrets' data: the Secrets it wrote itself. */
const MANAGED_BY_US = 'app.kubernetes.io/managed-by=neon-operator';
const METADATA_ONLY = /^application\/json;as=PartialObjectMetadata(List)?;g=meta\.k8s\.io;v=v1$/;

/**
 * What is wrong with one request on Secrets, or undefined when it is fine: a request on the collection
 * (list, watch) must be label-selected to the operator's own Secrets or ask for metadata only; anything
 * else must name its Secret.
 */
function secretRequestProblem(r: RecordedKubeRequest): string | undefined {
  const m = SECRETS_PATH.exec(r.path);
  if (!m) return undefined;
  const what = `${r.method} ${r.path}?${new URLSearchParams(r.query).toString()} (Accept: ${r.accept || 'none'})`;
  if (m[2] !== undefined) return undefined;
  if (r.method !== 'GET') return `${what}: a write to the Secret collection`;
  const selectors = (r.query['labelSelector'] ?? '').split(',');
  if (selectors.includes(MANAGED_BY_US) || METADATA_ONLY.test(r.accept)) return undefined;
  return `${what}: lists or watches Secrets' data beyond the operator's own`;
}

interface Scenario {
  name: string;
  /** Chart values besides the API key Secret; `apps` is replaced by the watched namespace. */
  values: (apps: string) => ChartValues;
  namespaced: boolean;
}

const scenarios: Scenario[] = [
  { name: 'all namespaces (ClusterRole)', values: () => ({}), namespaced: false },
  { name: 'namespaced (Role per watched namespace)', values: (apps) => ({ watch: { namespaces: [apps] } }), namespaced: true },
];

beforeAll(async () => {
  await buildRunner();
}, 300_000);

describe.each(scenarios)('the operator with only the chart RBAC, $name', ({ values, namespaced }) => {
  const release = uniqueName('lp');
  const namespace = uniqueName('ship-lp-op');
  const apps = uniqueName('ship-lp-apps');
  const other = uniqueName('ship-lp-other');
  const apiKey = `${release}-neon-key`;
  let emulator: EmulatorHandle;
  let install: ChartInstall;
  let operator: StartedOperator;
  let recorder: KubeRecorder;

  beforeAll(async () => {
    emulator = await startEmulator({ seed: 5, durations: FAST_DURATIONS });
    install = await installChartRbac(cp, release, namespace, { ...values(apps), neonApiKey: { existingSecret: 'neon-api-key', key: 'api-key' } });
    // The watched namespace exists (the chart's Roles need it), and so does one the operator must not reach.
    const ns = await kubectl(cp, ['create', 'namespace', other]);
    expect(ns.code, ns.stderr).toBe(0);
    await kubectl(cp, ['create', 'namespace', apps]);
    const secret = await kubectl(cp, ['-n', other, 'create', 'secret', 'generic', 'not-yours', '--from-literal=password=s3cret']);
    expect(secret.code, secret.stderr).toBe(0);
    recorder = await startKubeRecorder(install.kubeconfigPath, install.workDir);
    operator = await startOperatorProcess({ ...install, kubeconfigPath: recorder.kubeconfigPath }, { podName: `${release}-pod`, apiKey, neonApiUrl: emulator.url });
  });

  afterAll(async () => {
    await operator?.process.stop('SIGKILL');
    await recorder?.stop();
    await emulator?.stop();
  });

  it('becomes healthy and ready (/healthz, /readyz) and serves /metrics', async () => {
    await eventually('/readyz 200', async () => ((await httpGet(`${operator.metricsUrl}/readyz`))?.status === 200 ? true : undefined), 60_000);
    expect((await httpGet(`${operator.metricsUrl}/healthz`))?.status).toBe(200);
    const metrics = await httpGet(`${operator.metricsUrl}/metrics`);
    expect(metrics?.status).toBe(200);
    expect(metrics?.body).toContain('# TYPE');
  });

  it('gets every example Ready, writes the connection Secrets, and nothing it asked for was forbidden', async () => {
    const apply = await kubectl(cp, ['apply', '-n', apps, '-f', EXAMPLES]);
    expect(apply.code, apply.stderr).toBe(0);
    const objects = await eventually('every example Ready', async () => {
      const live = await liveExamples(apps);
      return allReady(live) ? live : undefined;
    }, 90_000, 300);
    expect(objects.map((o) => o.kind)).toEqual(EXAMPLE_OBJECTS.map(([k]) => k));
    for (const name of ['demo-connection', 'app-db']) {
      const secret = await admin.get<SecretObject>(coreResources.secret, { namespace: apps, name });
      expect(secret?.data?.['uri'], name).toBeDefined();
      expect(secret?.metadata?.ownerReferences?.[0]?.controller, name).toBe(true);
    }
    expect(emulator.state.projectsOf(emulator.accountOf(apiKey))).toHaveLength(1);
    expect(forbiddenLines(operator)).toEqual([]);
    // And Argo CD, running deploy/argocd/health.lua on these very objects, calls them Healthy.
    const health = await runHealthChecks(objects);
    expect(health.map((h) => h.status)).toEqual(EXAMPLE_OBJECTS.map(() => 'Healthy'));
  });

  it('holds only what the chart grants', async () => {
    // What it needs, where it works.
    for (const [verb, resource] of [['get', 'secrets'], ['list', 'secrets'], ['watch', 'secrets'], ['create', 'secrets'], ['patch', 'secrets'], ['delete', 'secrets'], ['patch', 'neonprojects.neon-operator.dev'], ['patch', 'neonroles.neon-operator.dev/status'], ['create', 'events.events.k8s.io']] as const) {
      expect(await canI(install, verb, resource, apps), `${verb} ${resource} in ${apps}`).toBe(true);
    }
    expect(await canI(install, 'create', 'leases.coordination.k8s.io', namespace)).toBe(true);
    // What it never needs, anywhere.
    for (const [verb, resource] of [['update', 'secrets'], ['get', 'configmaps'], ['create', 'pods'], ['delete', 'neonprojects.neon-operator.dev'], ['update', 'neonprojects.neon-operator.dev'], ['create', 'neonprojects.neon-operator.dev']] as const) {
      expect(await canI(install, verb, resource, apps), `${verb} ${resource} in ${apps}`).toBe(false);
    }
    expect(await canI(install, 'delete', 'leases.coordination.k8s.io', namespace)).toBe(false);
    expect(await canI(install, 'create', 'leases.coordination.k8s.io', apps)).toBe(false);
    expect(await canI(install, 'get', 'secrets', namespace)).toBe(!namespaced);
    // The watched Namespace object, read to tell a terminating namespace; others only in all-namespaces mode.
    expect(await canI(install, 'get', `namespace/${apps}`)).toBe(true);
    expect(await canI(install, 'get', `namespace/${other}`)).toBe(!namespaced);
    expect(await canI(install, 'list', 'namespaces')).toBe(false);
  });

  it(namespaced ? 'cannot read Secrets outside the watched namespace (can-i and a direct call)' : 'reads Secrets in any namespace (all-namespaces mode, by design)', async () => {
    expect(await canI(install, 'get', 'secrets', other)).toBe(!namespaced);
    expect(await canI(install, 'list', 'secrets')).toBe(!namespaced);
    const kc = new KubeConfig();
    kc.loadFromFile(install.kubeconfigPath);
    const asOperator = new KubeClient(httpTransport(kc, { userAgent: 'shipping-e2e-as-operator' }));
    const read = asOperator.get<SecretObject>(coreResources.secret, { namespace: other, name: 'not-yours' });
    if (namespaced) {
      const err = await read.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(KubeApiError);
      expect((err as KubeApiError).statusCode).toBe(403);
      // Nor anything cluster-wide but reading the watched Namespace objects by name (the ClusterRoles aggregated
      // into the built-in user roles are for people, not bound to the operator).
      const clusterRules = install.objects
        .filter((o) => o.kind === 'ClusterRole' && !Object.keys(o.metadata.labels ?? {}).some((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-')))
        .flatMap((o) => (o as unknown as { rules: { resources: string[]; resourceNames?: string[]; verbs: string[] }[] }).rules);
      expect(clusterRules).toEqual([{ apiGroups: [''], resources: ['namespaces'], resourceNames: [apps], verbs: ['get'] }]);
    } else {
      expect((await read)?.metadata?.name).toBe('not-yours');
    }
  });

  it('deletes the examples in Neon (finalizers) and stops cleanly on SIGTERM, releasing the Lease', async () => {
    const del = await kubectl(cp, ['delete', '-n', apps, '-f', EXAMPLES, '--wait=false']);
    expect(del.code, del.stderr).toBe(0);
    await eventually('examples gone', async () => ((await liveExamples(apps)).length === 0 ? true : undefined), 90_000, 300);
    expect(emulator.state.projectsOf(emulator.accountOf(apiKey))).toHaveLength(0);
    expect(forbiddenLines(operator)).toEqual([]);
    const exit = await operator.process.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    const lease = await admin.get<{ spec?: { holderIdentity?: string } } & NeonObject>(coreResources.lease, { namespace, name: `${release}-neon-operator-leader` });
    expect(lease?.spec?.holderIdentity ?? '').toBe('');
  });

  it('asked for Secrets only by label (its own), as metadata only, or by name', () => {
    const onSecrets = recorder.requests.filter((r) => SECRETS_PATH.test(r.path));
    expect(onSecrets.map(secretRequestProblem).filter((p) => p !== undefined)).toEqual([]);
    // The run exercised each kind of request (so the check above was not vacuous): the label-selected watch
    // of the connection Secrets, the watch for API key changes (both metadata only), and reads and writes by name.
    const watches = onSecrets.filter((r) => r.query['watch'] === 'true');
    expect(watches.some((r) => (r.query['labelSelector'] ?? '').split(',').includes(MANAGED_BY_US) && METADATA_ONLY.test(r.accept))).toBe(true);
    expect(watches.some((r) => !(r.query['labelSelector'] ?? '').split(',').includes(MANAGED_BY_US) && METADATA_ONLY.test(r.accept))).toBe(true);
    // No Secret is listed or watched with its data.
    expect(onSecrets.filter((r) => r.method === 'GET' && SECRETS_PATH.exec(r.path)?.[2] === undefined && !METADATA_ONLY.test(r.accept))).toEqual([]);
    const lists = onSecrets.filter((r) => r.method === 'GET' && SECRETS_PATH.exec(r.path)?.[2] === undefined && r.query['watch'] === undefined);
    expect(lists.some((r) => /PartialObjectMetadataList/.test(r.accept))).toBe(true);
    expect(onSecrets.filter((r) => r.method === 'PATCH').map((r) => SECRETS_PATH.exec(r.path)?.[2])).toContain('app-db');
    // In namespaced mode, nothing outside the watched namespace was even asked for.
    if (namespaced) expect([...new Set(onSecrets.map((r) => SECRETS_PATH.exec(r.path)?.[1]))]).toEqual([apps]);
  });
});
