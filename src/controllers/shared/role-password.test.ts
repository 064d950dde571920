// The password recovery rules against the emulator: reveal when Neon stores passwords, trust the Secret
// or reset when it does not (412).
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorHandle } from '../../../test/emulator/server.ts';
import { NeonClient, NeonScheduler } from '../../neon/index.ts';
import { PASSWORD_CHECK_ANNOTATION, passwordCheck, validPassword } from './role-password.ts';

const durations = { create_timeline: 5, start_compute: 5, apply_config: 5, create_branch: 5, suspend_compute: 5 };

describe('validPassword', () => {
  let emulator: EmulatorHandle | undefined;
  let client: NeonClient | undefined;
  afterEach(async () => {
    await client?.close();
    await emulator?.stop();
  });

  async function setUp(storePasswords: boolean) {
    emulator = await startEmulator({ durations, storePasswords });
    client = new NeonClient({ apiKey: 'role-password-test-key', baseUrl: emulator.url, scheduler: new NeonScheduler({ operationPoll: { initialMs: 10, maxMs: 50 } }) });
    const created = await client.createProject({ name: 'p' });
    const role = created.roles[0];
    if (!role) throw new Error('no role');
    const at = { projectId: created.project.id, branchId: created.branch.id, roleName: role.name };
    const current = () => emulator?.state.findBranch(at.branchId)?.roles.get(at.roleName)?.password;
    return { at, current };
  }

  it('reveals the current password and says when the Secret had a stale one', async () => {
    const { at, current } = await setUp(true);
    expect(await validPassword(client!, at, current())).toEqual({ password: current(), source: 'secret' });
    expect(await validPassword(client!, at, 'stale')).toEqual({ password: current(), source: 'revealed' });
    expect(await validPassword(client!, at, undefined)).toEqual({ password: current(), source: 'revealed' });
  });

  it('without stored passwords (412) trusts the Secret, or resets when the Secret has none', async () => {
    const { at, current } = await setUp(false);
    const before = current();
    expect(await validPassword(client!, at, before)).toEqual({ password: before, source: 'secret' });
    const reset = await validPassword(client!, at, undefined);
    expect(reset.source).toBe('reset');
    expect(reset.password).toBe(current());
    expect(reset.password).not.toBe(before);
  });

  it('trusts a Secret whose check annotation matches the role and its password, without a reveal', async () => {
    const { at, current } = await setUp(true);
    const role = (await client!.listRoles(at.projectId, at.branchId)).find((r) => r.name === at.roleName)!;
    const reveals = () => emulator!.requests.filter((r) => r.route?.endsWith('/reveal_password')).length;
    const secret = (password: string | undefined, check: string) => ({ metadata: { annotations: { [PASSWORD_CHECK_ANNOTATION]: check } }, password });
    const good = secret(current(), passwordCheck(role.updated_at, current()!));
    expect(await validPassword(client!, at, good.password, undefined, { secret: good, roleUpdatedAt: role.updated_at })).toEqual({ password: current(), source: 'secret' });
    expect(reveals()).toBe(0);
    // A hand-edited password, or a role changed in Neon since the check (a reset elsewhere): Neon is asked.
    const edited = secret('edited', good.metadata.annotations[PASSWORD_CHECK_ANNOTATION]);
    expect(await validPassword(client!, at, 'edited', undefined, { secret: edited, roleUpdatedAt: role.updated_at })).toEqual({ password: current(), source: 'revealed' });
    expect(await validPassword(client!, at, good.password, undefined, { secret: good, roleUpdatedAt: '2027-01-01T00:00:00Z' })).toEqual({ password: current(), source: 'secret' });
    expect(reveals()).toBe(2);
  });
});
