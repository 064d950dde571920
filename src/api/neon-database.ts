import { z } from 'zod';
import {
  branchTargetRules,
  branchTargetShape,
  deletionShape,
  localRef,
  neonIdSchema,
  postgresNameSchema,
  statusBaseShape,
} from './common.ts';
import { defineKind } from './resource.ts';
import { isSet, postgresNameDefaultingToMetadata, withRules } from './validation.ts';

export const neonDatabaseSpecSchema = withRules(
  z
    .object({
      ...branchTargetShape,
      name: postgresNameSchema
        .optional()
        .describe('Name of the database (at most 63 bytes). Default: metadata.name. Changing it renames the database.'),
      ownerRef: localRef(
        'NeonRole',
        'The owner, as a NeonRole in the same namespace (on the same branch). Set exactly one of ownerRef or ownerName.',
      ).optional(),
      ownerName: postgresNameSchema
        .optional()
        .describe('Name of the Postgres role that owns the database, e.g. neondb_owner. Set exactly one of ownerRef or ownerName.'),
      ...deletionShape('Delete'),
    })
    .describe('Desired state of the Postgres database.'),
  [
    ...branchTargetRules,
    {
      rule: 'has(self.ownerRef) != has(self.ownerName)',
      message: 'exactly one of ownerRef or ownerName must be set',
      field: 'ownerRef',
      check: (s) => isSet(s.ownerRef) !== isSet(s.ownerName),
    },
  ],
);
export type NeonDatabaseSpec = z.output<typeof neonDatabaseSpecSchema>;

export const neonDatabaseStatusSchema = z
  .object({
    ...statusBaseShape,
    projectId: neonIdSchema.optional().describe('Neon ID of the project.'),
    branchId: neonIdSchema.optional().describe('Neon ID of the branch of the database.'),
    databaseName: z.string().max(63).optional().describe('Name of the database in Neon.'),
    ownerName: z.string().max(63).optional().describe('Name of the role that owns the database.'),
  })
  .describe('Observed state of the Postgres database.');
export type NeonDatabaseStatus = z.output<typeof neonDatabaseStatusSchema>;

export const neonDatabaseKind = defineKind({
  kind: 'NeonDatabase',
  plural: 'neondatabases',
  shortNames: ['ndb'],
  description: 'A Postgres database on a Neon branch, owned by a role.',
  spec: neonDatabaseSpecSchema,
  status: neonDatabaseStatusSchema,
  // Renaming is allowed (Neon renames the database), so the name is not immutable.
  objectRules: postgresNameDefaultingToMetadata('the database name', { immutable: false }),
  readyMeans: 'Whether the database exists in Neon and can be used.',
  printerColumns: [
    { name: 'Database', type: 'string', jsonPath: '.status.databaseName', description: 'Name of the database.' },
    { name: 'Owner', type: 'string', jsonPath: '.status.ownerName', description: 'Role that owns the database.' },
    { name: 'Branch ID', type: 'string', jsonPath: '.status.branchId', description: 'Neon ID of the branch.' },
  ],
});
export type NeonDatabase = ReturnType<typeof neonDatabaseKind.parse>;
/** Parses a NeonDatabase read from the API server; throws ResourceParseError naming each bad field. */
export const parseNeonDatabase = neonDatabaseKind.parse;
