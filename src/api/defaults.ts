import type { NeonBranch } from './neon-branch.ts';
import type { NeonDatabase } from './neon-database.ts';
import type { NeonProject } from './neon-project.ts';
import type { NeonRole } from './neon-role.ts';

// Defaults the CRD cannot express because they depend on metadata.name. Every controller takes them from
// here, so the value documented in the field's description is the one applied everywhere.

/** Name of the project in Neon: spec.name, else metadata.name. */
export function neonProjectName(p: NeonProject): string {
  return p.spec.name ?? p.metadata.name;
}

/** Name of the branch in Neon: spec.name, else metadata.name. */
export function neonBranchName(b: NeonBranch): string {
  return b.spec.name ?? b.metadata.name;
}

/** Name of the Postgres role: spec.name, else metadata.name. */
export function postgresRoleName(r: NeonRole): string {
  return r.spec.name ?? r.metadata.name;
}

/** Name of the Postgres database: spec.name, else metadata.name. */
export function postgresDatabaseName(d: NeonDatabase): string {
  return d.spec.name ?? d.metadata.name;
}

/** Name of the connection Secret a NeonRole or NeonProject writes: spec.secret.name, else `<metadata.name>-connection`. */
export function connectionSecretName(obj: NeonRole | NeonProject): string {
  return obj.spec.secret?.name ?? `${obj.metadata.name}-connection`;
}
