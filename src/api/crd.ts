import { z } from 'zod';
import { stringify } from 'yaml';
import { allKinds } from './kinds.ts';
import type { KindDefinition } from './resource.ts';

/**
 * A node of a Kubernetes structural schema (apiextensions.k8s.io/v1 JSONSchemaProps), restricted to the
 * keywords the generator emits.
 */
export interface JSONSchemaProps {
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  required?: string[];
  properties?: Record<string, JSONSchemaProps>;
  items?: JSONSchemaProps;
  additionalProperties?: JSONSchemaProps;
  'x-kubernetes-validations'?: { rule: string; message: string; fieldPath?: string }[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
}

/** Keywords copied from zod's JSON Schema as they are, in the order they are written out. */
const KEPT_KEYWORDS = [
  'description',
  'type',
  'format',
  'default',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'minItems',
  'maxItems',
  'required',
  'properties',
  'items',
  'additionalProperties',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
] as const;

/**
 * Keywords zod writes that carry nothing a structural schema can use: `propertyNames` (record keys are
 * always strings in Kubernetes) and `$schema`.
 */
const DROPPED_KEYWORDS = new Set(['$schema', 'propertyNames']);

/** zod's bounds for `z.int()`: noise in a CRD, where integers are int64 anyway. */
const SAFE_INT_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

export class StructuralSchemaError extends Error {
  constructor(path: string, problem: string) {
    super(`${path || '<root>'}: ${problem}`);
    this.name = 'StructuralSchemaError';
  }
}

/**
 * Rewrites one node of zod's OpenAPI 3.0 output into a structural schema node. Anything that has no
 * structural form ($ref, anyOf, …) is an error, not silently dropped, so a schema change that would
 * produce an invalid CRD fails the generator instead of the API server.
 */
function toStructural(node: Record<string, unknown>, path: string): JSONSchemaProps {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (DROPPED_KEYWORDS.has(key)) continue;
    if (key === 'const') {
      out.enum = [value];
      continue;
    }
    if (!(KEPT_KEYWORDS as readonly string[]).includes(key)) {
      throw new StructuralSchemaError(path, `keyword ${key} has no place in a structural schema`);
    }
    out[key] = value;
  }

  if (out.minimum !== undefined && SAFE_INT_BOUNDS.has(out.minimum as number)) delete out.minimum;
  if (out.maximum !== undefined && SAFE_INT_BOUNDS.has(out.maximum as number)) delete out.maximum;
  // The API server checks `format: date-time` itself; zod's equivalent regular expression would only
  // make the CRD unreadable.
  if (out.format === 'date-time') delete out.pattern;

  if (out.additionalProperties === false) delete out.additionalProperties;
  if (out.properties !== undefined) {
    if (out.additionalProperties !== undefined) {
      throw new StructuralSchemaError(path, 'properties and additionalProperties cannot both be set');
    }
    const props: Record<string, JSONSchemaProps> = {};
    for (const [name, child] of Object.entries(out.properties as Record<string, Record<string, unknown>>)) {
      props[name] = toStructural(child, `${path}.${name}`);
    }
    out.properties = props;
  }
  if (out.items !== undefined) {
    if (Array.isArray(out.items)) throw new StructuralSchemaError(path, 'tuple items are not structural');
    out.items = toStructural(out.items as Record<string, unknown>, `${path}[]`);
  }
  if (typeof out.additionalProperties === 'object' && out.additionalProperties !== null) {
    out.additionalProperties = toStructural(out.additionalProperties as Record<string, unknown>, `${path}{}`);
  }
  if (out.type === undefined) throw new StructuralSchemaError(path, 'every node needs a type');

  const ordered: Record<string, unknown> = {};
  for (const key of KEPT_KEYWORDS) if (out[key] !== undefined) ordered[key] = out[key];
  return ordered as JSONSchemaProps;
}

/** The structural schema of a zod schema, with its CEL rules and descriptions. */
export function structuralSchemaOf(schema: z.ZodType, path = ''): JSONSchemaProps {
  const json = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    // Input: fields with a default are optional for whoever writes a manifest; the API server applies
    // the default.
    io: 'input',
    unrepresentable: 'throw',
    reused: 'inline',
    cycles: 'throw',
  });
  return toStructural(json as Record<string, unknown>, path);
}

/** An apiextensions.k8s.io/v1 CustomResourceDefinition, as the generator writes it. */
export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    scope: 'Namespaced';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: { name: string; type: string; jsonPath: string; description: string; priority?: number }[];
      schema: { openAPIV3Schema: JSONSchemaProps };
    }[];
  };
}

/** Builds the CRD of one kind from its zod schemas. Pure: the same kind always gives the same CRD. */
export function buildCrd(kind: KindDefinition): CustomResourceDefinition {
  const spec = structuralSchemaOf(kind.spec, 'spec');
  const status = structuralSchemaOf(kind.status, 'status');
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${kind.plural}.${kind.group}`,
      labels: { 'app.kubernetes.io/part-of': 'neon-operator' },
    },
    spec: {
      group: kind.group,
      names: {
        kind: kind.kind,
        listKind: kind.listKind,
        plural: kind.plural,
        singular: kind.singular,
        shortNames: [...kind.shortNames],
        categories: [...kind.categories],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: kind.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: kind.printerColumns.map((c) => ({ ...c })),
          schema: {
            openAPIV3Schema: {
              description: kind.description,
              type: 'object',
              required: ['spec'],
              properties: {
                apiVersion: {
                  description: 'APIVersion defines the versioned schema of this representation of an object.',
                  type: 'string',
                },
                kind: {
                  description: 'Kind is a string value representing the REST resource this object represents.',
                  type: 'string',
                },
                metadata: { type: 'object' },
                spec,
                status,
              },
              ...(kind.objectValidations.length > 0 ? { 'x-kubernetes-validations': kind.objectValidations.map((r) => ({ ...r })) } : {}),
            },
          },
        },
      ],
    },
  };
}

const HEADER = '# Generated by `npm run generate` from the zod schemas in src/api/. Do not edit by hand.\n';

/** File name of a kind's CRD, as kubebuilder names them (`<group>_<plural>.yaml`). */
export function crdFileName(kind: Pick<KindDefinition, 'group' | 'plural'>): string {
  return `${kind.group}_${kind.plural}.yaml`;
}

/** A CRD as YAML text, exactly as it is stored in crds/ (and in the chart). */
export function renderCrdYaml(crd: CustomResourceDefinition): string {
  return HEADER + stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false });
}

const REUSE_VALUES_HINT =
  'crds is not set: upgrade with --reset-then-reuse-values instead of --reuse-values, so values this chart version adds get their defaults';

/**
 * A CRD as a template of the Helm chart (charts/neon-operator/templates/crds/): the same object as in crds/,
 * rendered only with `crds.enabled`, with the chart's labels and, with `crds.keep`, Helm's keep policy, so
 * that `helm upgrade` updates the CRD while `helm uninstall` never deletes it (which would delete every
 * object of the kind in the cluster, and with the operator running, their Neon resources).
 */
export function renderCrdChartTemplate(crd: CustomResourceDefinition): string {
  const body = stringify({ spec: crd.spec }, { lineWidth: 0, aliasDuplicateObjects: false });
  // Helm would read `{{` in a description as template code.
  if (/\{\{|\}\}/.test(body)) throw new Error(`CRD ${crd.metadata.name}: a schema text contains {{ or }}, which Helm would execute`);
  return [
    '{{- /* Generated by `npm run generate` from the zod schemas in src/api/. Do not edit by hand. */}}',
    // `helm upgrade --reuse-values` from a chart without `crds` values leaves them unset: say what to do.
    `{{- if (required "${REUSE_VALUES_HINT}" .Values.crds).enabled }}`,
    `apiVersion: ${crd.apiVersion}`,
    `kind: ${crd.kind}`,
    'metadata:',
    `  name: ${crd.metadata.name}`,
    '  {{- if .Values.crds.keep }}',
    '  annotations:',
    '    helm.sh/resource-policy: keep',
    '  {{- end }}',
    '  labels:',
    '    {{- include "neon-operator.crdLabels" . | nindent 4 }}',
    `${body.trimEnd()}`,
    '{{- end }}',
    '',
  ].join('\n');
}

/** The same CRDs as generateCrdFiles, as chart templates (file name → template text). */
export function generateCrdChartTemplates(crds: readonly CustomResourceDefinition[] = allKinds.map(buildCrd)): Map<string, string> {
  return new Map(crds.map((crd) => [crdFileName({ group: crd.spec.group, plural: crd.spec.names.plural }), renderCrdChartTemplate(crd)]));
}

/**
 * Every CRD file of the operator: file name → YAML text. Deterministic, so a test can compare it with
 * crds/ and the chart can embed the same objects.
 */
export function generateCrdFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const kind of allKinds) files.set(crdFileName(kind), renderCrdYaml(buildCrd(kind)));
  return files;
}
