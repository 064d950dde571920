// The Helm chart: lint, strict kubeconform with real schemas (the test API server's own for built-in kinds, the
// generated CRDs' for the operator's kinds), acceptance by the real API server (server-side dry run), and the
// properties users rely on: least-privilege RBAC in both watch modes, the pod's security settings, leader
// election with more than one replica, and values.schema.json rejecting mistakes.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { generateCrdFiles } from '../../../src/api/crd.ts';
import { parseConfig } from '../../../src/operator/config.ts';
import { OPERATOR_VERSION } from '../../../src/version.ts';
import { binaryPath, repoRoot } from '../../controlplane/binaries.ts';
import { useControlPlane } from '../../controlplane/e2e.ts';
import {
  chartDir,
  ensureNamespaces,
  helmTemplate,
  helmTemplateOk,
  Kubeconform,
  kubectl,
  parseManifests,
  run,
  type ChartValues,
  type Manifest,
} from './tools.ts';

const cp = useControlPlane();
let kubeconform: Kubeconform;

beforeAll(async () => {
  kubeconform = await Kubeconform.forControlPlane(cp);
});

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}
type RoleLike = Manifest & { rules: PolicyRule[] };

function byKind(objects: Manifest[], kind: string): Manifest[] {
  return objects.filter((o) => o.kind === kind);
}

/** The roles the operator's ServiceAccount is bound to (not the user-facing roles the chart aggregates). */
function operatorRoles(objects: Manifest[], kind: 'ClusterRole' | 'Role'): RoleLike[] {
  const bound = new Set(
    [...byKind(objects, 'ClusterRoleBinding'), ...byKind(objects, 'RoleBinding')].map((b) => (b as Manifest & { roleRef: { kind: string; name: string } }).roleRef).map((r) => `${r.kind}/${r.name}`),
  );
  return (byKind(objects, kind) as RoleLike[]).filter((r) => bound.has(`${kind}/${r.metadata.name}`));
}

/** The ClusterRoles aggregated into Kubernetes' admin, edit and view roles. */
function aggregatedRoles(objects: Manifest[]): RoleLike[] {
  return (byKind(objects, 'ClusterRole') as RoleLike[]).filter((r) =>
    Object.keys(r.metadata.labels ?? {}).some((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-')),
  );
}

/** The (namespace → verbs) a set of rules grants on one resource, e.g. `secrets`. */
function grants(roles: RoleLike[], group: string, resource: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const role of roles) {
    const scope = role.kind === 'ClusterRole' ? '*' : (role.metadata.namespace ?? '?');
    for (const rule of role.rules) {
      if (!rule.apiGroups?.includes(group) || !rule.resources?.includes(resource)) continue;
      const verbs = out.get(scope) ?? new Set<string>();
      for (const v of rule.verbs) verbs.add(v);
      out.set(scope, verbs);
    }
  }
  return out;
}

interface Container {
  args: string[];
  env: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts: { name: string; mountPath: string }[];
}
interface DeploymentLike extends Manifest {
  spec: { replicas: number; strategy: { type: string }; template: { spec: { securityContext: Record<string, unknown>; serviceAccountName: string; containers: Container[] } } };
}

function deploymentOf(objects: Manifest[]): DeploymentLike {
  const [deployment, ...more] = byKind(objects, 'Deployment');
  expect(more).toHaveLength(0);
  return deployment as DeploymentLike;
}

const variants: [string, string, ChartValues][] = [
  ['all namespaces (defaults)', 'shipping-chart-all', { neonApiKey: { existingSecret: 'neon-api-key', key: 'api-key' } }],
  [
    'namespaced, two replicas, ServiceMonitor off',
    'shipping-chart-ns',
    { replicaCount: 2, watch: { namespaces: ['shipping-team-a', 'shipping-team-b'] }, neonApiKey: { existingSecret: 'neon-api-key', key: 'api-key' } },
  ],
  ['no leader election, no metrics Service', 'shipping-chart-single', { leaderElection: { enabled: false }, metrics: { port: 9090, service: { enabled: false }, serviceMonitor: { enabled: false } } }],
];

describe('the Helm chart', () => {
  it('passes helm lint --strict, with the default values and namespaced values', async () => {
    for (const set of [[], ['--set', 'watch.namespaces={a,b}', '--set', 'replicaCount=2']]) {
      const r = await run(binaryPath('helm'), ['lint', '--strict', chartDir, ...set]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('0 chart(s) failed');
    }
  });

  it('has the version of the operator it installs (chart, appVersion, package.json, src/version.ts)', async () => {
    const chart = parse(await readFile(join(chartDir, 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string };
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(chart.appVersion).toBe(OPERATOR_VERSION);
    expect(pkg.version).toBe(OPERATOR_VERSION);
    expect(chart.version).toBe(OPERATOR_VERSION);
  });

  it('installs the generated CRDs from templates, so helm upgrade updates them: kept on uninstall, off with crds.enabled=false', async () => {
    // A crds/ folder would also be installed (twice, failing on ownership) and never upgraded.
    expect(existsSync(join(chartDir, 'crds'))).toBe(false);
    const generated = new Map([...generateCrdFiles().values()].map((text) => {
      const crd = parse(text) as Manifest;
      return [crd.metadata.name, crd];
    }));
    const crdsOf = async (values: ChartValues) => byKind(parseManifests(await helmTemplateOk('rel', 'ns', values)), 'CustomResourceDefinition');

    const rendered = await crdsOf({});
    expect(rendered.map((c) => c.metadata.name).sort()).toEqual([...generated.keys()].sort());
    for (const crd of rendered) {
      const { annotations, labels, ...metadata } = crd.metadata as Manifest['metadata'] & { annotations?: Record<string, string> };
      const expected = generated.get(crd.metadata.name);
      // The same object as crds/ (spec byte for byte once parsed), plus the release's labels and the keep policy.
      expect({ ...crd, metadata }).toEqual({ ...expected, metadata: { name: expected?.metadata.name } });
      expect(labels).toMatchObject({ ...expected?.metadata.labels, 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'rel' });
      expect(annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    }
    for (const crd of await crdsOf({ crds: { enabled: true, keep: false } })) {
      expect((crd.metadata as { annotations?: unknown }).annotations).toBeUndefined();
    }
    expect(await crdsOf({ crds: { enabled: false, keep: true } })).toEqual([]);
    // Values of a release made with a chart that had no `crds` (what helm upgrade --reuse-values passes on).
    const unset = await helmTemplate('rel', 'ns', { crds: null });
    expect(unset.code).not.toBe(0);
    expect(unset.stderr).toContain('upgrade with --reset-then-reuse-values instead of --reuse-values');
  });

  describe.each(variants)('rendered %s', (_name, namespace, values) => {
    let text: string;
    let objects: Manifest[];
    beforeAll(async () => {
      text = await helmTemplateOk('neon-operator', namespace, values);
      objects = parseManifests(text);
    });

    it('is valid for kubeconform -strict with the schemas of every kind (CRDs included)', async () => {
      const r = await kubeconform.validate(text);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      // Every object was checked against a schema: nothing skipped, nothing missing.
      expect(r.stdout).toMatch(new RegExp(`Valid: ${objects.length}, Invalid: 0, Errors: 0, Skipped: 0`));
    });

    it('is accepted by the API server (kubectl apply --dry-run=server)', async () => {
      const namespaces = new Set(objects.map((o) => o.metadata.namespace).filter((n): n is string => n !== undefined));
      await ensureNamespaces(cp, [...namespaces]);
      const r = await kubectl(cp, ['apply', '--dry-run=server', '--server-side', '--field-manager=shipping-test', '-f', '-'], text);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(objects.length);
    });

    it('runs the operator non-root, read-only, without capabilities, with probes and resources', () => {
      const deployment = deploymentOf(objects);
      const pod = deployment.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      const [container] = pod.containers;
      expect(container).toBeDefined();
      if (!container) return;
      expect(container.securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(container.livenessProbe.httpGet.path).toBe('/healthz');
      expect(container.readinessProbe.httpGet.path).toBe('/readyz');
      expect(container.resources.requests?.['memory']).toBeDefined();
      expect(container.resources.limits?.['memory']).toBeDefined();
      expect(container.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
      const sa = byKind(objects, 'ServiceAccount')[0];
      expect(pod.serviceAccountName).toBe(sa?.metadata.name);
    });
  });

  it('in namespaced mode grants nothing cluster-wide but reading the watched Namespaces: Roles only there, Secrets nowhere else', async () => {
    const objects = parseManifests(
      await helmTemplateOk('neon-operator', 'shipping-chart-ns', { watch: { namespaces: ['shipping-team-a', 'shipping-team-b'] } }),
    );
    const clusterRoles = operatorRoles(objects, 'ClusterRole');
    expect(byKind(objects, 'ClusterRole')).toHaveLength(clusterRoles.length + aggregatedRoles(objects).length);
    expect(clusterRoles.flatMap((r) => r.rules)).toEqual([
      { apiGroups: [''], resources: ['namespaces'], resourceNames: ['shipping-team-a', 'shipping-team-b'], verbs: ['get'] },
    ]);
    expect(byKind(objects, 'ClusterRoleBinding').map((b) => (b as Manifest & { roleRef: { name: string } }).roleRef.name)).toEqual(
      clusterRoles.map((r) => r.metadata.name),
    );
    const roles = byKind(objects, 'Role') as RoleLike[];
    const secrets = grants(roles, '', 'secrets');
    expect([...secrets.keys()].sort()).toEqual(['shipping-team-a', 'shipping-team-b']);
    // In the release namespace: the leader-election Role has leases only, the view's Role its one ConfigMap only.
    const inRelease = roles.filter((r) => r.metadata.namespace === 'shipping-chart-ns');
    expect(inRelease.map((r) => r.rules.flatMap((rule) => rule.resources ?? [])).sort()).toEqual([['configmaps', 'configmaps'], ['leases', 'leases']]);
    const bindings = byKind(objects, 'RoleBinding');
    expect(bindings.map((b) => b.metadata.namespace).sort()).toEqual(['shipping-chart-ns', 'shipping-chart-ns', 'shipping-team-a', 'shipping-team-b']);
    const args = deploymentOf(objects).spec.template.spec.containers[0]?.args ?? [];
    expect(args).toContain('--namespaces=shipping-team-a,shipping-team-b');
  });

  it('in all-namespaces mode grants exactly the documented verbs, and only leases and one ConfigMap in its own namespace', async () => {
    const objects = parseManifests(await helmTemplateOk('neon-operator', 'shipping-chart-all'));
    const roles = [...operatorRoles(objects, 'ClusterRole'), ...operatorRoles(objects, 'Role')];
    expect(byKind(objects, 'ClusterRole').length + byKind(objects, 'Role').length).toBe(roles.length + aggregatedRoles(objects).length);
    const kinds = ['neonprojects', 'neonbranches', 'neonendpoints', 'neonroles', 'neondatabases'];
    for (const kind of kinds) {
      expect([...(grants(roles, 'neon-operator.dev', kind).get('*') ?? [])].sort()).toEqual(['get', 'list', 'patch', 'watch']);
      expect([...(grants(roles, 'neon-operator.dev', `${kind}/status`).get('*') ?? [])].sort()).toEqual(['get', 'patch']);
      // No blockOwnerDeletion on the Secrets' owner references, so no update on finalizers.
      expect(grants(roles, 'neon-operator.dev', `${kind}/finalizers`).size).toBe(0);
    }
    expect([...(grants(roles, '', 'secrets').get('*') ?? [])].sort()).toEqual(['create', 'delete', 'get', 'list', 'patch', 'watch']);
    expect([...(grants(roles, '', 'namespaces').get('*') ?? [])]).toEqual(['get']);
    expect([...(grants(roles, 'events.k8s.io', 'events').get('*') ?? [])].sort()).toEqual(['create', 'patch']);
    const leases = grants(roles, 'coordination.k8s.io', 'leases');
    expect([...leases.keys()]).toEqual(['shipping-chart-all']);
    expect([...(leases.get('shipping-chart-all') ?? [])].sort()).toEqual(['create', 'get', 'update']);
    // The project view's checkpoint: one ConfigMap in its own namespace, read and patched by name.
    const configMapRules = roles.flatMap((r) => r.rules.filter((rule) => rule.resources?.includes('configmaps')).map((rule) => ({ ns: r.metadata.namespace, ...rule })));
    expect(configMapRules).toEqual([
      { ns: 'shipping-chart-all', apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
      { ns: 'shipping-chart-all', apiGroups: [''], resources: ['configmaps'], resourceNames: ['neon-operator-leader-neon-view'], verbs: ['get', 'patch'] },
    ]);
    // Nothing else: no wildcard; the only delete is of (the operator's own, old) connection Secrets.
    for (const role of roles) {
      for (const rule of role.rules) {
        expect(rule.verbs).not.toContain('*');
        expect(rule.resources).not.toContain('*');
        if (rule.verbs.includes('delete')) expect(rule.resources).toEqual(['secrets']);
      }
    }
  });

  it("aggregates the five kinds (never their /status) into Kubernetes' admin, edit and view roles, unless turned off", async () => {
    // A release name of its own: the ClusterRoles applied below must not collide with the other tests' dry runs.
    const objects = parseManifests(await helmTemplateOk('users', 'shipping-chart-users'));
    const aggregated = aggregatedRoles(objects);
    const labelsOf = (r: RoleLike) => Object.keys(r.metadata.labels ?? {}).filter((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-')).sort();
    expect(aggregated.map(labelsOf)).toEqual([
      ['rbac.authorization.k8s.io/aggregate-to-admin', 'rbac.authorization.k8s.io/aggregate-to-edit'],
      ['rbac.authorization.k8s.io/aggregate-to-view'],
    ]);
    const kinds = ['neonprojects', 'neonbranches', 'neonendpoints', 'neonroles', 'neondatabases'];
    for (const kind of kinds) {
      expect([...(grants(aggregated.slice(0, 1), 'neon-operator.dev', kind).get('*') ?? [])]).toContain('create');
      expect([...(grants(aggregated.slice(1), 'neon-operator.dev', kind).get('*') ?? [])].sort()).toEqual(['get', 'list', 'watch']);
    }
    expect(aggregated.flatMap((r) => r.rules.flatMap((rule) => rule.resources ?? [])).filter((res) => res.includes('/'))).toEqual([]);
    expect(aggregatedRoles(parseManifests(await helmTemplateOk('users', 'shipping-chart-users', { rbac: { create: true, aggregateToDefaultRoles: false } })))).toEqual([]);

    // On the real API server: a user with the built-in edit role in a namespace may create NeonBranches there but
    // not write their status (the aggregation controller of kube-controller-manager merges the rules in).
    const apply = await kubectl(cp, ['apply', '--server-side', '--field-manager=chart-test', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: aggregated }));
    expect(apply.code, apply.stderr).toBe(0);
    await cp.installCrds(join(repoRoot, 'crds'));
    await ensureNamespaces(cp, ['shipping-team-users']);
    const bind = await kubectl(cp, ['-n', 'shipping-team-users', 'create', 'rolebinding', 'alice-edit', '--clusterrole=edit', '--user=alice']);
    expect(bind.code, bind.stderr).toBe(0);
    const can = async (verb: string, resource: string, subresource?: string) => {
      const args = ['auth', 'can-i', verb, resource, '-n', 'shipping-team-users', '--as=alice', ...(subresource ? [`--subresource=${subresource}`] : [])];
      for (let i = 0; i < 50; i++) {
        const r = await kubectl(cp, args);
        if (r.stdout.trim() === 'yes' || subresource) return r.stdout.trim();
        await new Promise((resolve) => setTimeout(resolve, 200)); // the aggregation controller needs a moment
      }
      return 'no';
    };
    expect(await can('create', 'neonbranches.neon-operator.dev')).toBe('yes');
    expect(await can('patch', 'neonbranches.neon-operator.dev', 'status')).toBe('no');
  });

  it('turns leader election on with more than one replica, and uses Recreate without it', async () => {
    const forced = deploymentOf(parseManifests(await helmTemplateOk('x', 'ns', { replicaCount: 2, leaderElection: { enabled: false } })));
    expect(forced.spec.replicas).toBe(2);
    expect(forced.spec.template.spec.containers[0]?.args).toContain('--leader-elect');
    expect(forced.spec.strategy.type).toBe('RollingUpdate');
    const pdb = parseManifests(await helmTemplateOk('x', 'ns', { replicaCount: 2 })).filter((o) => o.kind === 'PodDisruptionBudget');
    expect(pdb.map((o) => (o as Manifest & { spec: { minAvailable: number } }).spec.minAvailable)).toEqual([1]);
    expect(parseManifests(await helmTemplateOk('x', 'ns')).filter((o) => o.kind === 'PodDisruptionBudget')).toEqual([]);
    const single = deploymentOf(parseManifests(await helmTemplateOk('x', 'ns', { leaderElection: { enabled: false } })));
    expect(single.spec.template.spec.containers[0]?.args).not.toContain('--leader-elect');
    expect(single.spec.template.spec.containers[0]?.args).toContain('--no-leader-elect');
    expect(single.spec.strategy.type).toBe('Recreate');
  });

  it('passes only flags the operator accepts, meaning what the values say (parsed by src/operator/config.ts)', async () => {
    const deployment = deploymentOf(
      parseManifests(
        await helmTemplateOk('rel', 'ops', {
          watch: { namespaces: ['team-a', 'team-b'] },
          resyncPeriod: '1h30m',
          shutdownTimeout: '12.5s',
          logLevel: 'debug',
          neonApiUrl: 'http://neon.internal:8080/api/v2',
          replicaCount: 2,
          concurrency: 8,
        }),
      ),
    );
    const args = deployment.spec.template.spec.containers[0]?.args ?? [];
    const parsed = parseConfig(args, { NEON_API_KEY: 'from-the-secret', POD_NAMESPACE: 'ops' });
    expect(parsed.help).toBe(false);
    if (parsed.help) return;
    expect(parsed.config).toMatchObject({
      namespaces: ['team-a', 'team-b'],
      resyncPeriodMs: 5_400_000,
      logLevel: 'debug',
      neonApiUrl: 'http://neon.internal:8080/api/v2',
      concurrency: 8,
      metricsPort: 8080,
      shutdownTimeoutMs: 12_500,
      leaderElection: { enabled: true, namespace: 'ops', name: 'rel-neon-operator-leader' },
    });
    const single = deploymentOf(parseManifests(await helmTemplateOk('rel', 'ops', { leaderElection: { enabled: false } })));
    const singleParsed = parseConfig(single.spec.template.spec.containers[0]?.args ?? [], { NEON_API_KEY: 'k' });
    expect(singleParsed.help === false && singleParsed.config.leaderElection.enabled).toBe(false);
  });

  it('reads the API key from the existing Secret into NEON_API_KEY (the operator needs no access to it)', async () => {
    const deployment = deploymentOf(parseManifests(await helmTemplateOk('x', 'ns', { neonApiKey: { existingSecret: 'my-key', key: 'token' } })));
    const env = deployment.spec.template.spec.containers[0]?.env ?? [];
    expect(env.find((e) => e.name === 'NEON_API_KEY')?.valueFrom?.secretKeyRef).toEqual({ name: 'my-key', key: 'token' });
  });

  it('renders a ServiceMonitor for the metrics Service when asked (schema not available offline: checked by shape)', async () => {
    const text = await helmTemplateOk('x', 'ns', { metrics: { port: 8080, service: { enabled: false }, serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'prom' } } } });
    const objects = parseManifests(text);
    const monitor = byKind(objects, 'ServiceMonitor')[0] as (Manifest & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string; interval: string }[] } }) | undefined;
    const service = byKind(objects, 'Service')[0] as (Manifest & { spec: { selector: Record<string, string>; ports: { name: string }[] } }) | undefined;
    expect(monitor?.metadata.labels).toMatchObject({ release: 'prom' });
    expect(monitor?.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s', scrapeTimeout: '10s' }]);
    // The ServiceMonitor selects the metrics Service (forced on), by labels the Service has.
    expect(service?.spec.ports.map((p) => p.name)).toEqual(['metrics']);
    for (const [k, v] of Object.entries(monitor?.spec.selector.matchLabels ?? {})) expect(service?.metadata.labels?.[k]).toBe(v);
    // Everything else in that rendering is still strictly valid.
    const r = await kubeconform.validate(text, ['-skip', 'ServiceMonitor']);
    expect(r.code, r.stdout).toBe(0);
  });

  it('rejects values that are not in values.schema.json, naming the field', async () => {
    const cases: [ChartValues, RegExp][] = [
      [{ logLevel: 'loud' }, /logLevel/],
      [{ resyncPeriod: 'ten minutes' }, /resyncPeriod/],
      [{ watch: { namespaces: ['Not_A_Namespace'] } }, /namespaces/],
      [{ neonApiKey: { existingSecret: 'k', key: 'api-key', extra: 1 } }, /extra/],
      [{ replicas: 2 }, /replicas/],
      [{ neonApiKey: { existingSecret: '', key: 'api-key' } }, /existingSecret/],
      [{ crds: { enabled: 'yes' } }, /crds/],
      [{ crds: { enabled: true, keep: true, installCRDs: true } }, /installCRDs/],
      [{ resyncPeriod: '0s' }, /resyncPeriod/],
      [{ metrics: { port: 8080, service: { enabled: true }, serviceMonitor: { interval: '1.5m' } } }, /interval/],
    ];
    for (const [values, message] of cases) {
      const r = await helmTemplate('x', 'ns', values);
      expect(r.code, JSON.stringify(values)).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
  });

  it('kubeconform really checks: a misspelt field fails in a built-in kind and in a Neon kind', async () => {
    const badDeployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  selector: {}\n  templat: {}\n';
    const badBranch = 'apiVersion: neon-operator.dev/v1alpha1\nkind: NeonBranch\nmetadata:\n  name: a\nspec:\n  projectRef: {name: p}\n  protectd: true\n';
    for (const [bad, field] of [[badDeployment, 'templat'], [badBranch, 'protectd']] as const) {
      const r = await kubeconform.validate(bad);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toContain(field);
    }
  });
});
