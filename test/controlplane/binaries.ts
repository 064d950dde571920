// Where the control-plane and chart-tool binaries are: the same rules as build.sh, so a binary given from
// outside (envtest's KUBEBUILDER_ASSETS or one TEST_ASSET_* variable) wins over the build cache.
import { accessSync, constants, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (two folders above this file). */
export const repoRoot = resolve(here, '..', '..');

export type BinaryName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'helm' | 'kubeconform';

const envVarOf: Record<BinaryName, string> = {
  etcd: 'TEST_ASSET_ETCD',
  'kube-apiserver': 'TEST_ASSET_KUBE_APISERVER',
  'kube-controller-manager': 'TEST_ASSET_KUBE_CONTROLLER_MANAGER',
  helm: 'TEST_ASSET_HELM',
  kubeconform: 'TEST_ASSET_KUBECONFORM',
};

/** The pinned versions from versions.env (KEY=VALUE lines; `#` starts a comment). */
export function readVersions(): Record<string, string> {
  const text = readFileSync(join(here, 'versions.env'), 'utf8');
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(\S+)\s*$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

/** The folder build.sh writes into: `$CONTROLPLANE_CACHE_DIR` or `.cache/controlplane`, then `<k8s version>/bin`. */
export function cacheBinDir(): string {
  const version = readVersions()['KUBERNETES_VERSION'];
  if (version === undefined) throw new Error('test/controlplane/versions.env has no KUBERNETES_VERSION');
  const root = process.env['CONTROLPLANE_CACHE_DIR'] ?? join(repoRoot, '.cache', 'controlplane');
  return join(root, version, 'bin');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The path of one binary: its TEST_ASSET_* variable, else `$KUBEBUILDER_ASSETS/<name>`, else the build cache.
 * Throws, saying how to build it, when none of them holds an executable.
 */
export function binaryPath(name: BinaryName): string {
  const candidates: string[] = [];
  const fromVar = process.env[envVarOf[name]];
  if (fromVar) {
    if (!isExecutable(fromVar)) throw new Error(`${envVarOf[name]}=${fromVar} is not an executable file`);
    return fromVar;
  }
  const assets = process.env['KUBEBUILDER_ASSETS'];
  if (assets) candidates.push(join(assets, name));
  candidates.push(join(cacheBinDir(), name));
  for (const candidate of candidates) if (isExecutable(candidate)) return candidate;
  throw new Error(
    `${name} not found (looked at ${candidates.join(', ')}). Build the test control plane with ` +
      '`npm run controlplane:build`, or point KUBEBUILDER_ASSETS / ' + envVarOf[name] + ' at an existing binary.',
  );
}
