import { PreconditionFailedError, type NeonClient } from '../../neon/index.ts';

export interface PasswordAnswer {
  password: string;
  /** `reset` when a new password had to be generated (the old one is no longer valid anywhere). */
  source: 'secret' | 'revealed' | 'reset';
}

/**
 * The role's valid password, for its Secret. Neon is asked first (`reveal_password`), so a Secret left
 * with a stale password (e.g. the operator stopped between a reset and the Secret write) is repaired. When
 * the project does not store passwords (412), the Secret's password is trusted if there is one; otherwise
 * the password is reset, because nobody can know it any more. Never logs or returns the password
 * anywhere but the result.
 */
export async function validPassword(
  client: NeonClient,
  at: { projectId: string; branchId: string; roleName: string },
  secretPassword: string | undefined,
  signal?: AbortSignal,
): Promise<PasswordAnswer> {
  try {
    const revealed = await client.revealRolePassword(at.projectId, at.branchId, at.roleName, signal ? { signal } : undefined);
    return { password: revealed, source: revealed === secretPassword ? 'secret' : 'revealed' };
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
  }
  if (secretPassword) return { password: secretPassword, source: 'secret' };
  return { password: await resetPassword(client, at, signal), source: 'reset' };
}

/** Generates a new password in Neon and returns it (the only time Neon sends it). */
export async function resetPassword(
  client: NeonClient,
  at: { projectId: string; branchId: string; roleName: string },
  signal?: AbortSignal,
): Promise<string> {
  const answer = await client.resetRolePassword(at.projectId, at.branchId, at.roleName, signal ? { signal } : undefined);
  const password = answer.role.password;
  if (!password) throw new Error(`Neon did not return a password when resetting role ${at.roleName}`);
  return password;
}
