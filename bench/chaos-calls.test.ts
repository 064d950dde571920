import { describe, expect, it } from 'vitest';
import { callTarget, objectTarget, pacing, readyTargets } from './chaos-calls.ts';

describe('callTarget', () => {
  it('names the one object a path addresses, and none for lists, polls and creates', () => {
    expect(callTarget('/projects/p-1')).toBe('project:p-1');
    expect(callTarget('/projects/p-1/branches/br-1')).toBe('branch:br-1');
    expect(callTarget('/projects/p-1/endpoints/ep-1')).toBe('endpoint:ep-1');
    expect(callTarget('/projects/p-1/endpoints/ep-1/restart')).toBe('endpoint:ep-1');
    expect(callTarget('/projects/p-1/branches/br-1/roles/app/reveal_password')).toBe('role:br-1/app');
    expect(callTarget('/projects/p-1/branches/br-1/databases/app')).toBe('database:br-1/app');
    expect(callTarget('/projects/p-1/branches/br-1/roles')).toBe('roles-of:br-1');
    expect(callTarget('/projects/p-1/branches/br-1/databases?limit=5')).toBe('databases-of:br-1');
    expect(callTarget('/projects/p-1/branches/br-1/roles', 'POST')).toBeUndefined();
    for (const list of ['/projects', '/projects/p-1/branches', '/projects/p-1/endpoints', '/projects/p-1/operations', '/projects/p-1/operations/op-1']) {
      expect(callTarget(list), list).toBeUndefined();
    }
  });

  it('gives an object the key of the calls about it', () => {
    expect(objectTarget('role', { branchId: 'br-1', roleName: 'app' })).toBe(callTarget('/projects/p/branches/br-1/roles/app'));
    expect(objectTarget('database', { branchId: 'br-1', databaseName: 'app' })).toBe('database:br-1/app');
    expect(objectTarget('endpoint', { endpointId: 'ep-1' })).toBe('endpoint:ep-1');
    expect(objectTarget('branch', {})).toBeUndefined();
    expect(objectTarget('role', undefined)).toBeUndefined();
  });
});

describe('readyTargets', () => {
  it("holds each Ready object's key, and a branch's role or database list once all on it are Ready", () => {
    const targets = readyTargets([
      { kind: 'role', status: { branchId: 'br-1', roleName: 'a' }, ready: true },
      { kind: 'role', status: { branchId: 'br-1', roleName: 'b' }, ready: false },
      { kind: 'role', status: { branchId: 'br-2', roleName: 'a' }, ready: true },
      { kind: 'database', status: { branchId: 'br-1', databaseName: 'd' }, ready: true },
      { kind: 'endpoint', status: { endpointId: 'ep-1' }, ready: false },
    ]);
    expect([...targets].sort()).toEqual(['database:br-1/d', 'databases-of:br-1', 'role:br-1/a', 'role:br-2/a', 'roles-of:br-2']);
  });
});

describe('pacing', () => {
  it('counts silent seconds and the calls in the second after each 429', () => {
    const calls = [
      { time: 0, status: 200 },
      { time: 100, status: 429 },
      { time: 1_050, status: 200 },
      { time: 1_200, status: 200 },
      { time: 3_500, status: 429 },
      { time: 3_600, status: 200 },
    ];
    expect(pacing(calls, 0, 4_000)).toEqual({ seconds: 4, silentSeconds: 1, perSecond: 1.5, perSecondAfter429: 1 });
    expect(pacing([{ time: 10, status: 200 }], 0, 2_000).perSecondAfter429).toBeUndefined();
  });
});
