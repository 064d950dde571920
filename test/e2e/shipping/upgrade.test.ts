// Upgrading the chart with real helm on the test control plane: a chart version whose CRD lacks a field prunes
// it from objects; `helm upgrade` to the chart with templated CRDs updates the CRD, and the field is kept from
// then on. Two starting points: a release of the templated chart, and one of the earlier layout with a crds/
// folder (which Helm never upgrades), migrated the way deploy/README.md says. `helm uninstall` leaves the CRDs
// and the objects. The suites share one API server whose neon-operator.dev CRDs other files use, so every
// chart here serves the same CRDs under a group of its own.
import { cp as copyDir, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { buildCrd, generateCrdChartTemplates, renderCrdYaml, type CustomResourceDefinition } from '../../../src/api/crd.ts';
import { allKinds } from '../../../src/api/kinds.ts';
import { binaryPath } from '../../controlplane/binaries.ts';
import { useControlPlane } from '../../controlplane/e2e.ts';
import { uniqueName } from './install.ts';
import { chartDir, kubectl, run, runOk, type RunResult } from './tools.ts';

const cp = useControlPlane();
/** The field the older chart's NeonBranch CRD does not know. */
const ADDED_FIELD = 'protected';
let workDir: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(join(cp.workDir, 'upgrade-'));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

/** The operator's CRDs under `group`, optionally without NeonBranch's spec.protected (an older version). */
function crdsInGroup(group: string, options: { withoutAddedField: boolean }): CustomResourceDefinition[] {
  return allKinds.map((kind) => {
    const crd = structuredClone(buildCrd(kind));
    crd.spec.group = group;
    crd.metadata.name = `${crd.spec.names.plural}.${group}`;
    // Out of the `neon` category and without short names: other suites run `kubectl get neon` on the same API
    // server, and a category member deleted under them makes kubectl fail.
    delete (crd.spec.names as { categories?: string[] }).categories;
    delete (crd.spec.names as { shortNames?: string[] }).shortNames;
    const spec = crd.spec.versions[0]?.schema.openAPIV3Schema.properties?.['spec'];
    if (options.withoutAddedField && crd.spec.names.kind === 'NeonBranch') {
      expect(spec?.properties?.[ADDED_FIELD]).toBeDefined();
      delete spec?.properties?.[ADDED_FIELD];
    }
    return crd;
  });
}

/**
 * A copy of the chart serving `crds`: as templates (this chart's layout), or in a crds/ folder with no `crds`
 * values (the layout of the chart before templated CRDs).
 */
async function chartWith(name: string, crds: CustomResourceDefinition[], layout: 'templates' | 'crds-folder'): Promise<string> {
  const dir = join(workDir, name);
  await copyDir(chartDir, dir, { recursive: true });
  await rm(join(dir, 'templates', 'crds'), { recursive: true });
  if (layout === 'templates') {
    await mkdir(join(dir, 'templates', 'crds'));
    for (const [file, text] of generateCrdChartTemplates(crds)) await writeFile(join(dir, 'templates', 'crds', file), text);
  } else {
    await mkdir(join(dir, 'crds'));
    for (const crd of crds) await writeFile(join(dir, 'crds', `${crd.metadata.name}.yaml`), renderCrdYaml(crd));
    const values = parseDocument(await readFile(join(dir, 'values.yaml'), 'utf8'));
    values.delete('crds');
    await writeFile(join(dir, 'values.yaml'), values.toString());
  }
  return dir;
}

/** Helm against the control plane, with a home of its own (no repositories, no cache of the machine's). */
function helmCall(args: readonly string[]): [string, string[], { env: NodeJS.ProcessEnv }] {
  const env = {
    ...process.env,
    HELM_CACHE_HOME: join(workDir, 'helm', 'cache'),
    HELM_CONFIG_HOME: join(workDir, 'helm', 'config'),
    HELM_DATA_HOME: join(workDir, 'helm', 'data'),
  };
  return [binaryPath('helm'), [...args, `--kubeconfig=${cp.kubeconfigPath}`], { env }];
}
const helm = (args: readonly string[]): Promise<RunResult> => run(...helmCall(args));
const helmOk = (args: readonly string[]): Promise<string> => runOk(...helmCall(args));

/** A release of its own: namespace, group, and cleanup (uninstall, then the kept CRDs, then the namespace). */
function release(prefix: string) {
  const name = uniqueName(prefix);
  const group = `${name}.neon-operator.test`;
  cleanups.push(
    () => helm(['uninstall', name, '--namespace', name, '--timeout=30s']),
    () => kubectl(cp, ['delete', 'crd', '--ignore-not-found', '--wait=false', ...allKinds.map((k) => `${k.plural}.${group}`)]),
    () => kubectl(cp, ['delete', 'namespace', '--ignore-not-found', '--wait=false', name]),
  );
  return { name, namespace: name, group, branchCrd: `neonbranches.${group}` };
}
type Release = ReturnType<typeof release>;

const branchSchema = z.object({ spec: z.record(z.string(), z.unknown()) });

/**
 * Applies a NeonBranch that sets the added field, the way most clients write (GitOps tools, the operator's own
 * patches, kubectl with --validate=warn): an unknown field is dropped with a mere warning. Returns the spec the
 * API server stored and whether it warned about the field.
 */
async function applyBranch(rel: Release, name: string): Promise<{ spec: Record<string, unknown>; warned: boolean }> {
  const branch = {
    apiVersion: `${rel.group}/v1alpha1`,
    kind: 'NeonBranch',
    metadata: { name, namespace: rel.namespace },
    spec: { projectRef: { name: 'demo' }, [ADDED_FIELD]: true },
  };
  const applied = await kubectl(cp, ['apply', '--validate=warn', '-f', '-'], JSON.stringify(branch));
  expect(applied.code, applied.stderr).toBe(0);
  const stored = await kubectl(cp, ['get', rel.branchCrd, name, '--namespace', rel.namespace, '-o', 'json']);
  expect(stored.code, stored.stderr).toBe(0);
  return { spec: branchSchema.parse(JSON.parse(stored.stdout)).spec, warned: applied.stderr.includes(`unknown field "spec.${ADDED_FIELD}"`) };
}
// deletionPolicy is the CRD's default.
const pruned = { spec: { projectRef: { name: 'demo' }, deletionPolicy: 'Delete' }, warned: true };
const kept = { spec: { projectRef: { name: 'demo' }, deletionPolicy: 'Delete', [ADDED_FIELD]: true }, warned: false };

async function waitEstablished(rel: Release): Promise<void> {
  await runOk('kubectl', [`--kubeconfig=${cp.kubeconfigPath}`, 'wait', '--for=condition=Established', '--timeout=60s', `crd/${rel.branchCrd}`]);
}

/**
 * After a CRD update the API server switches to the new schema on its own schedule: re-apply until the field
 * is stored (bounded; the field never appearing fails the test).
 */
async function applyBranchUntilKept(rel: Release, name: string): Promise<Awaited<ReturnType<typeof applyBranch>>> {
  let result = await applyBranch(rel, name);
  for (let attempt = 0; attempt < 60 && !(ADDED_FIELD in result.spec); attempt++) {
    await new Promise((r) => setTimeout(r, 500));
    result = await applyBranch(rel, name);
  }
  return result;
}

async function crdAnnotations(rel: Release): Promise<Record<string, string>> {
  const r = await kubectl(cp, ['get', 'crd', rel.branchCrd, '-o', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return z.object({ metadata: z.object({ annotations: z.record(z.string(), z.string()).default({}) }) }).parse(JSON.parse(r.stdout)).metadata.annotations;
}

/** helm uninstall keeps the CRDs (crds.keep) and so the objects. */
async function expectUninstallKeepsCrdsAndObjects(rel: Release, objectName: string): Promise<void> {
  await helmOk(['uninstall', rel.name, '--namespace', rel.namespace]);
  expect((await kubectl(cp, ['get', 'crd', rel.branchCrd])).code).toBe(0);
  const kept = await kubectl(cp, ['get', rel.branchCrd, objectName, '--namespace', rel.namespace, '-o', 'json']);
  expect(kept.code, kept.stderr).toBe(0);
  expect(branchSchema.parse(JSON.parse(kept.stdout)).spec[ADDED_FIELD]).toBe(true);
}

describe('helm upgrade of the CRDs', () => {
  it('from a templated chart whose CRD lacks a field: pruned before, kept after the upgrade, kept on uninstall', async () => {
    const rel = release('upg');
    const older = await chartWith('older', crdsInGroup(rel.group, { withoutAddedField: true }), 'templates');
    const newer = await chartWith('newer', crdsInGroup(rel.group, { withoutAddedField: false }), 'templates');

    await helmOk(['install', rel.name, older, '--namespace', rel.namespace, '--create-namespace']);
    await waitEstablished(rel);
    // The API server drops what the installed CRD does not know, with a warning and no error.
    expect(await applyBranch(rel, 'dev')).toEqual(pruned);

    await helmOk(['upgrade', rel.name, newer, '--namespace', rel.namespace]);
    expect(await applyBranchUntilKept(rel, 'dev')).toEqual(kept);
    expect(await crdAnnotations(rel)).toMatchObject({ 'helm.sh/resource-policy': 'keep', 'meta.helm.sh/release-name': rel.name });

    await expectUninstallKeepsCrdsAndObjects(rel, 'dev');
  });

  it('from the earlier crds/ folder layout: --reset-then-reuse-values and --take-ownership, as deploy/README.md says', async () => {
    const rel = release('mig');
    const legacy = await chartWith('legacy', crdsInGroup(rel.group, { withoutAddedField: true }), 'crds-folder');
    const newer = await chartWith('newer-mig', crdsInGroup(rel.group, { withoutAddedField: false }), 'templates');

    await helmOk(['install', rel.name, legacy, '--namespace', rel.namespace, '--create-namespace', '--set', 'concurrency=7']);
    await waitEstablished(rel);
    expect(await applyBranch(rel, 'dev')).toEqual(pruned);
    // Helm does not own CRDs it installed from crds/.
    expect(await crdAnnotations(rel)).not.toHaveProperty('meta.helm.sh/release-name');

    // --reuse-values would keep the old release's values, which have no `crds`: a clear refusal, nothing changed.
    const reused = await helm(['upgrade', rel.name, newer, '--namespace', rel.namespace, '--reuse-values']);
    expect(reused.code).not.toBe(0);
    expect(reused.stderr).toContain('--reset-then-reuse-values');
    // Without --take-ownership Helm refuses to adopt the CRDs it did not create.
    const unowned = await helm(['upgrade', rel.name, newer, '--namespace', rel.namespace, '--reset-then-reuse-values']);
    expect(unowned.code).not.toBe(0);
    expect(unowned.stderr).toMatch(/ownership|cannot be imported/);
    expect(await applyBranch(rel, 'dev')).toEqual(pruned);

    await helmOk(['upgrade', rel.name, newer, '--namespace', rel.namespace, '--reset-then-reuse-values', '--take-ownership']);
    expect(await applyBranchUntilKept(rel, 'dev')).toEqual(kept);
    expect(await crdAnnotations(rel)).toMatchObject({ 'helm.sh/resource-policy': 'keep', 'meta.helm.sh/release-name': rel.name });
    // The values given at install survive the migration.
    expect(JSON.parse(await helmOk(['get', 'values', rel.name, '--namespace', rel.namespace, '-o', 'json']))).toMatchObject({ concurrency: 7 });

    await expectUninstallKeepsCrdsAndObjects(rel, 'dev');
  });
});
