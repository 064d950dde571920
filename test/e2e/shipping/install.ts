// Installing the chart's pieces on the test control plane the way a cluster would run them, minus the pod:
// the CRDs, the ServiceAccount and exactly the rendered RBAC; the operator then runs as a local process with
// the Deployment's own arguments and a token for that ServiceAccount (so it holds nothing the chart does not
// grant). Used by the least-privilege and leader-election suites.
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../controlplane/binaries.ts';
import type { ControlPlaneClient } from '../../controlplane/harness.ts';
import { chartDir, ensureNamespaces, helmTemplateOk, kubectl, parseManifests, type ChartValues, type Manifest } from './tools.ts';
import { freePort, OperatorProcess } from './operator-process.ts';

/** Kinds of the chart that are installed for real; the Deployment is replaced by a local process. */
const INSTALLED_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

export interface ChartInstall {
  release: string;
  namespace: string;
  objects: Manifest[];
  /** The operator container's arguments, as rendered. */
  args: string[];
  /** A kubeconfig holding a token of the chart's ServiceAccount. */
  kubeconfigPath: string;
  workDir: string;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/**
 * Renders the chart into `namespace`, applies the generated CRDs (the chart's templates hold the same objects),
 * its ServiceAccount and RBAC (and nothing else) as the admin, and mints a token for the ServiceAccount. `values` are the chart values (merged over none).
 */
export async function installChartRbac(cp: ControlPlaneClient, release: string, namespace: string, values: ChartValues): Promise<ChartInstall> {
  await cp.installCrds(join(repoRoot, 'crds'));
  const objects = parseManifests(await helmTemplateOk(release, namespace, values));
  const namespaces = new Set([namespace, ...objects.map((o) => o.metadata.namespace).filter((n): n is string => n !== undefined)]);
  await ensureNamespaces(cp, [...namespaces]);
  const installed = objects.filter((o) => INSTALLED_KINDS.has(o.kind));
  const r = await kubectl(cp, ['apply', '--server-side', '--field-manager=shipping-test', '-f', '-'], installed.map((o) => JSON.stringify(o)).join('\n'));
  if (r.code !== 0) throw new Error(`installing the chart's RBAC failed: ${r.stderr}`);
  const deployment = objects.find((o) => o.kind === 'Deployment') as (Manifest & { spec: { template: { spec: { serviceAccountName: string; containers: { args: string[] }[] } } } }) | undefined;
  if (!deployment) throw new Error('the chart rendered no Deployment');
  const pod = deployment.spec.template.spec;
  const sa = await cp.mintServiceAccountKubeconfig(namespace, pod.serviceAccountName);
  const workDir = await mkdtemp(join(cp.workDir, `${release}-`));
  return { release, namespace, objects, args: pod.containers[0]?.args ?? [], kubeconfigPath: sa.kubeconfigPath, workDir };
}

export interface StartedOperator {
  process: OperatorProcess;
  metricsUrl: string;
}

/**
 * Starts `node src/main.ts` with the Deployment's arguments (the metrics port replaced by a free one), the
 * ServiceAccount kubeconfig, the emulator's URL and the environment the pod would have
 * (POD_NAMESPACE, NEON_API_KEY from the Secret). Nothing else of this process's environment is passed on.
 */
export async function startOperatorProcess(
  install: ChartInstall,
  options: { podName: string; apiKey: string; neonApiUrl: string; cwd?: string; node?: string; extraArgs?: string[] },
): Promise<StartedOperator> {
  const port = await freePort();
  const args = [
    ...install.args.filter((a) => !a.startsWith('--metrics-port=')),
    `--metrics-port=${port}`,
    `--kubeconfig=${install.kubeconfigPath}`,
    `--neon-api-url=${options.neonApiUrl}`,
    ...(options.extraArgs ?? []),
  ];
  const operatorProcess = new OperatorProcess({
    cwd: options.cwd ?? repoRoot,
    node: options.node ?? process.execPath,
    args,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: install.workDir,
      POD_NAMESPACE: install.namespace,
      NEON_API_KEY: options.apiKey,
    },
    logFile: join(install.workDir, `${options.podName}.log`),
  });
  return { process: operatorProcess, metricsUrl: `http://127.0.0.1:${port}` };
}
