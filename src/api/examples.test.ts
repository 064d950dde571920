import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { allKinds } from './kinds.ts';

const examplesDir = resolve(import.meta.dirname, '..', '..', 'examples');

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && /\.ya?ml$/.test(e.name)).map((e) => join(e.parentPath, e.name));
}

async function documents(dir: string): Promise<{ file: string; obj: unknown }[]> {
  const out: { file: string; obj: unknown }[] = [];
  for (const file of await yamlFiles(dir)) {
    for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
      expect(doc.errors, file).toEqual([]);
      out.push({ file, obj: doc.toJS() });
    }
  }
  return out;
}

describe('examples/', () => {
  it('holds only manifests that parse with the schemas of their kind', async () => {
    const docs = (await documents(examplesDir)).filter((d) => (d.obj as { apiVersion?: string }).apiVersion?.startsWith('neon-operator.dev/'));
    expect(docs.length).toBeGreaterThan(0);
    for (const { file, obj } of docs) {
      const kind = allKinds.find((k) => k.kind === (obj as { kind?: string }).kind);
      expect(kind, `${file}: unknown kind`).toBeDefined();
      expect(() => kind?.parse(obj), file).not.toThrow();
    }
  });

  it('basic/ has one object of each kind, whose references all resolve within the folder', async () => {
    const parsed = (await documents(join(examplesDir, 'basic'))).map(({ obj }) => {
      const kind = allKinds.find((k) => k.kind === (obj as { kind?: string }).kind);
      if (!kind) throw new Error('unknown kind');
      return kind.parse(obj);
    });
    expect(parsed.map((o) => o.kind).sort()).toEqual(allKinds.map((k) => k.kind).sort());
    const names = new Set(parsed.map((o) => `${o.kind}/${o.metadata.name}`));
    const refs: string[] = [];
    for (const o of parsed) {
      const spec = o.spec as Record<string, unknown>;
      const refKinds: Record<string, string> = {
        projectRef: 'NeonProject', branchRef: 'NeonBranch', parentRef: 'NeonBranch', endpointRef: 'NeonEndpoint',
        databaseRef: 'NeonDatabase', ownerRef: 'NeonRole',
      };
      for (const [field, kind] of Object.entries(refKinds)) {
        const ref = spec[field] as { name: string } | undefined;
        if (ref) refs.push(`${kind}/${ref.name}`);
      }
      // Examples are applied into any namespace: they must not pin one.
      expect(o.metadata.namespace).toBeUndefined();
    }
    expect(refs.length).toBeGreaterThanOrEqual(6);
    for (const r of refs) expect(names.has(r), `unresolved reference ${r}`).toBe(true);
  });
});
