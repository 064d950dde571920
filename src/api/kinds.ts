import { neonBranchKind, type NeonBranch } from './neon-branch.ts';
import { neonDatabaseKind, type NeonDatabase } from './neon-database.ts';
import { neonEndpointKind, type NeonEndpoint } from './neon-endpoint.ts';
import { neonProjectKind, type NeonProject } from './neon-project.ts';
import { neonRoleKind, type NeonRole } from './neon-role.ts';

/** Every kind of the operator, parents before children (the order CRDs are listed and documented in). */
export const allKinds = [neonProjectKind, neonBranchKind, neonEndpointKind, neonRoleKind, neonDatabaseKind] as const;

export type NeonKindName = (typeof allKinds)[number]['kind'];

/** Any custom resource of the operator, as parsed. */
export type NeonResource = NeonProject | NeonBranch | NeonEndpoint | NeonRole | NeonDatabase;
