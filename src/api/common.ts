import { z } from 'zod';
import { immutable, isSet, withRules, type CelRule } from './validation.ts';

// Building blocks shared by the five kinds. Descriptions end up in the CRDs, so `kubectl explain` shows
// them: they are written for the person editing a manifest.

/** Neon's pattern for project, branch, endpoint and organization IDs (public-v2 spec). */
export const NEON_ID_PATTERN = /^[a-z0-9-]{1,60}$/;

export const neonIdSchema = z.string().regex(NEON_ID_PATTERN);

/** Kubernetes object names (DNS subdomain, RFC 1123). */
const objectNameSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
  .describe('Name of the object in the same namespace.');

/** A reference to another custom resource of this operator, in the same namespace. */
export function localRef(kind: string, meaning: string) {
  return z
    .object({ name: objectNameSchema.describe(`Name of the ${kind} in the same namespace.`) })
    .describe(meaning)
    .meta({ 'x-kubernetes-map-type': 'atomic' });
}
export type LocalRef = z.output<ReturnType<typeof localRef>>;

/** The connection Secret an object writes (NeonProject, NeonRole): only its name is chosen by the user. */
export function connectionSecretSchema(meaning: string) {
  return z
    .object({ name: objectNameSchema.optional().describe('Name of the Secret. Default: <metadata.name>-connection.') })
    .optional()
    .describe(meaning);
}

export const secretKeyRefSchema = z
  .object({
    name: objectNameSchema.describe('Name of the Secret in the same namespace as this object.'),
    key: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[-._a-zA-Z0-9]+$/)
      .default('api-key')
      .describe('Key in the Secret whose value is the Neon API key. Default: api-key.'),
  })
  .meta({ 'x-kubernetes-map-type': 'atomic' });
export type SecretKeyRef = z.output<typeof secretKeyRefSchema>;

export const deletionPolicyValues = ['Delete', 'Retain'] as const;
export type DeletionPolicy = (typeof deletionPolicyValues)[number];

/**
 * What happens in Neon when the object is deleted: `deletionPolicy`, and `ownAdopted` for a Neon resource the
 * object found existing instead of creating (status.origin Adopted), which is never deleted unless it says so.
 * Spread into every kind's spec.
 */
export function deletionShape(defaultPolicy: DeletionPolicy) {
  return {
    deletionPolicy: z
      .enum(deletionPolicyValues)
      .default(defaultPolicy)
      .describe(
        `What happens in Neon when this object is deleted: Delete removes the Neon resource, Retain leaves it ` +
          `in place (the object is only forgotten). Default: ${defaultPolicy}. A resource the object adopted ` +
          '(status.origin Adopted) is removed only if ownAdopted is true as well.',
      ),
    ownAdopted: z
      .boolean()
      .optional()
      .describe(
        'Treat a Neon resource this object adopted (it existed before: found by ID or name, or the project\'s default) ' +
          'as its own, so deletionPolicy Delete removes it too. Default: false, an adopted resource is never deleted.',
      ),
  };
}

/** Whether the object created its Neon resource or adopted one that existed (recorded in status.origin). */
export const originValues = ['Created', 'Adopted'] as const;
export type Origin = (typeof originValues)[number];

/**
 * Compute sizes Neon offers (https://neon.com/docs/manage/computes#compute-size-and-autoscaling-configuration):
 * 0.25, 0.5, every whole CU from 1 to 16, every even CU from 18 to 56. The spec only says minimum 0.25.
 */
const computeUnitSchema = withRules(z.number().min(0.25).max(56), [
  {
    rule:
      'self == 0.25 || self == 0.5 || (self == double(int(self)) && (self <= 16.0 || int(self) % 2 == 0))',
    message: "must be one of Neon's compute sizes: 0.25, 0.5, 1 to 16 in steps of 1, or 18 to 56 in steps of 2",
    check: (cu) => cu === 0.25 || cu === 0.5 || (Number.isInteger(cu) && (cu <= 16 || cu % 2 === 0)),
  },
]);

/** Same page: autoscaling (minCu below maxCu) reaches at most 16 CU and spans at most 8 CU. */
const AUTOSCALING_MAX_CU = 16;
const AUTOSCALING_MAX_SPREAD_CU = 8;

const bothNumbers = (a: { minCu?: unknown; maxCu?: unknown }): a is { minCu: number; maxCu: number } =>
  typeof a.minCu === 'number' && typeof a.maxCu === 'number';

export const autoscalingSchema = withRules(
  z
    .object({
      minCu: computeUnitSchema.describe("Minimum size of the compute in Compute Units (CU): one of Neon's compute sizes (see maxCu)."),
      maxCu: computeUnitSchema.describe(
        "Maximum size of the compute in Compute Units (CU), not below minCu: one of Neon's compute sizes (0.25, 0.5, 1 to 16, " +
          'even sizes 18 to 56). Equal to minCu means a fixed size; otherwise at most 16 and at most 8 above minCu.',
      ),
    })
    .describe('Autoscaling limits of the compute, in Compute Units (1 CU = 1 vCPU and 4 GB of RAM).'),
  [
    {
      rule: 'self.minCu <= self.maxCu',
      message: 'autoscaling.minCu must be less than or equal to autoscaling.maxCu',
      field: 'minCu',
      check: (a) => !bothNumbers(a) || a.minCu <= a.maxCu,
    },
    {
      rule: `self.minCu == self.maxCu || self.maxCu <= ${AUTOSCALING_MAX_CU}.0`,
      message: `autoscaling.maxCu can be at most ${AUTOSCALING_MAX_CU} when it differs from minCu; larger computes have a fixed size (minCu equal to maxCu)`,
      field: 'maxCu',
      check: (a) => !bothNumbers(a) || a.minCu === a.maxCu || a.maxCu <= AUTOSCALING_MAX_CU,
    },
    {
      rule: `self.maxCu - self.minCu <= ${AUTOSCALING_MAX_SPREAD_CU}.0`,
      message: `autoscaling.maxCu can be at most ${AUTOSCALING_MAX_SPREAD_CU} CU above autoscaling.minCu`,
      field: 'maxCu',
      check: (a) => !bothNumbers(a) || a.maxCu - a.minCu <= AUTOSCALING_MAX_SPREAD_CU,
    },
  ],
);
export type Autoscaling = z.output<typeof autoscalingSchema>;

/**
 * Neon's public-v2 spec: -1 (never suspend), 0 (Neon's default, 300 s) or 60 … 604800 seconds
 * (the schema says minimum -1, its description says the smallest real timeout is 60 s).
 */
export const suspendTimeoutSecondsSchema = withRules(
  z
    .int()
    .min(-1)
    .max(604800)
    .describe(
      'Seconds of inactivity after which the compute is suspended (scale to zero): -1 never suspends, ' +
        "0 uses Neon's default (300), otherwise 60 to 604800 (one week).",
    ),
  [
    {
      rule: 'self == -1 || self == 0 || self >= 60',
      message: 'suspendTimeoutSeconds must be -1, 0, or between 60 and 604800',
      check: (s) => s === -1 || s === 0 || s >= 60,
    },
  ],
);

/**
 * Postgres identifiers are at most 63 bytes (NAMEDATALEN - 1), and Neon counts bytes ("Cannot exceed 63 bytes"
 * in the spec's role name). maxLength counts characters, so a rule counts the UTF-8 bytes.
 */
export const postgresNameSchema = withRules(z.string().min(1).max(63), [
  {
    rule: 'size(bytes(self)) <= 63',
    message: 'must be at most 63 bytes in UTF-8 (a Postgres name); characters outside ASCII take 2 to 4 bytes',
    check: (name) => Buffer.byteLength(name, 'utf8') <= 63,
  },
]);

/** RFC 3339 timestamp, as the API server and Neon accept it (with `Z` or an offset). */
export const timestampSchema = z.iso.datetime({ offset: true });

// ---- References to the branch (NeonEndpoint, NeonRole, NeonDatabase) ----

/**
 * How an endpoint, role or database names its branch: a NeonBranch, a NeonProject (its default
 * branch), or raw Neon IDs. Spread into the spec of those kinds; `branchTargetRules` goes with it.
 */
export const branchTargetShape = {
  branchRef: localRef('NeonBranch', 'The branch, as a NeonBranch in the same namespace. Set exactly one of branchRef, projectRef, or projectId with branchId. Immutable.').optional(),
  projectRef: localRef(
    'NeonProject',
    "The default branch of a NeonProject in the same namespace. Set exactly one of branchRef, projectRef, or projectId with branchId. Immutable.",
  ).optional(),
  projectId: neonIdSchema
    .describe('Neon ID of the project, for a branch not managed by this operator. Requires branchId. Immutable.')
    .optional(),
  branchId: neonIdSchema
    .describe('Neon ID of the branch (br-…), for a branch not managed by this operator. Requires projectId. Immutable.')
    .optional(),
  apiKeySecretRef: secretKeyRefSchema
    .describe(
      "The Neon API key to use, for projectId/branchId only. With branchRef or projectRef the referenced NeonProject's key is used; " +
        "without either, the operator's own key.",
    )
    .optional(),
};

interface BranchTarget {
  branchRef?: LocalRef | undefined;
  projectRef?: LocalRef | undefined;
  projectId?: string | undefined;
  branchId?: string | undefined;
  apiKeySecretRef?: SecretKeyRef | undefined;
}

export const branchTargetRules: CelRule<BranchTarget>[] = [
  {
    rule: '(has(self.branchRef) ? 1 : 0) + (has(self.projectRef) ? 1 : 0) + (has(self.projectId) || has(self.branchId) ? 1 : 0) == 1',
    message: 'exactly one of branchRef, projectRef, or projectId with branchId must be set',
    field: 'branchRef',
    check: (s) => [isSet(s.branchRef), isSet(s.projectRef), isSet(s.projectId) || isSet(s.branchId)].filter(Boolean).length === 1,
  },
  {
    rule: 'has(self.projectId) == has(self.branchId)',
    message: 'projectId and branchId must be set together',
    field: 'branchId',
    check: (s) => isSet(s.projectId) === isSet(s.branchId),
  },
  {
    rule: '!has(self.apiKeySecretRef) || has(self.projectId)',
    message: "apiKeySecretRef can only be set with projectId; with branchRef or projectRef the NeonProject's key is used",
    field: 'apiKeySecretRef',
    check: (s) => !isSet(s.apiKeySecretRef) || isSet(s.projectId),
  },
  immutable('branchRef'),
  immutable('projectRef'),
  immutable('projectId'),
  immutable('branchId'),
];

// ---- Status ----

/** The shape of metav1.Condition, with the API server's own limits. */
export const conditionSchema = z
  .object({
    type: z
      .string()
      .max(316)
      .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/)
      .describe('Type of the condition, e.g. Ready.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition: True, False or Unknown.'),
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe('metadata.generation of the object the condition was computed from.'),
    lastTransitionTime: timestampSchema.describe('When the status of the condition last changed.'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe('Machine-readable reason for the last transition, in CamelCase.'),
    message: z.string().max(32768).describe('Human-readable details of the last transition; may be empty.'),
  })
  .describe('A condition of the object (metav1.Condition).');
export type Condition = z.output<typeof conditionSchema>;

export const conditionsSchema = z
  .array(conditionSchema)
  .max(32)
  .describe(
    'Conditions of the object. Ready: the Neon resource exists and can be used (dependents wait for it). Synced: the ' +
      'last reconcile applied the spec (False with a reason, e.g. NeonRejected, while Ready may stay True).',
  )
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

export const pendingCreateSchema = z
  .object({
    startedAt: timestampSchema.describe('When the operator was about to send the create call.'),
    name: z
      .string()
      .min(1)
      .max(256)
      .describe('Name the resource is being created under in Neon; the operator adopts a resource of this name.'),
  })
  .describe(
    'Set before the operator asks Neon to create the resource and cleared once the result is recorded. If the ' +
      'operator stopped in between, it finds and adopts what was created instead of creating it twice.',
  );
export type PendingCreate = z.output<typeof pendingCreateSchema>;

/**
 * The Neon account an object last reached Neon with: a reference to the API key Secret (never the key).
 * Absent: the operator's own key. Cleanup uses it when what the spec names the key through is gone.
 */
export const recordedApiKeyRefSchema = z
  .object({
    namespace: z.string().max(63).optional().describe('Namespace of the Secret; absent: the namespace of this object.'),
    name: objectNameSchema.describe('Name of the Secret holding the Neon API key.'),
    key: z.string().min(1).max(253).describe('Key in the Secret whose value is the Neon API key.'),
  })
  .describe(
    'The API key Secret (a reference, never the key) this object last reached Neon with; absent when the operator\'s ' +
      'own key was used. When the object is deleted after what named the key is gone (e.g. its NeonProject with ' +
      'apiKeySecretRef), the Neon resource is deleted in this account.',
  )
  .meta({ 'x-kubernetes-map-type': 'atomic' });
export type RecordedApiKeyRef = z.output<typeof recordedApiKeyRefSchema>;

/** Fields every kind's status has. */
export const statusBaseShape = {
  apiKeySecretRef: recordedApiKeyRefSchema.optional(),
  origin: z
    .enum(originValues)
    .optional()
    .describe(
      'Created: the operator created the Neon resource for this object. Adopted: it existed in Neon before (found by ID ' +
        'or name, or the project\'s default) and is left in Neon on deletion unless spec.ownAdopted is true.',
    ),
  observedGeneration: z
    .int()
    .min(0)
    .optional()
    .describe('metadata.generation of the spec the operator last acted on.'),
  conditions: conditionsSchema.optional(),
  pendingCreate: pendingCreateSchema.optional(),
};

// ---- Object metadata ----

/**
 * The metadata the operator reads. Loose: the API server adds fields (managedFields, …) that pass through.
 * Not part of the CRD schema (the API server validates metadata itself).
 */
export const objectMetaSchema = z
  .object({
    name: z.string().min(1),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    generation: z.int().optional(),
    creationTimestamp: z.string().optional(),
    deletionTimestamp: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    finalizers: z.array(z.string()).optional(),
  })
  .loose();
export type ObjectMeta = z.output<typeof objectMetaSchema>;
