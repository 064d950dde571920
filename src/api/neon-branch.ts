import { z } from 'zod';
import {
  deletionShape,
  localRef,
  neonIdSchema,
  postgresNameSchema,
  secretKeyRefSchema,
  statusBaseShape,
  timestampSchema,
} from './common.ts';
import { RESET_FROM_PARENT_ANNOTATION, RESET_PRESERVE_UNDER_NAME_ANNOTATION } from './group.ts';
import { defineKind } from './resource.ts';
import { immutable, isSet, withRules } from './validation.ts';

export const initSourceValues = ['parent-data', 'schema-only'] as const;

/** One column to mask, as Neon's MaskingRule (PostgreSQL Anonymizer). */
export const maskingRuleSchema = withRules(
  z
    .object({
      databaseName: postgresNameSchema.describe('Database of the table.'),
      schemaName: postgresNameSchema.describe('Schema of the table, e.g. public.'),
      tableName: postgresNameSchema.describe('Table of the column.'),
      columnName: postgresNameSchema.describe('The column to mask.'),
      maskingFunction: z
        .string()
        .min(1)
        .max(1024)
        .optional()
        .describe("PostgreSQL Anonymizer function that computes the masked value, e.g. anon.fake_email() or anon.random_string(10). Set maskingFunction or maskingValue."),
      maskingValue: z.string().max(1024).optional().describe('A literal value written into the column instead. Set maskingFunction or maskingValue.'),
    })
    .describe('A column to mask and how (Neon masking rule).'),
  [
    {
      rule: 'has(self.maskingFunction) || has(self.maskingValue)',
      message: 'set maskingFunction or maskingValue',
      field: 'maskingFunction',
      check: (r) => isSet(r.maskingFunction) || isSet(r.maskingValue),
    },
  ],
);

export const neonBranchSpecSchema = withRules(
  z
    .object({
      name: z
        .string()
        .min(1)
        .max(256)
        .optional()
        .describe('Name of the branch in Neon. Default: metadata.name. Changing it renames the branch.'),
      projectRef: localRef(
        'NeonProject',
        'The project, as a NeonProject in the same namespace. Set exactly one of projectRef or projectId. Immutable.',
      ).optional(),
      projectId: neonIdSchema
        .optional()
        .describe('Neon ID of the project, for a project not managed by this operator. Set exactly one of projectRef or projectId. Immutable.'),
      apiKeySecretRef: secretKeyRefSchema
        .optional()
        .describe(
          "The Neon API key to use, with projectId only. With projectRef the NeonProject's key is used; otherwise the operator's own key.",
        ),
      parentRef: localRef(
        'NeonBranch',
        'The parent branch, as a NeonBranch in the same namespace. At most one of parentRef or parentId; ' +
          "neither means the project's default branch. Immutable.",
      ).optional(),
      parentId: neonIdSchema
        .optional()
        .describe("Neon ID of the parent branch (br-…). At most one of parentRef or parentId; neither means the project's default branch. Immutable."),
      parentLsn: z
        .string()
        .regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/)
        .optional()
        .describe('Branch from this Log Sequence Number of the parent (e.g. 0/1F2A3B8) instead of its latest state. At most one of parentLsn or parentTimestamp. Immutable.'),
      parentTimestamp: timestampSchema
        .optional()
        .describe('Branch from the parent as it was at this time (RFC 3339, e.g. 2026-01-31T12:00:00Z), within the history retention. At most one of parentLsn or parentTimestamp. Immutable.'),
      initSource: z
        .enum(initSourceValues)
        .optional()
        .describe(
          'What the branch starts with: parent-data (schema and data of the parent, the default) or schema-only ' +
            '(only the schema; the branch is then a new root branch and the parent is only its source). Immutable.',
        ),
      protected: z.boolean().optional().describe('Whether the branch is protected in Neon. Unset leaves it as it is.'),
      expiresAt: timestampSchema
        .optional()
        .describe('When Neon deletes the branch automatically (RFC 3339, precision of seconds). Unset means no expiry.'),
      anonymization: z
        .object({
          maskingRules: z
            .array(maskingRuleSchema)
            .max(1000)
            .describe("The columns to mask. Changing them replaces Neon's rules and, with start, masks the data again."),
          start: z
            .boolean()
            .default(true)
            .describe(
              'Start anonymization (default true). The branch is Ready only once its data is masked; with false it holds the ' +
                "parent's unmasked data and stays Ready=False (AnonymizationNotStarted).",
            ),
        })
        .optional()
        .describe(
          "Beta (Neon's anonymized branches): create the branch with its data masked by PostgreSQL Anonymizer, for previews " +
            'with production-like data. Set at creation only; cannot be combined with initSource schema-only.',
        ),
      ...deletionShape('Delete'),
    })
    .describe("Desired state of the Neon branch. A project's default branch is never deleted through a NeonBranch."),
  [
    {
      rule: 'has(self.projectRef) != has(self.projectId)',
      message: 'exactly one of projectRef or projectId must be set',
      field: 'projectRef',
      check: (s) => isSet(s.projectRef) !== isSet(s.projectId),
    },
    {
      rule: '!has(self.apiKeySecretRef) || has(self.projectId)',
      message: "apiKeySecretRef can only be set with projectId; with projectRef the NeonProject's key is used",
      field: 'apiKeySecretRef',
      check: (s) => !isSet(s.apiKeySecretRef) || isSet(s.projectId),
    },
    {
      rule: '!(has(self.parentRef) && has(self.parentId))',
      message: 'at most one of parentRef or parentId may be set',
      field: 'parentRef',
      check: (s) => !(isSet(s.parentRef) && isSet(s.parentId)),
    },
    {
      rule: '!(has(self.parentLsn) && has(self.parentTimestamp))',
      message: 'at most one of parentLsn or parentTimestamp may be set',
      field: 'parentLsn',
      check: (s) => !(isSet(s.parentLsn) && isSet(s.parentTimestamp)),
    },
    {
      rule: '!(has(self.anonymization) && has(self.initSource) && self.initSource == "schema-only")',
      message: 'anonymization cannot be combined with initSource schema-only',
      field: 'anonymization',
      check: (s) => !(isSet(s.anonymization) && s.initSource === 'schema-only'),
    },
    {
      rule: 'has(self.anonymization) == has(oldSelf.anonymization)',
      message: 'anonymization can only be set when the branch is created: it cannot be added or removed',
      field: 'anonymization',
    },
    immutable('projectRef'),
    immutable('projectId'),
    immutable('parentRef'),
    immutable('parentId'),
    immutable('parentLsn'),
    immutable('parentTimestamp'),
    immutable('initSource'),
  ],
);
export type NeonBranchSpec = z.output<typeof neonBranchSpecSchema>;

export const neonBranchStatusSchema = z
  .object({
    ...statusBaseShape,
    projectId: neonIdSchema.optional().describe('Neon ID of the project of the branch.'),
    branchId: neonIdSchema.optional().describe('Neon ID of the branch.'),
    parentId: neonIdSchema.optional().describe('Neon ID of the parent branch (none for a root branch).'),
    name: z.string().max(256).optional().describe('Name of the branch in Neon.'),
    default: z.boolean().optional().describe("Whether this is the project's default branch, which is never deleted by the operator."),
    state: z.string().max(64).optional().describe('State of the branch in Neon: init, ready, resetting or archived.'),
    anonymization: z
      .object({
        state: z.string().max(64).describe('Anonymization state in Neon: created, initialized, initialization_error, anonymizing, anonymized or error.'),
        message: z.string().max(1024).optional().describe("Neon's status message."),
        maskedColumns: z.int().min(0).optional().describe('Columns masked by the last run.'),
        completedAt: timestampSchema.optional().describe('When the last anonymization run ended.'),
      })
      .optional()
      .describe('Beta: the anonymization of the branch as Neon reports it.'),
    reset: z
      .object({
        request: z.string().max(1024).describe(`Value of the ${RESET_FROM_PARENT_ANNOTATION} annotation that was acted on.`),
        completedAt: timestampSchema.describe("When the branch was restored to its parent's latest state (or created, for a value present at creation)."),
        sourceBranchId: neonIdSchema.optional().describe('Neon ID of the parent branch the branch was restored from.'),
        preservedUnderName: z
          .string()
          .max(256)
          .optional()
          .describe(`Name of the Neon branch that keeps the state before the reset (${RESET_PRESERVE_UNDER_NAME_ANNOTATION}); it is not managed by the operator.`),
      })
      .optional()
      .describe(`The last reset from the parent asked for with the ${RESET_FROM_PARENT_ANNOTATION} annotation and done.`),
    resetPending: z
      .object({
        request: z.string().max(1024).describe(`Value of the ${RESET_FROM_PARENT_ANNOTATION} annotation being acted on.`),
        startedAt: timestampSchema.describe('When the restore call was about to be made: a restore Neon records after this is this one.'),
      })
      .optional()
      .describe('A reset whose restore call may have been made; written before the call, so a restart does not restore twice.'),
  })
  .describe('Observed state of the Neon branch.');
export type NeonBranchStatus = z.output<typeof neonBranchStatusSchema>;

export const neonBranchKind = defineKind({
  kind: 'NeonBranch',
  plural: 'neonbranches',
  shortNames: ['nbr'],
  description:
    'A branch of a Neon project: a copy-on-write clone of its parent (the default branch unless said otherwise), ' +
    'optionally from a point in time.',
  spec: neonBranchSpecSchema,
  status: neonBranchStatusSchema,
  readyMeans: 'Whether the branch exists in Neon and can be used.',
  printerColumns: [
    { name: 'Branch ID', type: 'string', jsonPath: '.status.branchId', description: 'Neon ID of the branch.' },
    { name: 'Project ID', type: 'string', jsonPath: '.status.projectId', description: 'Neon ID of the project.' },
    { name: 'Neon Name', type: 'string', jsonPath: '.status.name', description: 'Name of the branch in Neon.' },
    { name: 'Protected', type: 'boolean', jsonPath: '.spec.protected', description: 'Whether the branch is protected.' },
    { name: 'Parent', type: 'string', jsonPath: '.status.parentId', description: 'Neon ID of the parent branch.', priority: 1 },
    { name: 'State', type: 'string', jsonPath: '.status.state', description: 'State of the branch in Neon.', priority: 1 },
  ],
});
export type NeonBranch = ReturnType<typeof neonBranchKind.parse>;
/** Parses a NeonBranch read from the API server; throws ResourceParseError naming each bad field. */
export const parseNeonBranch = neonBranchKind.parse;
