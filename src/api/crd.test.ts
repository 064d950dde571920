import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parse } from 'yaml';
import { buildCrd, generateCrdFiles, renderCrdChartTemplate, structuralSchemaOf, StructuralSchemaError, type JSONSchemaProps } from './crd.ts';
import { API_GROUP } from './group.ts';
import { allKinds } from './kinds.ts';

const crdDir = resolve(import.meta.dirname, '..', '..', 'crds');

describe('crds/', () => {
  it('is what `npm run generate` produces from src/api (regenerate when this fails)', async () => {
    const generated = generateCrdFiles();
    const onDisk = (await readdir(crdDir)).filter((f) => f.startsWith(`${API_GROUP}_`)).sort();
    expect(onDisk).toEqual([...generated.keys()].sort());
    for (const [name, text] of generated) {
      expect(await readFile(join(crdDir, name), 'utf8'), `crds/${name} is stale: run npm run generate`).toBe(text);
    }
  });

  it('holds one CRD per kind, with the names, category and status subresource users rely on', () => {
    const shortNames = new Set<string>();
    for (const [name, text] of generateCrdFiles()) {
      const crd = parse(text) as ReturnType<typeof buildCrd>;
      const kind = allKinds.find((k) => k.kind === crd.spec.names.kind);
      expect(kind, name).toBeDefined();
      expect(crd.metadata.name).toBe(`${kind?.plural}.neon-operator.dev`);
      expect(crd.spec.scope).toBe('Namespaced');
      expect(crd.spec.names.categories).toEqual(['neon']);
      expect(crd.spec.versions.map((v) => v.name)).toEqual(['v1alpha1']);
      expect(crd.spec.versions[0]?.subresources).toEqual({ status: {} });
      for (const s of crd.spec.names.shortNames) {
        expect(shortNames.has(s)).toBe(false);
        shortNames.add(s);
      }
    }
    // Short names that would shadow something every cluster has (kubectl resolves built-ins first).
    for (const taken of ['no', 'ns', 'po', 'ep', 'svc', 'pv', 'pvc', 'cm', 'db', 'role', 'sa', 'rs', 'ds']) {
      expect(shortNames.has(taken)).toBe(false);
    }
  });
});

/** Walks every schema node with its path, the way the API server's structural schema check does. */
function* nodes(schema: JSONSchemaProps, path: string): Generator<[string, JSONSchemaProps]> {
  yield [path, schema];
  for (const [name, child] of Object.entries(schema.properties ?? {})) yield* nodes(child, `${path}.${name}`);
  if (schema.items) yield* nodes(schema.items, `${path}[*]`);
  if (schema.additionalProperties) yield* nodes(schema.additionalProperties, `${path}{*}`);
}

const ALLOWED_KEYS = new Set([
  'description', 'type', 'format', 'default', 'enum', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum',
  'minItems', 'maxItems', 'required', 'properties', 'items', 'additionalProperties', 'x-kubernetes-validations',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type',
]);

/** Resolves a printer column or fieldPath like `.spec.autoscaling.minCu` in a schema. */
function resolvePath(schema: JSONSchemaProps, dotted: string): JSONSchemaProps | undefined {
  let node: JSONSchemaProps | undefined = schema;
  for (const part of dotted.split('.').filter(Boolean)) {
    const name = part.replace(/\[.*\]$/, '');
    node = node?.properties?.[name];
    if (node && part !== name) node = node.items;
  }
  return node;
}

describe.each(allKinds.map((k) => [k.kind, buildCrd(k)] as const))('the %s CRD', (_kind, crd) => {
  const version = crd.spec.versions[0];
  if (!version) throw new Error('no version');
  const root = version.schema.openAPIV3Schema;

  it('is structural: every node has a type, properties only on objects, items only on arrays', () => {
    for (const [path, node] of nodes(root, '')) {
      for (const key of Object.keys(node)) expect(ALLOWED_KEYS.has(key), `${path}: ${key}`).toBe(true);
      expect(node.type, `${path} has no type`).toBeDefined();
      if (node.properties) expect(node.type, path).toBe('object');
      if (node.items) expect(node.type, path).toBe('array');
      if (node.type === 'array') expect(node.items, `${path} has no items`).toBeDefined();
      expect(node.properties && node.additionalProperties, path).toBeFalsy();
      for (const r of node.required ?? []) expect(node.properties?.[r], `${path} requires unknown ${r}`).toBeDefined();
      if (node.enum) for (const v of node.enum) expect(typeof v, `${path} enum`).toBe(node.type === 'integer' ? 'number' : node.type);
      if (node['x-kubernetes-list-type'] === 'map') {
        for (const key of node['x-kubernetes-list-map-keys'] ?? []) expect(node.items?.required, path).toContain(key);
      }
      if (node['x-kubernetes-list-type'] === 'set') expect(['string', 'integer', 'number', 'boolean']).toContain(node.items?.type);
    }
  });

  it('describes every field, so `kubectl explain` is useful', () => {
    for (const top of ['spec', 'status'] as const) {
      const schema = root.properties?.[top];
      expect(schema).toBeDefined();
      for (const [path, node] of nodes(schema ?? {}, top)) {
        if (path.endsWith('[*]') || path.endsWith('{*}')) continue; // list items are described by their list
        expect(node.description?.length, `${path} has no description`).toBeGreaterThan(10);
      }
    }
  });

  it('points every CEL rule at a field that exists, and every rule has a message', () => {
    for (const [path, node] of nodes(root, '')) {
      for (const v of node['x-kubernetes-validations'] ?? []) {
        expect(v.message.length, `${path}: ${v.rule}`).toBeGreaterThan(10);
        if (v.fieldPath) expect(resolvePath(node, v.fieldPath), `${path}: fieldPath ${v.fieldPath}`).toBeDefined();
      }
    }
  });

  it('has printer columns Ready and Age, each pointing at a field of the schema', () => {
    const columns = version.additionalPrinterColumns;
    expect(columns[0]?.name).toBe('Ready');
    expect(columns.at(-1)).toMatchObject({ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' });
    for (const c of columns.filter((c) => !c.jsonPath.startsWith('.metadata'))) {
      const field = resolvePath(root, c.jsonPath.replace(/\[\?\(.*\)\]/, '[]'));
      expect(field, c.jsonPath).toBeDefined();
      if (c.type === 'date') expect(field?.format, c.jsonPath).toBe('date-time');
      else expect(field?.type, c.jsonPath).toBe(c.type);
    }
  });

  it('requires spec, so the rules on spec also apply on update', () => {
    expect(root.required).toEqual(['spec']);
  });
});

describe('the chart\'s CRD templates', () => {
  it('hold the CRD as in crds/ once the lines Helm executes are gone', () => {
    for (const kind of allKinds) {
      const crd = buildCrd(kind);
      // Without the {{ }} lines what remains is the CRD without its labels (the chart sets its own).
      const withoutHelm = renderCrdChartTemplate(crd).split('\n').filter((line) => !line.includes('{{') && !/^ {2}(annotations|labels):|^ {4}helm\.sh\//.test(line)).join('\n');
      expect(parse(withoutHelm)).toEqual({ ...crd, metadata: { name: crd.metadata.name } });
    }
  });

  it('refuse a schema text that Helm would execute', () => {
    const crd = buildCrd(allKinds[0] as (typeof allKinds)[number]);
    const spec = crd.spec.versions[0]?.schema.openAPIV3Schema.properties?.['spec'] as JSONSchemaProps;
    spec.description = 'set it to {{ .Values.x }}';
    expect(() => renderCrdChartTemplate(crd)).toThrow(/contains \{\{ or \}\}, which Helm would execute/);
  });
});

describe('structuralSchemaOf', () => {
  it('turns literals into enums and drops zod-only keywords', () => {
    const s = structuralSchemaOf(z.object({ a: z.literal('x').describe('a'), b: z.record(z.string(), z.string()).describe('b') }));
    expect(s.properties?.a).toEqual({ description: 'a', type: 'string', enum: ['x'] });
    expect(s.properties?.b).toEqual({ description: 'b', type: 'object', additionalProperties: { type: 'string' } });
  });

  it('refuses shapes that have no structural form, naming where they are', () => {
    expect(() => structuralSchemaOf(z.object({ a: z.union([z.string(), z.number()]) }), 'spec')).toThrow(
      new StructuralSchemaError('spec.a', 'keyword anyOf has no place in a structural schema'),
    );
    expect(() => structuralSchemaOf(z.object({ a: z.string().nullable() }), 'spec')).toThrow(/spec\.a: keyword nullable/);
  });

  it('keeps CEL rules and list types given as metadata', () => {
    const s = structuralSchemaOf(
      z.array(z.string()).meta({ 'x-kubernetes-list-type': 'set', 'x-kubernetes-validations': [{ rule: 'size(self) < 3', message: 'short' }] }),
    );
    expect(s).toEqual({
      type: 'array',
      items: { type: 'string' },
      'x-kubernetes-validations': [{ rule: 'size(self) < 3', message: 'short' }],
      'x-kubernetes-list-type': 'set',
    });
  });
});
