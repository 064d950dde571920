import { z } from 'zod';
import {
  branchTargetRules,
  branchTargetShape,
  connectionSecretSchema,
  deletionShape,
  localRef,
  neonIdSchema,
  postgresNameSchema,
  statusBaseShape,
  timestampSchema,
} from './common.ts';
import { ROTATE_PASSWORD_ANNOTATION } from './group.ts';
import { defineKind } from './resource.ts';
import { isSet, postgresNameDefaultingToMetadata, withRules } from './validation.ts';

export const neonRoleSpecSchema = withRules(
  z
    .object({
      ...branchTargetShape,
      name: postgresNameSchema
        .optional()
        .describe('Name of the Postgres role (at most 63 bytes). Default: metadata.name. Immutable.'),
      secret: connectionSecretSchema(
        'The Secret the operator writes with the connection details (host, pooled-host, port, dbname, username, ' +
          'password, uri, pooled-uri, jdbc-uri, pgpass, DATABASE_URL). It is owned by this NeonRole. ' +
          `Annotate the NeonRole with ${ROTATE_PASSWORD_ANNOTATION}=<any new value> to rotate the password.`,
      ),
      databaseRef: localRef(
        'NeonDatabase',
        'The database the Secret connects to, as a NeonDatabase in the same namespace. Set exactly one of databaseRef or databaseName.',
      ).optional(),
      databaseName: postgresNameSchema
        .optional()
        .describe('Name of the database the Secret connects to, e.g. neondb. Set exactly one of databaseRef or databaseName.'),
      endpointRef: localRef(
        'NeonEndpoint',
        "The compute the Secret connects to, as a NeonEndpoint in the same namespace (on the role's branch). " +
          "At most one of endpointRef or endpointId; neither means the branch's read-write compute.",
      ).optional(),
      endpointId: neonIdSchema
        .optional()
        .describe("Neon ID of the compute the Secret connects to (ep-…). At most one of endpointRef or endpointId; neither means the branch's read-write compute."),
      ...deletionShape('Delete'),
    })
    .describe('Desired state of the Postgres role, and of the Secret to connect as it.'),
  [
    ...branchTargetRules,
    {
      rule: 'has(self.databaseRef) != has(self.databaseName)',
      message: 'exactly one of databaseRef or databaseName must be set',
      field: 'databaseRef',
      check: (s) => isSet(s.databaseRef) !== isSet(s.databaseName),
    },
    {
      rule: '!(has(self.endpointRef) && has(self.endpointId))',
      message: 'at most one of endpointRef or endpointId may be set',
      field: 'endpointRef',
      check: (s) => !(isSet(s.endpointRef) && isSet(s.endpointId)),
    },
  ],
);
export type NeonRoleSpec = z.output<typeof neonRoleSpecSchema>;

export const neonRoleStatusSchema = z
  .object({
    ...statusBaseShape,
    projectId: neonIdSchema.optional().describe('Neon ID of the project.'),
    branchId: neonIdSchema.optional().describe('Neon ID of the branch of the role.'),
    roleName: z.string().max(63).optional().describe('Name of the Postgres role in Neon.'),
    endpointId: neonIdSchema.optional().describe('Neon ID of the compute the Secret points at.'),
    databaseName: z.string().max(63).optional().describe('Name of the database the Secret points at.'),
    secretName: z.string().max(253).optional().describe('Name of the connection Secret.'),
    passwordRotation: z
      .object({
        request: z
          .string()
          .max(1024)
          .describe(`Value of the ${ROTATE_PASSWORD_ANNOTATION} annotation that was acted on.`),
        completedAt: timestampSchema.describe('When the new password was written to the Secret.'),
      })
      .optional()
      .describe('The last password rotation requested through the annotation.'),
    branchReset: z
      .string()
      .max(1024)
      .optional()
      .describe("The reset of the branch (its NeonBranch's status.reset.request) after which the role and its Secret were last checked."),
  })
  .describe('Observed state of the Postgres role and its Secret.');
export type NeonRoleStatus = z.output<typeof neonRoleStatusSchema>;

export const neonRoleKind = defineKind({
  kind: 'NeonRole',
  plural: 'neonroles',
  shortNames: ['nrole'],
  description:
    'A Postgres role on a Neon branch, and a Secret with everything an application needs to connect as it.',
  spec: neonRoleSpecSchema,
  status: neonRoleStatusSchema,
  objectRules: postgresNameDefaultingToMetadata('the Postgres role name', { immutable: true }),
  readyMeans: 'Whether the role exists in Neon and its Secret can be used.',
  printerColumns: [
    { name: 'Role', type: 'string', jsonPath: '.status.roleName', description: 'Name of the Postgres role.' },
    { name: 'Branch ID', type: 'string', jsonPath: '.status.branchId', description: 'Neon ID of the branch.' },
    { name: 'Secret', type: 'string', jsonPath: '.status.secretName', description: 'Name of the connection Secret.' },
    { name: 'Database', type: 'string', jsonPath: '.status.databaseName', description: 'Database the Secret points at.', priority: 1 },
  ],
});
export type NeonRole = ReturnType<typeof neonRoleKind.parse>;
/** Parses a NeonRole read from the API server; throws ResourceParseError naming each bad field. */
export const parseNeonRole = neonRoleKind.parse;
