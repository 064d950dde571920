import { neonBranchKind } from './neon-branch.ts';
import { neonDatabaseKind } from './neon-database.ts';
import { neonEndpointKind } from './neon-endpoint.ts';
import { neonProjectKind } from './neon-project.ts';
import { neonRoleKind } from './neon-role.ts';

/** Every kind of the operator, parents before children (the order CRDs are listed and documented in). */
export const allKinds = [neonProjectKind, neonBranchKind, neonEndpointKind, neonRoleKind, neonDatabaseKind] as const;

export type NeonKindName = (typeof allKinds)[number]['kind'];
