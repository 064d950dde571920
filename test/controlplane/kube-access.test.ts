// Unit checks of the harness pieces that need no running control plane.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpYaml } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { readManifests } from './kube-access.ts';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'smoke-crds');

describe('readManifests', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('keeps x-kubernetes-validations when client-node serializes the CRD for the API server', async () => {
    const [crd, ...rest] = await readManifests(fixtures);
    expect(rest).toHaveLength(0);
    // dumpYaml serializes through the same typed models as KubernetesObjectApi does before sending.
    expect(crd).toBeDefined();
    const wire = dumpYaml(crd);
    expect(wire).toContain('x-kubernetes-validations:');
    expect(wire).toContain('rule: self.size <= 10');
  });

  it('reads every document of every YAML file in a folder, in name order, skipping empty documents', async () => {
    dir = await mkdtemp(join(tmpdir(), 'manifests-'));
    await writeFile(
      join(dir, 'b.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b1}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b2}\n',
    );
    await writeFile(join(dir, 'a.yml'), 'apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n');
    await writeFile(join(dir, 'notes.txt'), 'not a manifest');
    const names = (await readManifests(dir)).map((o) => `${o.kind ?? ''}/${o.metadata?.name ?? ''}`);
    expect(names).toEqual(['Secret/a', 'ConfigMap/b1', 'ConfigMap/b2']);
  });

  it('names the file of a document that is not a Kubernetes object', async () => {
    dir = await mkdtemp(join(tmpdir(), 'manifests-'));
    await writeFile(join(dir, 'bad.yaml'), 'kind: ConfigMap\n');
    await expect(readManifests(dir)).rejects.toThrow(/bad\.yaml: not a Kubernetes object/);
  });
});
