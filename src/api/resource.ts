import { z } from 'zod';
import { objectMetaSchema } from './common.ts';
import { toKubernetesRules, type CelRule, type KubernetesValidationRule, type ObjectRuleTarget } from './validation.ts';
import { API_CATEGORY, API_GROUP, API_GROUP_VERSION, API_VERSION } from './group.ts';

/** A column of `kubectl get` (CRD additionalPrinterColumns). */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  /** 0 shows the column by default; 1 only with `-o wide`. */
  priority?: number;
}

/** One problem found while parsing a custom resource: where (`spec.projectRef`) and what. */
export interface ResourceIssue {
  path: string;
  message: string;
}

/**
 * A custom resource that does not match its schema. The message names the kind, the object and every
 * offending field (`NeonBranch default/dev: spec.parentLsn: …`), so it can go on a condition or an Event
 * as is; it never contains field values, so no secret can leak through it.
 */
export class ResourceParseError extends Error {
  readonly kind: string;
  /** `namespace/name` (or `name`), when the object had readable metadata. */
  readonly objectName: string | undefined;
  readonly issues: readonly ResourceIssue[];

  constructor(kind: string, objectName: string | undefined, issues: readonly ResourceIssue[]) {
    const where = objectName ? `${kind} ${objectName}` : kind;
    super(`${where}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`);
    this.name = 'ResourceParseError';
    this.kind = kind;
    this.objectName = objectName;
    this.issues = issues;
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

function describeObject(obj: unknown): string | undefined {
  const meta = z.object({ name: z.string(), namespace: z.string().optional() }).safeParse(
    typeof obj === 'object' && obj !== null ? (obj as { metadata?: unknown }).metadata : undefined,
  );
  if (!meta.success) return undefined;
  return meta.data.namespace ? `${meta.data.namespace}/${meta.data.name}` : meta.data.name;
}

/**
 * zod's own messages quote received values for some issue kinds (enum and literal mismatches); keep only
 * the expectation so no value (possibly a secret pasted in the wrong field) reaches a message.
 */
function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `unknown field(s) ${issue.keys.join(', ')}`;
    default:
      return issue.message;
  }
}

export interface KindOptions<Spec extends z.ZodType, Status extends z.ZodType> {
  kind: string;
  plural: string;
  shortNames: string[];
  /** Shown by `kubectl explain <kind>`. */
  description: string;
  spec: Spec;
  status: Status;
  /** Description of the Ready column: what Ready=True means for this kind. */
  readyMeans: string;
  /** The kind's own columns, shown between Ready and the Reason and Age columns every kind has. */
  printerColumns: PrinterColumn[];
  /**
   * Rules on the whole object, for what involves metadata (e.g. a spec field that defaults to
   * metadata.name). `field` is relative to the object (`spec.name`).
   */
  objectRules?: CelRule<ObjectRuleTarget>[];
}

/**
 * Everything known about one kind: its names, its schemas (from which the CRD is generated and with which
 * the operator parses what it reads) and its printer columns.
 */
export function defineKind<K extends string, Spec extends z.ZodType, Status extends z.ZodType>(
  options: KindOptions<Spec, Status> & { kind: K },
) {
  const objectRules = options.objectRules ?? [];
  let schema = z.object({
    apiVersion: z.literal(API_GROUP_VERSION),
    kind: z.literal(options.kind),
    metadata: objectMetaSchema,
    spec: options.spec,
    status: options.status.optional(),
  });
  for (const { check, message, field } of objectRules) {
    if (!check) continue;
    schema = schema.refine((obj) => check(obj as ObjectRuleTarget), {
      message,
      path: field ? field.split('.') : [],
      // Only on an object whose metadata and spec parsed: the rule reads both.
      when: (payload) => payload.issues.length === 0,
    });
  }
  type Resource = z.output<typeof schema>;
  const { readyMeans, ...rest } = options;
  return {
    ...rest,
    printerColumns: [
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: readyMeans },
      {
        name: 'Synced',
        type: 'string',
        jsonPath: '.status.conditions[?(@.type=="Synced")].status',
        description: 'Whether the last reconcile applied the spec; False with the reason on the Synced condition (the resource may still be Ready).',
      },
      ...options.printerColumns,
      { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', description: 'Reason of the Ready condition.', priority: 1 },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Age of the object.' },
    ] satisfies PrinterColumn[],
    group: API_GROUP,
    version: API_VERSION,
    apiVersion: API_GROUP_VERSION,
    singular: options.kind.toLowerCase(),
    listKind: `${options.kind}List`,
    categories: [API_CATEGORY],
    /** The object-level rules as the CRD carries them (on the root of the schema). */
    objectValidations: toKubernetesRules(objectRules) satisfies KubernetesValidationRule[],
    /** The whole object, as the operator reads it from the API server. */
    schema,
    /**
     * Parses an object read from the API server (or a manifest). Returns it typed, with defaults applied;
     * throws ResourceParseError naming each offending field otherwise. Unknown fields are dropped.
     */
    parse(obj: unknown): Resource {
      const result = schema.safeParse(obj);
      if (result.success) return result.data;
      throw new ResourceParseError(
        options.kind,
        describeObject(obj),
        result.error.issues.map((i) => ({ path: formatPath(i.path), message: issueMessage(i) })),
      );
    },
  };
}

export type KindDefinition = ReturnType<typeof defineKind<string, z.ZodType, z.ZodType>>;
