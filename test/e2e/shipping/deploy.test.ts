// deploy/: the kustomize install. It must be the chart's install (rendered from it, never edited by hand), its
// CRDs the generated ones, and `kubectl kustomize deploy` valid for kubeconform -strict and the API server.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { generateCrdChartTemplates, generateCrdFiles } from '../../../src/api/crd.ts';
import { deployOperatorPath, renderDeployManifests, toPlainManifests } from '../../../scripts/generate-deploy.ts';
import { repoRoot } from '../../controlplane/binaries.ts';
import { useControlPlane } from '../../controlplane/e2e.ts';
import { ensureNamespaces, helmTemplateOk, Kubeconform, kubectl, parseManifests, run, type Manifest } from './tools.ts';

const cp = useControlPlane();
const node = process.execPath;

describe('generated install files', () => {
  it('crds/, deploy/crds/ and the chart\'s templates/crds/ are what `npm run generate` writes (run it when this fails)', async () => {
    const r = await run(node, ['scripts/generate-crds.ts', '--check']);
    expect(r.code, r.stderr).toBe(0);
    for (const [dir, generated] of [
      ['crds', generateCrdFiles()],
      ['deploy/crds', generateCrdFiles()],
      ['charts/neon-operator/templates/crds', generateCrdChartTemplates()],
    ] as const) {
      const onDisk = (await readdir(join(repoRoot, dir))).filter((f) => f.startsWith('neon-operator.dev_')).sort();
      expect(onDisk, dir).toEqual([...generated.keys()].sort());
      for (const [name, text] of generated) expect(await readFile(join(repoRoot, dir, name), 'utf8'), `${dir}/${name}`).toBe(text);
    }
    const generated = generateCrdFiles();
    const kustomization = parse(await readFile(join(repoRoot, 'deploy', 'crds', 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(kustomization.resources).toEqual([...generated.keys()].sort());
  });

  it('deploy/operator.yaml is the chart rendered with deploy/chart-values.yaml (run `npm run generate:deploy` when this fails)', async () => {
    expect(await readFile(deployOperatorPath, 'utf8')).toBe(await renderDeployManifests());
  });

  it('the staleness checks can fail: a changed rendering is not equal', async () => {
    const current = await renderDeployManifests();
    const changed = toPlainManifests((await helmTemplateOk('neon-operator', 'neon-operator', { neonApiKey: { existingSecret: 'other', key: 'api-key' } })).replace(/^---\n/, ''));
    expect(changed).not.toBe(current);
  });
});

describe('kubectl kustomize deploy', () => {
  let text: string;
  let objects: Manifest[];
  let kubeconform: Kubeconform;
  beforeAll(async () => {
    const r = await kubectl(cp, ['kustomize', join(repoRoot, 'deploy')]);
    expect(r.code, r.stderr).toBe(0);
    text = r.stdout;
    objects = parseManifests(text);
    kubeconform = await Kubeconform.forControlPlane(cp);
  });

  it('holds the same objects as the Helm chart with the same values (CRDs off), plus the namespace and the generated CRDs', async () => {
    const chart = parseManifests(
      await helmTemplateOk('neon-operator', 'neon-operator', parse(await readFile(join(repoRoot, 'deploy', 'chart-values.yaml'), 'utf8')) as Record<string, unknown>),
    );
    const strip = (o: Manifest): unknown => {
      const labels = { ...o.metadata.labels };
      delete labels['helm.sh/chart'];
      delete labels['app.kubernetes.io/managed-by'];
      return { ...o, metadata: { ...o.metadata, labels } };
    };
    const key = (o: Manifest) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const own = (o: Manifest) => o.kind !== 'Namespace' && o.kind !== 'CustomResourceDefinition';
    const fromDeploy = new Map(objects.filter(own).map((o) => [key(o), strip(o)]));
    const fromChart = new Map(chart.map((o) => [key(o), strip(o)]));
    expect(chart.filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([]);
    expect([...fromDeploy.keys()].sort()).toEqual([...fromChart.keys()].sort());
    for (const [k, v] of fromChart) expect(fromDeploy.get(k), k).toEqual(v);
    expect(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name)).toEqual(['neon-operator']);
    const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
    const byName = (list: readonly unknown[]) => new Map(list.map((o) => [(o as Manifest).metadata.name, o]));
    expect(byName(crds)).toEqual(byName([...generateCrdFiles().values()].map((text) => parse(text) as unknown)));
  });

  it('is valid for kubeconform -strict (CRDs included, nothing skipped)', async () => {
    const r = await kubeconform.validate(text);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`Valid: ${objects.length}, Invalid: 0, Errors: 0, Skipped: 0`);
  });

  it('deploy/argocd/argocd-cm.yaml is a valid ConfigMap for kubeconform -strict', async () => {
    const r = await kubeconform.validate(await readFile(join(repoRoot, 'deploy', 'argocd', 'argocd-cm.yaml'), 'utf8'));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('Valid: 1, Invalid: 0, Errors: 0, Skipped: 0');
  });

  it('is accepted by the API server (kubectl apply --dry-run=server)', async () => {
    // A dry run does not create the namespace, so the objects inside it need it to exist.
    await ensureNamespaces(cp, ['neon-operator']);
    const r = await kubectl(cp, ['apply', '--dry-run=server', '--server-side', '--field-manager=shipping-test', '-f', '-'], text);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(objects.length);
  });
});
