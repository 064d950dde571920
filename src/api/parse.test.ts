import { describe, expect, it } from 'vitest';
import { issuesOf } from './testdata/parse-issues.ts';
import {
  parseNeonBranch,
  parseNeonDatabase,
  parseNeonEndpoint,
  parseNeonProject,
  parseNeonRole,
  ResourceParseError,
} from './index.ts';

const apiVersion = 'neon-operator.dev/v1alpha1';
const metadata = { name: 'x', namespace: 'team-a', uid: 'u-1', generation: 3 };

const branch = (spec: Record<string, unknown>) => ({ apiVersion, kind: 'NeonBranch', metadata, spec });
const endpoint = (spec: Record<string, unknown>) => ({ apiVersion, kind: 'NeonEndpoint', metadata, spec });
const role = (spec: Record<string, unknown>) => ({ apiVersion, kind: 'NeonRole', metadata, spec });
const database = (spec: Record<string, unknown>) => ({ apiVersion, kind: 'NeonDatabase', metadata, spec });
const project = (spec: Record<string, unknown>) => ({ apiVersion, kind: 'NeonProject', metadata, spec });

describe('parsing a valid object', () => {
  it('types it and applies the defaults the CRD applies', () => {
    const b = parseNeonBranch(branch({ projectRef: { name: 'p' } }));
    expect(b.spec).toEqual({ projectRef: { name: 'p' }, deletionPolicy: 'Delete' });
    expect(b.metadata.uid).toBe('u-1');
    expect(parseNeonProject(project({})).spec.deletionPolicy).toBe('Retain');
    const e = parseNeonEndpoint(endpoint({ projectId: 'proj-1', branchId: 'br-1', apiKeySecretRef: { name: 'k' } }));
    expect(e.spec.type).toBe('read_write');
    expect(e.spec.apiKeySecretRef).toEqual({ name: 'k', key: 'api-key' });
  });

  it('drops fields it does not know (the API server prunes them too) and keeps unknown metadata', () => {
    const b = parseNeonBranch({ ...branch({ projectId: 'p-1', colour: 'blue' }), metadata: { ...metadata, managedFields: [] } });
    expect(b.spec).not.toHaveProperty('colour');
    expect(b.metadata).toHaveProperty('managedFields');
  });

  it('reads the status the operator wrote', () => {
    const status = {
      observedGeneration: 3,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: '', lastTransitionTime: '2026-11-29T20:00:00Z', observedGeneration: 3 }],
      projectId: 'p-1',
      branchId: 'br-1',
      pendingCreate: { startedAt: '2026-11-29T20:00:00+01:00', name: 'x' },
    };
    expect(parseNeonBranch({ ...branch({ projectId: 'p-1' }), status }).status).toEqual(status);
  });

  it('accepts the ways of naming a branch: NeonBranch, NeonProject (default branch), raw IDs', () => {
    for (const target of [{ branchRef: { name: 'b' } }, { projectRef: { name: 'p' } }, { projectId: 'p-1', branchId: 'br-1' }]) {
      expect(parseNeonDatabase(database({ ...target, ownerName: 'neondb_owner' })).spec).toMatchObject(target);
    }
  });
});

describe('parse errors name the object and the field', () => {
  it('says which kind, which object, which field', () => {
    expect(() => parseNeonBranch(branch({ projectRef: { name: 'p' }, parentLsn: 'nope' }))).toThrow(
      /^NeonBranch team-a\/x: spec\.parentLsn: /,
    );
  });

  it('NeonBranch: exactly one way of naming the project, the parent and the point in time', () => {
    expect(issuesOf(parseNeonBranch, branch({ projectRef: { name: 'p' }, projectId: 'p-1' }))).toEqual([
      'spec.projectRef: exactly one of projectRef or projectId must be set',
    ]);
    expect(issuesOf(parseNeonBranch, branch({}))).toEqual(['spec.projectRef: exactly one of projectRef or projectId must be set']);
    expect(
      issuesOf(
        parseNeonBranch,
        branch({ projectId: 'p-1', parentRef: { name: 'b' }, parentId: 'br-1', parentLsn: '0/16B3748', parentTimestamp: '2026-01-01T00:00:00Z' }),
      ),
    ).toEqual([
      'spec.parentRef: at most one of parentRef or parentId may be set',
      'spec.parentLsn: at most one of parentLsn or parentTimestamp may be set',
    ]);
    expect(issuesOf(parseNeonBranch, branch({ projectRef: { name: 'p' }, apiKeySecretRef: { name: 'k' } }))).toEqual([
      "spec.apiKeySecretRef: apiKeySecretRef can only be set with projectId; with projectRef the NeonProject's key is used",
    ]);
  });

  it('NeonBranch: formats from Neon (IDs, LSN, RFC 3339, init source)', () => {
    const issues = issuesOf(
      parseNeonBranch,
      branch({ projectId: 'Not_An_Id', parentLsn: 'zz', expiresAt: 'tomorrow', initSource: 'everything' }),
    );
    expect(issues.map((i) => i.split(':')[0])).toEqual(['spec.projectId', 'spec.parentLsn', 'spec.initSource', 'spec.expiresAt']);
    expect(issues[2]).toBe('spec.initSource: must be one of "parent-data", "schema-only"');
  });

  it('NeonBranch: anonymization (Beta) needs masking rules with a function or a value, and no schema-only', () => {
    const ok = parseNeonBranch(branch({ projectRef: { name: 'p' }, anonymization: { maskingRules: [{ databaseName: 'neondb', schemaName: 'public', tableName: 'users', columnName: 'email', maskingFunction: 'anon.fake_email()' }] } }));
    expect(ok.spec.anonymization?.start).toBe(true);
    const issues = issuesOf(
      parseNeonBranch,
      branch({
        projectRef: { name: 'p' },
        initSource: 'schema-only',
        anonymization: { maskingRules: [{ databaseName: 'neondb', schemaName: 'public', tableName: 'users', columnName: 'email' }, { databaseName: 'neondb', schemaName: 'public', columnName: 'x', maskingValue: '0' }] },
      }),
    );
    expect(issues.map((i) => i.split(':')[0])).toEqual([
      'spec.anonymization.maskingRules[0].maskingFunction',
      'spec.anonymization.maskingRules[1].tableName',
      'spec.anonymization',
    ]);
    expect(issues[0]).toContain('set maskingFunction or maskingValue');
  });

  it('NeonEndpoint: min CU ≤ max CU, Neon\'s suspend timeouts, the endpoint type', () => {
    expect(
      issuesOf(parseNeonEndpoint, endpoint({ branchRef: { name: 'b' }, autoscaling: { minCu: 4, maxCu: 2 }, suspendTimeoutSeconds: 30, type: 'primary' })),
    ).toEqual([
      'spec.type: must be one of "read_write", "read_only"',
      'spec.autoscaling.minCu: autoscaling.minCu must be less than or equal to autoscaling.maxCu',
      'spec.suspendTimeoutSeconds: suspendTimeoutSeconds must be -1, 0, or between 60 and 604800',
    ]);
    expect(issuesOf(parseNeonEndpoint, endpoint({ branchRef: { name: 'b' }, autoscaling: { minCu: 0.1, maxCu: 1 } }))[0]).toMatch(
      /^spec\.autoscaling\.minCu: Too small/,
    );
    expect(issuesOf(parseNeonEndpoint, endpoint({ branchRef: { name: 'b' }, suspendTimeoutSeconds: 604801 }))[0]).toMatch(
      /^spec\.suspendTimeoutSeconds: Too big/,
    );
    for (const ok of [-1, 0, 60, 604800]) {
      expect(parseNeonEndpoint(endpoint({ branchRef: { name: 'b' }, suspendTimeoutSeconds: ok })).spec.suspendTimeoutSeconds).toBe(ok);
    }
  });

  it('NeonEndpoint, NeonRole, NeonDatabase: exactly one way of naming the branch, raw IDs together', () => {
    expect(issuesOf(parseNeonEndpoint, endpoint({ branchRef: { name: 'b' }, projectRef: { name: 'p' } }))).toEqual([
      'spec.branchRef: exactly one of branchRef, projectRef, or projectId with branchId must be set',
    ]);
    expect(issuesOf(parseNeonEndpoint, endpoint({ projectId: 'p-1' }))).toEqual(['spec.branchId: projectId and branchId must be set together']);
    expect(issuesOf(parseNeonRole, role({ databaseName: 'neondb' }))).toEqual([
      'spec.branchRef: exactly one of branchRef, projectRef, or projectId with branchId must be set',
    ]);
    expect(issuesOf(parseNeonDatabase, database({ branchRef: { name: 'b' }, branchId: 'br-1', ownerName: 'o' }))).toEqual([
      'spec.branchRef: exactly one of branchRef, projectRef, or projectId with branchId must be set',
      'spec.branchId: projectId and branchId must be set together',
    ]);
  });

  it('NeonRole: one database, at most one endpoint, Postgres name length', () => {
    expect(
      issuesOf(
        parseNeonRole,
        role({ branchRef: { name: 'b' }, name: 'r'.repeat(64), databaseRef: { name: 'd' }, databaseName: 'd', endpointRef: { name: 'e' }, endpointId: 'ep-1' }),
      ),
    ).toEqual([
      'spec.name: Too big: expected string to have <=63 characters',
      'spec.databaseRef: exactly one of databaseRef or databaseName must be set',
      'spec.endpointRef: at most one of endpointRef or endpointId may be set',
    ]);
  });

  it('NeonRole, NeonDatabase: a metadata.name too long for Postgres needs spec.name', () => {
    const long = { ...metadata, name: 'a'.repeat(64) };
    expect(issuesOf(parseNeonRole, { ...role({ branchRef: { name: 'b' }, databaseName: 'd' }), metadata: long })).toEqual([
      'spec.name: spec.name (the Postgres role name) must be set when metadata.name is longer than 63 characters',
    ]);
    expect(issuesOf(parseNeonDatabase, { ...database({ branchRef: { name: 'b' }, ownerName: 'o' }), metadata: long })).toEqual([
      'spec.name: spec.name (the database name) must be set when metadata.name is longer than 63 characters',
    ]);
    expect(parseNeonRole({ ...role({ branchRef: { name: 'b' }, databaseName: 'd', name: 'short' }), metadata: long }).spec.name).toBe('short');
    expect(parseNeonRole({ ...role({ branchRef: { name: 'b' }, databaseName: 'd' }), metadata: { ...metadata, name: 'a'.repeat(63) } })).toBeTruthy();
  });

  it('NeonDatabase: exactly one owner', () => {
    expect(issuesOf(parseNeonDatabase, database({ branchRef: { name: 'b' } }))).toEqual([
      'spec.ownerRef: exactly one of ownerRef or ownerName must be set',
    ]);
    expect(issuesOf(parseNeonDatabase, database({ branchRef: { name: 'b' }, ownerRef: { name: 'r' }, ownerName: 'r' }))).toEqual([
      'spec.ownerRef: exactly one of ownerRef or ownerName must be set',
    ]);
  });

  it('NeonProject: ranges and formats from Neon\'s spec, nested paths', () => {
    const issues = issuesOf(
      parseNeonProject,
      project({
        pgVersion: 13,
        historyRetentionSeconds: 2592001,
        regionId: 'AWS US',
        defaultEndpointSettings: { autoscaling: { minCu: 2, maxCu: 1 } },
        settings: { maintenanceWindow: { weekdays: [8], startTime: '25:00', endTime: '01:00' } },
      }),
    );
    expect(issues.map((i) => i.split(':')[0])).toEqual([
      'spec.regionId',
      'spec.pgVersion',
      'spec.historyRetentionSeconds',
      'spec.defaultEndpointSettings.autoscaling.minCu',
      'spec.settings.maintenanceWindow.weekdays[0]',
      'spec.settings.maintenanceWindow.startTime',
    ]);
  });

  it('checks apiVersion, kind, metadata and the conditions in status', () => {
    expect(issuesOf(parseNeonBranch, { ...branch({ projectId: 'p-1' }), apiVersion: 'neon.tech/v1' })[0]).toMatch(/^apiVersion: /);
    expect(issuesOf(parseNeonBranch, { ...branch({ projectId: 'p-1' }), kind: 'NeonEndpoint' })[0]).toMatch(/^kind: /);
    expect(issuesOf(parseNeonBranch, { ...branch({ projectId: 'p-1' }), metadata: {} })[0]).toMatch(/^metadata\.name: /);
    expect(issuesOf(parseNeonBranch, { apiVersion, kind: 'NeonBranch', metadata })[0]).toMatch(/^spec: /);
    const bad = { conditions: [{ type: 'Ready', status: 'Yes', reason: 'x', message: '', lastTransitionTime: 'now' }] };
    expect(issuesOf(parseNeonBranch, { ...branch({ projectId: 'p-1' }), status: bad })).toEqual([
      'status.conditions[0].status: must be one of "True", "False", "Unknown"',
      expect.stringMatching(/^status\.conditions\[0\]\.lastTransitionTime: /),
    ]);
  });

  it('never repeats a value from the object (a secret pasted into the wrong field stays out of messages)', () => {
    const secret = 'napi_s3cr3t_value';
    try {
      parseNeonProject(project({ deletionPolicy: secret, regionId: secret, orgId: secret, name: 7, pgVersion: secret }));
      expect.unreachable();
    } catch (e) {
      expect(String(e)).not.toContain(secret);
      expect((e as ResourceParseError).issues.length).toBe(5);
    }
  });

  it('names the object without a namespace, or not at all when metadata is unreadable', () => {
    expect(() => parseNeonBranch({ ...branch({}), metadata: { name: 'solo' } })).toThrow(/^NeonBranch solo: spec\.projectRef/);
    expect(() => parseNeonBranch(null)).toThrow(/^NeonBranch: /);
  });
});
