// JSON schemas for kubeconform, made offline-only: the built-in kinds' from the test API server's own OpenAPI
// (/openapi/v2, so they match the Kubernetes version under test exactly) and the operator's kinds' from the
// generated CRDs. kubeconform's default is to download schemas, which these machines cannot (and CI should not).
// Strict, like kubeconform's `-strict` schema sets: an object with declared properties accepts no others.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { generateCrdFiles } from '../../../src/api/crd.ts';

type Schema = Record<string, unknown>;

const gvkListSchema = z.array(z.object({ group: z.string(), version: z.string(), kind: z.string() }));
const swaggerSchema = z.object({ definitions: z.record(z.string(), z.record(z.string(), z.unknown())) });

/** kubeconform's file name for a kind: `{{ .ResourceKind }}{{ .KindSuffix }}.json` (registry.schemaPath). */
export function schemaFileName(group: string, version: string, kind: string): string {
  const apiVersion = group ? `${group}/${version}` : version;
  const [first = '', second] = apiVersion.split('/');
  let suffix = `-${(first.split('.')[0] ?? '').toLowerCase()}`;
  if (second !== undefined) suffix += `-${second.toLowerCase()}`;
  return `${kind.toLowerCase()}${suffix}.json`;
}

/** The `-schema-location` template that finds the files written by {@link writeKubeconformSchemas}. */
export function schemaLocation(dir: string): string {
  return join(dir, '{{ .ResourceKind }}{{ .KindSuffix }}.json');
}

/** Adds additionalProperties: false to every object node that declares properties and says nothing else. */
function strict(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strict);
  if (node === null || typeof node !== 'object') return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Schema).map(([p, s]) => [p, strict(s)])) : strict(v);
  if (
    out['properties'] !== undefined &&
    out['additionalProperties'] === undefined &&
    out['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    out['additionalProperties'] = false;
  }
  return out;
}

/** Swagger 2 types the API server serialises specially: accept what it accepts. */
function fixSpecialTypes(definitions: Record<string, Schema>): Record<string, Schema> {
  const fixed = { ...definitions };
  const intOrString = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
  const quantity = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
  if (fixed[intOrString]) fixed[intOrString] = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
  if (fixed[quantity]) fixed[quantity] = { oneOf: [{ type: 'string' }, { type: 'number' }] };
  return fixed;
}

/** Every `#/definitions/…` reachable from `root`. */
function reachable(root: unknown, definitions: Record<string, Schema>): Set<string> {
  const seen = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/definitions/')) {
        const name = v.slice('#/definitions/'.length);
        if (!seen.has(name)) {
          seen.add(name);
          visit(definitions[name]);
        }
      } else {
        visit(v);
      }
    }
  };
  visit(root);
  return seen;
}

/**
 * Writes one strict JSON schema per kind into `dir`: every kind the API server serves (from `openapiV2`, the
 * text of its /openapi/v2) and the operator's five kinds (from the generated CRDs). Returns the file names.
 */
export async function writeKubeconformSchemas(openapiV2: string, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const definitions = fixSpecialTypes(swaggerSchema.parse(JSON.parse(openapiV2)).definitions);
  const written: string[] = [];
  for (const [name, def] of Object.entries(definitions)) {
    const gvks = gvkListSchema.safeParse(def['x-kubernetes-group-version-kind']);
    if (!gvks.success || gvks.data.length !== 1 || !def['properties']) continue;
    const gvk = gvks.data[0];
    if (!gvk || gvk.group === 'neon-operator.dev') continue;
    const used = reachable(def, definitions);
    used.delete(name);
    const schema = {
      ...(strict(def) as Schema),
      definitions: Object.fromEntries([...used].sort().map((d) => [d, strict(definitions[d])])),
    };
    const file = schemaFileName(gvk.group, gvk.version, gvk.kind);
    await writeFile(join(dir, file), JSON.stringify(schema));
    written.push(file);
  }
  for (const text of generateCrdFiles().values()) {
    const crd = parse(text) as {
      spec: { group: string; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: Schema } }[] };
    };
    for (const version of crd.spec.versions) {
      const file = schemaFileName(crd.spec.group, version.name, crd.spec.names.kind);
      await writeFile(join(dir, file), JSON.stringify(strict(version.schema.openAPIV3Schema)));
      written.push(file);
    }
  }
  return written;
}
