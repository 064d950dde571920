import { z } from 'zod';
import {
  autoscalingSchema,
  connectionSecretSchema,
  deletionShape,
  neonIdSchema,
  postgresNameSchema,
  secretKeyRefSchema,
  statusBaseShape,
  suspendTimeoutSecondsSchema,
} from './common.ts';
import { defineKind } from './resource.ts';
import { immutable, withRules } from './validation.ts';

const hhmm = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/);

const maintenanceWindowSchema = z
  .object({
    weekdays: z
      .array(z.int().min(1).max(7))
      .min(1)
      .max(7)
      .describe('Days of the week on which the window is open: 1 is Monday, 7 is Sunday.')
      .meta({ 'x-kubernetes-list-type': 'set' }),
    startTime: hhmm.describe('Start of the window, "HH:MM" in UTC.'),
    endTime: hhmm.describe('End of the window, "HH:MM" in UTC.'),
  })
  .describe(
    'When Neon may perform maintenance on the project; computes may restart and connections may drop then.',
  );

const quotaField = (what: string) =>
  z.int().min(0).optional().describe(`${what} 0 or unset means unlimited.`);

const projectSettingsSchema = z
  .object({
    allowedIps: z
      .object({
        ips: z
          .array(z.string().min(1).max(100))
          .max(1000)
          .describe('IP addresses, ranges (a.b.c.d-a.b.c.e) or CIDR blocks allowed to connect. Empty allows all.')
          .meta({ 'x-kubernetes-list-type': 'set' }),
        protectedBranchesOnly: z
          .boolean()
          .optional()
          .describe('Apply the list to protected branches only.'),
      })
      .optional()
      .describe('IP allowlist for the compute endpoints of the project.'),
    enableLogicalReplication: withRules(
      z.boolean().describe(
        'Sets wal_level=logical on all computes of the project (they are restarted). Cannot be disabled once enabled.',
      ),
      [
        {
          rule: '!oldSelf || self',
          message: 'settings.enableLogicalReplication cannot be disabled once enabled',
        },
      ],
    ).optional(),
    maintenanceWindow: maintenanceWindowSchema.optional(),
    quota: z
      .object({
        activeTimeSeconds: quotaField('Wall-clock seconds the computes may be active per billing period.'),
        computeTimeSeconds: quotaField('CPU seconds the computes may use per billing period.'),
        writtenDataBytes: quotaField('Bytes that may be written to all branches per billing period.'),
        dataTransferBytes: quotaField('Bytes that may be transferred out through the proxy per billing period.'),
        logicalSizeBytes: quotaField('Logical size limit of every branch, in bytes.'),
      })
      .optional()
      .describe('Consumption quotas; when one is exceeded Neon suspends the computes (logicalSizeBytes blocks writes).'),
  })
  .describe('Project settings. Fields left out are not managed by the operator.');

const defaultEndpointSettingsSchema = z
  .object({
    autoscaling: autoscalingSchema.optional(),
    suspendTimeoutSeconds: suspendTimeoutSecondsSchema.optional(),
  })
  .describe('Settings of new computes in the project, including the default branch\'s read-write compute.');

export const neonProjectSpecSchema = withRules(
  z
    .object({
      name: z
        .string()
        .min(1)
        .max(256)
        .optional()
        .describe('Name of the project in Neon. Default: metadata.name.'),
      projectId: neonIdSchema
        .optional()
        .describe(
          'Adopt an existing Neon project by ID instead of creating one. Immutable. The create-only fields ' +
            '(regionId, pgVersion, orgId, defaultBranch, defaultRole, defaultDatabase) are then not used.',
        ),
      regionId: z
        .string()
        .min(1)
        .max(64)
        .regex(/^[a-z0-9-]+$/)
        .optional()
        .describe("Neon region, e.g. aws-us-east-2 or azure-eastus2. Default: Neon's default region. Immutable."),
      pgVersion: z
        .int()
        .min(14)
        .max(18)
        .optional()
        .describe("Major Postgres version: 14, 15, 16, 17 or 18. Default: Neon's default (17). Immutable."),
      orgId: neonIdSchema
        .optional()
        .describe('Neon organization that owns the project. Default: the owner of the API key. Immutable.'),
      historyRetentionSeconds: z
        .int()
        .min(0)
        .max(2592000)
        .optional()
        .describe('How long the history of all branches is kept, for point-in-time restore and branching: 0 to 2592000 seconds (30 days).'),
      defaultEndpointSettings: defaultEndpointSettingsSchema.optional(),
      settings: projectSettingsSchema.optional(),
      defaultBranch: z
        .object({
          name: z.string().min(1).max(256).describe('Name of the default branch. Default: main.'),
        })
        .optional()
        .describe('The default branch created with the project. Immutable.'),
      defaultRole: z
        .object({
          name: postgresNameSchema.describe('Name of the role. Default: <defaultDatabase.name>_owner.'),
        })
        .optional()
        .describe('The role created with the project; its connection Secret is written (see secret). Immutable.'),
      defaultDatabase: z
        .object({
          name: postgresNameSchema.describe('Name of the database. Default: neondb.'),
        })
        .optional()
        .describe('The database created with the project. Immutable.'),
      secret: connectionSecretSchema("The Secret with the default role's connection details to the default database and compute."),
      apiKeySecretRef: secretKeyRefSchema
        .optional()
        .describe(
          "The Neon API key for this project (and every object that references it), from a Secret in this namespace. " +
            "Default: the operator's own key. Lets one cluster manage projects of several Neon accounts.",
        ),
      ...deletionShape('Retain'),
    })
    .describe('Desired state of the Neon project.'),
  [
    immutable('projectId'),
    immutable('regionId'),
    immutable('pgVersion'),
    immutable('orgId'),
    immutable('defaultBranch'),
    immutable('defaultRole'),
    immutable('defaultDatabase'),
  ],
);
export type NeonProjectSpec = z.output<typeof neonProjectSpecSchema>;

export const neonProjectStatusSchema = z
  .object({
    ...statusBaseShape,
    projectId: neonIdSchema.optional().describe('Neon ID of the project.'),
    regionId: z.string().max(64).optional().describe('Region of the project.'),
    pgVersion: z.int().optional().describe('Major Postgres version of the project.'),
    orgId: z.string().max(64).optional().describe('Organization that owns the project, if any.'),
    defaultBranchId: neonIdSchema.optional().describe('Neon ID of the default branch.'),
    defaultEndpointId: neonIdSchema.optional().describe('Neon ID of the read-write compute of the default branch.'),
    host: z.string().max(253).optional().describe('Host name of the default branch\'s read-write compute.'),
    poolerHost: z.string().max(253).optional().describe('Host name of the same compute through the connection pooler.'),
    defaultRoleName: z.string().max(63).optional().describe('Name of the default role.'),
    defaultDatabaseName: z.string().max(63).optional().describe('Name of the default database.'),
    secretName: z.string().max(253).optional().describe('Name of the connection Secret written for the default role.'),
  })
  .describe('Observed state of the Neon project.');
export type NeonProjectStatus = z.output<typeof neonProjectStatusSchema>;

export const neonProjectKind = defineKind({
  kind: 'NeonProject',
  plural: 'neonprojects',
  shortNames: ['nproj'],
  description:
    'A Neon project: its region, Postgres version, settings, default branch, role, database and compute. ' +
    'The operator creates it (or adopts it by ID) and writes a Secret to connect as the default role.',
  spec: neonProjectSpecSchema,
  status: neonProjectStatusSchema,
  readyMeans: 'Whether the project exists in Neon and can be used.',
  printerColumns: [
    { name: 'Project ID', type: 'string', jsonPath: '.status.projectId', description: 'Neon ID of the project.' },
    { name: 'Region', type: 'string', jsonPath: '.status.regionId', description: 'Region of the project.' },
    { name: 'PG', type: 'integer', jsonPath: '.status.pgVersion', description: 'Major Postgres version.' },
    { name: 'Host', type: 'string', jsonPath: '.status.host', description: 'Host of the default compute.', priority: 1 },
  ],
});
export type NeonProject = ReturnType<typeof neonProjectKind.parse>;
/** Parses a NeonProject read from the API server; throws ResourceParseError naming each bad field. */
export const parseNeonProject = neonProjectKind.parse;

