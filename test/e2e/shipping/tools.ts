// What the shipping suites share: the chart tools (helm, kubeconform from `npm run controlplane:build`),
// kubectl against the test control plane, and rendering the chart with given values.
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { binaryPath, repoRoot } from '../../controlplane/binaries.ts';
import type { ControlPlaneClient } from '../../controlplane/harness.ts';
import { schemaLocation, writeKubeconformSchemas } from './kubeconform-schemas.ts';

export const chartDir = resolve(repoRoot, 'charts', 'neon-operator');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws for a non-zero exit (the caller asserts on `code`). */
export function run(file: string, args: readonly string[], options: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      file,
      args,
      { maxBuffer: 256 * 1024 * 1024, cwd: options.cwd ?? repoRoot, env: options.env ?? process.env },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolvePromise({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Like {@link run}, but a non-zero exit throws with the command's stderr. */
export async function runOk(file: string, args: readonly string[], options: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await run(file, args, options);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export type ChartValues = Record<string, unknown>;

/** `helm template` of the chart (CRDs included) into `namespace` with `values` (as a values file). */
export async function helmTemplate(release: string, namespace: string, values: ChartValues = {}): Promise<RunResult> {
  return run(binaryPath('helm'), [
    'template', release, chartDir, '--namespace', namespace, '--include-crds', '--values', '-',
  ], { input: JSON.stringify(values) });
}

export async function helmTemplateOk(release: string, namespace: string, values: ChartValues = {}): Promise<string> {
  const r = await helmTemplate(release, namespace, values);
  if (r.code !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return r.stdout;
}

export const manifestSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional(), labels: z.record(z.string(), z.string()).optional() }),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** Every non-empty YAML document of a multi-document text, as Kubernetes objects. */
export function parseManifests(text: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(doc.errors[0]?.message);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    out.push(manifestSchema.parse(value));
  }
  return out;
}

/** Strict kubeconform against offline schemas (see kubeconform-schemas.ts); `extra` e.g. `-skip Kind`. */
export class Kubeconform {
  readonly #dir: string;
  private constructor(dir: string) {
    this.#dir = dir;
  }

  /** Writes the schemas of every kind the control plane serves plus the operator's CRDs into a temp folder. */
  static async forControlPlane(cp: ControlPlaneClient): Promise<Kubeconform> {
    const dir = await mkdtemp(join(cp.workDir, 'kubeconform-'));
    const openapi = await runOk('kubectl', [`--kubeconfig=${cp.kubeconfigPath}`, 'get', '--raw', '/openapi/v2']);
    await writeKubeconformSchemas(openapi, dir);
    return new Kubeconform(dir);
  }

  validate(manifests: string, extra: readonly string[] = []): Promise<RunResult> {
    return run(binaryPath('kubeconform'), [
      '-strict', '-summary', '-output', 'text', '-schema-location', schemaLocation(this.#dir), ...extra, '-',
    ], { input: manifests });
  }
}

/** kubectl with the control plane's admin kubeconfig and a discovery cache of its own. */
export function kubectl(cp: ControlPlaneClient, args: readonly string[], input?: string): Promise<RunResult> {
  return run('kubectl', [`--kubeconfig=${cp.kubeconfigPath}`, `--cache-dir=${join(cp.workDir, 'kubectl-shipping')}`, ...args], input !== undefined ? { input } : {});
}

/** Creates namespaces (already existing ones are fine). */
export async function ensureNamespaces(cp: ControlPlaneClient, names: readonly string[]): Promise<void> {
  const docs = names.map((n) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${n}\n`).join('---\n');
  const r = await kubectl(cp, ['apply', '-f', '-'], docs);
  if (r.code !== 0) throw new Error(`creating namespaces failed: ${r.stderr}`);
}
