// What a test does with a running cluster given only its admin kubeconfig: install CRDs and wait for them,
// mint a ServiceAccount kubeconfig through TokenRequest. Used by the harness (for its own control plane or an
// existing cluster) and by test workers that only received the kubeconfig path from the global setup.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadYaml,
  PatchStrategy,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { z } from 'zod';

const FIELD_MANAGER = 'neon-operator-test-harness';

const manifestSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({ name: z.string() }),
});

async function manifestFiles(dirOrFile: string): Promise<string[]> {
  if (!(await stat(dirOrFile)).isDirectory()) return [dirOrFile];
  const names = (await readdir(dirOrFile)).filter((n) => ['.yaml', '.yml'].includes(extname(n))).sort();
  return names.map((n) => join(dirOrFile, n));
}

/**
 * Parses every YAML document of the files (a folder: its *.yaml / *.yml files, sorted); skips empty documents.
 * Each document goes through client-node's loadYaml, which maps known kinds to its typed models:
 * KubernetesObjectApi serializes through those models and silently drops keys it only knows in another form
 * (raw YAML's `x-kubernetes-validations` would vanish from a CRD).
 */
export async function readManifests(dirOrFile: string): Promise<KubernetesObject[]> {
  const out: KubernetesObject[] = [];
  for (const file of await manifestFiles(dirOrFile)) {
    for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) continue;
      const parsed = manifestSchema.safeParse(value);
      if (!parsed.success) throw new Error(`${file}: not a Kubernetes object: ${parsed.error.message}`);
      out.push(loadYaml<KubernetesObject>(doc.toString()));
    }
  }
  return out;
}

const crdStatusSchema = z.object({
  status: z
    .object({ conditions: z.array(z.object({ type: z.string(), status: z.string() })).nullish() })
    .nullish(),
});

/**
 * Server-side applies every object of the YAML files in `dirOrFile`, then waits (at most `timeoutMs`) until
 * each CustomResourceDefinition among them is Established. Returns the names of those CRDs.
 */
export async function installCrds(kc: KubeConfig, dirOrFile: string, timeoutMs = 60_000): Promise<string[]> {
  const objects = await readManifests(dirOrFile);
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const obj of objects) {
    await api.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  }
  const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata?.name ?? '');
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (const name of crds) {
    for (;;) {
      const crd = crdStatusSchema.parse(await ext.readCustomResourceDefinition({ name }));
      const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      if (established) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not Established within ${timeoutMs} ms`);
      await sleep(100);
    }
  }
  return crds;
}

/** A kubeconfig that authenticates as a ServiceAccount with a token from the TokenRequest API. */
export interface ServiceAccountKubeconfig {
  readonly kubeconfigPath: string;
  readonly kubeconfig: KubeConfig;
}

/**
 * Mints a token for the existing ServiceAccount `namespace/name` (TokenRequest, `expirationSeconds`, default one
 * hour) and writes a kubeconfig using it, for the admin kubeconfig's cluster, into `dir` (mode 0600).
 */
export async function mintServiceAccountKubeconfig(
  admin: KubeConfig,
  dir: string,
  namespace: string,
  name: string,
  expirationSeconds = 3600,
): Promise<ServiceAccountKubeconfig> {
  const cluster = admin.getCurrentCluster();
  if (cluster === null) throw new Error('the admin kubeconfig has no current cluster');
  const core = admin.makeApiClient(CoreV1Api);
  const response = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds } },
  });
  const token = response.status?.token;
  if (!token) throw new Error(`TokenRequest for ServiceAccount ${namespace}/${name} returned no token`);
  let caData = cluster.caData;
  if (!caData && cluster.caFile) caData = (await readFile(cluster.caFile)).toString('base64');
  const user = `system:serviceaccount:${namespace}:${name}`;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'test',
        cluster: {
          server: cluster.server,
          ...(caData ? { 'certificate-authority-data': caData } : {}),
          ...(cluster.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}),
        },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'test', user, namespace } }],
    'current-context': user,
  };
  const kubeconfigPath = join(dir, `sa-${namespace}-${name}-${Date.now()}.kubeconfig`);
  await writeFile(kubeconfigPath, stringify(doc), { mode: 0o600 });
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromFile(kubeconfigPath);
  return { kubeconfigPath, kubeconfig };
}
