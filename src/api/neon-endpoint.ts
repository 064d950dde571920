import { z } from 'zod';
import {
  autoscalingSchema,
  branchTargetRules,
  branchTargetShape,
  deletionShape,
  neonIdSchema,
  statusBaseShape,
  suspendTimeoutSecondsSchema,
} from './common.ts';
import { defineKind } from './resource.ts';
import { immutable, withRules } from './validation.ts';

export const endpointTypeValues = ['read_write', 'read_only'] as const;
export type EndpointType = (typeof endpointTypeValues)[number];

export const neonEndpointSpecSchema = withRules(
  z
    .object({
      ...branchTargetShape,
      type: z
        .enum(endpointTypeValues)
        .default('read_write')
        .describe('read_write (at most one per branch) or read_only. Default: read_write. Immutable.'),
      autoscaling: autoscalingSchema.optional(),
      suspendTimeoutSeconds: suspendTimeoutSecondsSchema.optional(),
      disabled: z
        .boolean()
        .optional()
        .describe('Refuse connections to the compute (and suspend it). Unset leaves it as it is.'),
      ...deletionShape('Delete'),
    })
    .describe('Desired state of the Neon compute endpoint. Fields left out keep the values Neon chose.'),
  [...branchTargetRules, immutable('type')],
);
export type NeonEndpointSpec = z.output<typeof neonEndpointSpecSchema>;

export const neonEndpointStatusSchema = z
  .object({
    ...statusBaseShape,
    projectId: neonIdSchema.optional().describe('Neon ID of the project.'),
    branchId: neonIdSchema.optional().describe('Neon ID of the branch of the compute.'),
    endpointId: neonIdSchema.optional().describe('Neon ID of the compute endpoint (ep-…).'),
    host: z.string().max(253).optional().describe('Host name to connect to.'),
    poolerHost: z.string().max(253).optional().describe('Host name to connect to through the connection pooler (PgBouncer).'),
    state: z.string().max(64).optional().describe('State of the compute in Neon: init, active or idle.'),
  })
  .describe('Observed state of the Neon compute endpoint.');
export type NeonEndpointStatus = z.output<typeof neonEndpointStatusSchema>;

export const neonEndpointKind = defineKind({
  kind: 'NeonEndpoint',
  plural: 'neonendpoints',
  shortNames: ['nep'],
  description: 'A Neon compute endpoint: the Postgres server of a branch, with its autoscaling limits and scale-to-zero timeout.',
  spec: neonEndpointSpecSchema,
  status: neonEndpointStatusSchema,
  readyMeans: 'Whether the compute exists in Neon and can be used.',
  printerColumns: [
    { name: 'Endpoint ID', type: 'string', jsonPath: '.status.endpointId', description: 'Neon ID of the compute endpoint.' },
    { name: 'Type', type: 'string', jsonPath: '.spec.type', description: 'read_write or read_only.' },
    { name: 'Min CU', type: 'number', jsonPath: '.spec.autoscaling.minCu', description: 'Minimum Compute Units.' },
    { name: 'Max CU', type: 'number', jsonPath: '.spec.autoscaling.maxCu', description: 'Maximum Compute Units.' },
    { name: 'State', type: 'string', jsonPath: '.status.state', description: 'State of the compute in Neon.' },
    { name: 'Host', type: 'string', jsonPath: '.status.host', description: 'Host name to connect to.', priority: 1 },
  ],
});
export type NeonEndpoint = ReturnType<typeof neonEndpointKind.parse>;
/** Parses a NeonEndpoint read from the API server; throws ResourceParseError naming each bad field. */
export const parseNeonEndpoint = neonEndpointKind.parse;
