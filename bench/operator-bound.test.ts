import { describe, expect, it } from 'vitest';
import { DEFAULT_DURATIONS } from '../test/emulator/state.ts';
import {
  busiestGroups,
  callsPerHourAtDefaultPeriod,
  classifyRoute,
  formatTable,
  necessaryCalls,
  physicalBound,
  ratio,
  serializedOperationMs,
  shortRoute,
} from './operator-bound.ts';

const issueWorkload = { groups: 500, projects: 10, withDatabase: true, createsProjects: true };

describe('physical bound', () => {
  it("reproduces issue 8's bound for 500 groups over 10 projects: 1,510 calls, 129 s, busiest project 118 s", () => {
    const b = physicalBound(issueWorkload, DEFAULT_DURATIONS);
    expect(b.necessaryCalls).toBe(1_510);
    expect(Math.round(b.rateBoundMs / 1000)).toBe(129);
    expect(b.busiestGroups).toBe(50);
    expect(b.serializedMs).toBe(50 * (136 + 2000 + 60 + 60) + 3000 + 2000);
    expect(b.boundMs).toBe(b.rateBoundMs);
  });

  it('is the serialized operation time when one project holds everything (the CLI comparison: 220 s)', () => {
    const w = { groups: 100, projects: 1, withDatabase: false, createsProjects: false };
    const b = physicalBound(w, DEFAULT_DURATIONS);
    expect(b.necessaryCalls).toBe(200);
    expect(b.serializedMs).toBe(100 * (136 + 2000 + 60));
    expect(b.boundMs).toBe(b.serializedMs);
    expect(Math.round(b.boundMs / 1000)).toBe(220);
  });

  it('puts the remainder of an uneven split in the busiest project', () => {
    expect(busiestGroups({ ...issueWorkload, groups: 7, projects: 3 })).toBe(3);
    expect(serializedOperationMs({ groups: 7, projects: 3, withDatabase: false, createsProjects: false }, DEFAULT_DURATIONS)).toBe(3 * 2196);
  });

  it('rejects a workload without groups or projects, naming the field', () => {
    expect(() => necessaryCalls({ ...issueWorkload, groups: 0 })).toThrow(/groups/);
    expect(() => necessaryCalls({ ...issueWorkload, projects: 1.5 })).toThrow(/projects/);
  });
});

describe('reporting', () => {
  it('classifies operation reads as polls, other GETs as reads, everything else as mutations', () => {
    expect(classifyRoute('GET /projects/{project_id}/operations')).toBe('operation poll');
    expect(classifyRoute('GET /projects/{project_id}/operations/{operation_id}')).toBe('operation poll');
    expect(classifyRoute('GET /projects/{project_id}/branches')).toBe('read');
    expect(classifyRoute('GET /projects/{project_id}/branches/{branch_id}/roles/{role_name}/reveal_password')).toBe('read');
    expect(classifyRoute('POST /projects/{project_id}/branches')).toBe('mutation');
    expect(classifyRoute('PATCH /projects/{project_id}')).toBe('mutation');
  });

  it('scales a resync round to an hour at the 10 min default and prints ratios to two decimals', () => {
    expect(callsPerHourAtDefaultPeriod(1_294)).toBe(7_764);
    expect(ratio(990, 129)).toBe('7.67×');
    expect(ratio(1, 0)).toBe('-');
  });

  it('aligns a table: first column left, numbers right, unless told otherwise', () => {
    expect(formatTable([['route', 'calls'], ['GET /a', '7'], ['POST /bb', '1234']])).toBe('route     calls\nGET /a        7\nPOST /bb   1234');
    expect(formatTable([['a', '1', 'note'], ['bb', '22', 'x']], 'lrl')).toBe('a    1  note\nbb  22  x');
  });

  it('shortens path parameters of a route', () => {
    expect(shortRoute('GET /projects/{project_id}/branches/{branch_id}/roles/{role_name}/reveal_password')).toBe('GET /projects/{p}/branches/{b}/roles/{r}/reveal_password');
    expect(shortRoute('GET /projects/{project_id}/operations/{operation_id}')).toBe('GET /projects/{p}/operations/{o}');
  });
});
