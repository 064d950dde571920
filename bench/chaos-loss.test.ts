import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.ts';
import { EmulatorState, type RequestLogEntry } from '../test/emulator/server.ts';
import {
  createsBeyondObjects,
  duplicatesInNeon,
  keptButGone,
  orphansInNeon,
  passwordMismatches,
  passwordsInNeon,
  secretLeaks,
  secretsInAnswer,
} from './chaos-loss.ts';

const ACCOUNT = 'acct';

function newState(): EmulatorState {
  return new EmulatorState({
    clock: systemClock,
    seed: 3,
    durations: {},
    storePasswords: true,
    regionId: 'aws-us-east-2',
    regionHost: 'aws-us-east-2.aws.neon.tech',
    operationFailure: () => 'finished',
    plan: 'scale',
  });
}

/** A fleet project with one claimed branch `b-1` (compute and role `app`); returns its records and claims. */
function fleetProject(state: EmulatorState, name: string) {
  const { project, branch: main } = state.createProject(ACCOUNT, { name });
  const branch = state.newBranch(project, { name: 'b-1', parentId: main.id });
  branch.roles.set('app', state.newRole('app'));
  const compute = state.newEndpoint(project, branch, { type: 'read_write' });
  return { project, main, branch, compute };
}

describe('duplicatesInNeon', () => {
  it('finds nothing when every resource is claimed once', () => {
    const state = newState();
    const a = fleetProject(state, 'chaos-p-000');
    state.createProject(ACCOUNT, { name: 'bystander' });
    const claims = { projectIds: new Set([a.project.id]), branchIds: new Set([a.branch.id]), endpointIds: new Set([a.compute.id]) };
    expect(duplicatesInNeon(state, ACCOUNT, 'chaos-', claims)).toEqual([]);
  });

  it('finds a second project, branch and compute, by name and by claim', () => {
    const state = newState();
    const a = fleetProject(state, 'chaos-p-000');
    const twin = state.createProject(ACCOUNT, { name: 'chaos-p-000' }).project;
    const again = state.newBranch(a.project, { name: 'b-1', parentId: a.main.id });
    const second = state.newEndpoint(a.project, a.branch, { type: 'read_write' });
    const claims = { projectIds: new Set([a.project.id]), branchIds: new Set([a.branch.id]), endpointIds: new Set([a.compute.id]) };
    const found = duplicatesInNeon(state, ACCOUNT, 'chaos-', claims).map((f) => f.what);
    expect(found).toEqual(expect.arrayContaining([
      '2 projects named chaos-p-000',
      `project ${twin.id} (chaos-p-000) claimed by no NeonProject`,
      '2 branches named b-1 in project chaos-p-000',
      `branch ${again.id} (b-1) in chaos-p-000 claimed by no NeonBranch`,
      `2 read_write computes on branch ${a.branch.id} in chaos-p-000`,
      `compute ${second.id} in chaos-p-000 claimed by no NeonEndpoint`,
    ]));
    expect(found).toHaveLength(6);
  });
});

describe('createsBeyondObjects', () => {
  const entry = (route: string, applied: boolean, account = ACCOUNT): RequestLogEntry => ({
    method: route.split(' ')[0] ?? 'POST',
    path: '/x',
    route,
    status: applied ? 201 : 500,
    requestId: 'r',
    time: 0,
    account,
    applied,
  });

  it('counts applied creates beyond one per object, whatever became of them later', () => {
    const log = [
      entry('POST /projects/{project_id}/branches', true),
      entry('POST /projects/{project_id}/branches', true),
      entry('POST /projects/{project_id}/branches', false),
      entry('POST /projects/{project_id}/branches', true, 'other'),
      entry('POST /projects', true),
    ];
    expect(createsBeyondObjects(log, ACCOUNT, { NeonProject: 1, NeonBranch: 2 })).toEqual([]);
    expect(createsBeyondObjects(log, ACCOUNT, { NeonProject: 1, NeonBranch: 1 })).toEqual([
      { what: 'POST /projects/{project_id}/branches applied 2 times for 1 NeonBranch objects' },
    ]);
  });
});

describe('orphansInNeon and keptButGone', () => {
  it('reports a Delete project still there and the branches left in a kept one; a kept project gone', () => {
    const state = newState();
    const kept = fleetProject(state, 'chaos-p-000');
    const deleted = fleetProject(state, 'chaos-p-001');
    expect(orphansInNeon(state, ACCOUNT, 'chaos-', new Set(['chaos-p-001']))).toEqual([
      { what: `branch ${kept.branch.id} (b-1) with 1 computes in kept project chaos-p-000` },
      { what: `project ${deleted.project.id} (chaos-p-001, deletionPolicy Delete) with 2 branches and 2 computes` },
    ]);
    kept.project.branches.delete(kept.branch.id);
    kept.project.endpoints.delete(kept.compute.id);
    state.projects.delete(deleted.project.id);
    expect(orphansInNeon(state, ACCOUNT, 'chaos-', new Set(['chaos-p-001']))).toEqual([]);
    expect(keptButGone(state, ACCOUNT, new Set(['chaos-p-000']))).toEqual([]);
    state.projects.delete(kept.project.id);
    expect(keptButGone(state, ACCOUNT, new Set(['chaos-p-000']))).toEqual([{ what: 'project chaos-p-000 (deletionPolicy Retain) is gone from Neon' }]);
  });
});

describe('passwordMismatches', () => {
  it("compares the Secret's password and its uri with the role's password in Neon", () => {
    const state = newState();
    const { branch } = fleetProject(state, 'chaos-p-000');
    const password = branch.roles.get('app')?.password ?? '';
    const uri = (p: string) => `postgresql://app:${encodeURIComponent(p)}@host/app`;
    const role = (data: Record<string, string> | undefined, roleName = 'app') => ({ object: 'NeonRole r', branchId: branch.id, roleName, data });
    expect(passwordMismatches(state, [role({ password, uri: uri(password) })])).toEqual([]);
    expect(passwordMismatches(state, [role({ password: 'npg_old', uri: uri(password) })])).toEqual([{ what: "NeonRole r: Secret password differs from Neon's" }]);
    expect(passwordMismatches(state, [role({ password, uri: uri('npg_old') })])).toEqual([{ what: "NeonRole r: Secret uri password differs from Neon's" }]);
    expect(passwordMismatches(state, [role(undefined)])).toEqual([{ what: 'NeonRole r: no Secret' }]);
    expect(passwordMismatches(state, [role({ password }, 'nobody')])).toEqual([{ what: `NeonRole r: no role nobody on branch ${branch.id} in Neon` }]);
  });
});

describe('secret values', () => {
  it('collects passwords and connection URI passwords from an answer', () => {
    const found = new Set<string>();
    secretsInAnswer({ role: { name: 'app', password: 'npg_one' }, connection_uris: [{ connection_uri: 'postgresql://app:npg%2Ftwo@h/db' }], password: '' }, found);
    expect([...found].sort()).toEqual(['npg/two', 'npg_one']);
  });

  it('finds secrets as is, URL-encoded or base64, and never names the value', () => {
    const state = newState();
    fleetProject(state, 'chaos-p-000').branch.roles.set('other', state.newRole('other'));
    const secrets = passwordsInNeon(state, ACCOUNT);
    expect(secrets).toHaveLength(3);
    const [a = '', b = '', c = ''] = secrets;
    const findings = secretLeaks([...secrets, 'short'], [
      { where: 'log 1', text: `{"msg":"created","password":"${a}"}` },
      { where: 'log 2', text: `uri postgresql://x:${encodeURIComponent(`${b}/`).slice(0, -3)}@h` },
      { where: 'event', text: Buffer.from(c).toString('base64') },
      { where: 'clean', text: 'nothing here, short' },
    ]);
    expect(findings).toEqual([
      { what: 'log 1: 1 secret value' },
      { what: 'log 2: 1 secret value' },
      { what: 'event: 1 secret value' },
    ]);
    for (const f of findings) for (const v of secrets) expect(f.what).not.toContain(v);
  });
});
