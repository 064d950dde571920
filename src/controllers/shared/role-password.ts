import { createHash } from 'node:crypto';
import { PreconditionFailedError, type NeonClient } from '../../neon/index.ts';
import type { SecretObject } from '../../runtime/index.ts';

/**
 * On a connection Secret: the role's `updated_at` when the Secret's password was last known to be current, and
 * a short digest of that password. While both still match (the role was not changed in Neon since, and the
 * Secret's password is the one that was checked), the password is known without a reveal_password call.
 */
export const PASSWORD_CHECK_ANNOTATION = 'neon-operator.dev/password-check';

/** The annotation's value: the role's `updated_at` and the first 16 hex digits of the password's SHA-256. */
export function passwordCheck(roleUpdatedAt: string, password: string): string {
  return `${roleUpdatedAt} ${createHash('sha256').update(password, 'utf8').digest('hex').slice(0, 16)}`;
}

/** Whether `secret` still holds the role's current password, by its check annotation (no Neon call). */
export function secretPasswordCurrent(secret: SecretObject | undefined, password: string | undefined, roleUpdatedAt: string | undefined): boolean {
  if (!password || !roleUpdatedAt) return false;
  return secret?.metadata?.annotations?.[PASSWORD_CHECK_ANNOTATION] === passwordCheck(roleUpdatedAt, password);
}

export interface PasswordAnswer {
  password: string;
  /** `reset` when a new password had to be generated (the old one is no longer valid anywhere). */
  source: 'secret' | 'revealed' | 'reset';
  /** After a reset: the role's new `updated_at`. */
  roleUpdatedAt?: string;
}

/**
 * The role's valid password, for its Secret. A Secret whose check annotation matches the role's `updated_at`
 * (`known`, from the project view) and its own password is trusted without a call. Otherwise Neon is asked
 * (`reveal_password`), so a Secret left with a stale password (e.g. the operator stopped between a reset and
 * the Secret write, a reset in the console, a hand-edited Secret) is repaired. When
 * the project does not store passwords (412), the Secret's password is trusted if there is one; otherwise
 * the password is reset, because nobody can know it any more. Never logs or returns the password
 * anywhere but the result.
 */
export async function validPassword(
  client: NeonClient,
  at: { projectId: string; branchId: string; roleName: string },
  secretPassword: string | undefined,
  signal?: AbortSignal,
  known?: { secret: SecretObject | undefined; roleUpdatedAt: string | undefined },
): Promise<PasswordAnswer> {
  if (secretPassword && known && secretPasswordCurrent(known.secret, secretPassword, known.roleUpdatedAt)) return { password: secretPassword, source: 'secret' };
  try {
    const revealed = await client.revealRolePassword(at.projectId, at.branchId, at.roleName, signal ? { signal } : undefined);
    return { password: revealed, source: revealed === secretPassword ? 'secret' : 'revealed' };
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
  }
  if (secretPassword) return { password: secretPassword, source: 'secret' };
  const reset = await resetPasswordAnswer(client, at, signal);
  return { password: reset.password, source: 'reset', roleUpdatedAt: reset.roleUpdatedAt };
}

/**
 * Generates a new password in Neon and returns it (the only time Neon sends it), with the role's `updated_at`
 * after the reset (for the Secret's check annotation).
 */
export async function resetPasswordAnswer(
  client: NeonClient,
  at: { projectId: string; branchId: string; roleName: string },
  signal?: AbortSignal,
): Promise<{ password: string; roleUpdatedAt: string }> {
  const answer = await client.resetRolePassword(at.projectId, at.branchId, at.roleName, signal ? { signal } : undefined);
  const password = answer.role.password;
  if (!password) throw new Error(`Neon did not return a password when resetting role ${at.roleName}`);
  return { password, roleUpdatedAt: answer.role.updated_at };
}
