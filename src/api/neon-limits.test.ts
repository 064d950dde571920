// Neon's documented limits that a manifest can be checked against before anything reaches Neon: compute
// sizes and autoscaling ranges, Postgres names counted in bytes, RFC 3339 timestamps. The same rules run as
// CEL in the API server (src/api/crds.e2e.test.ts); here, the operator's own parse of them.
import { describe, expect, it } from 'vitest';
import { issuesOf } from './testdata/parse-issues.ts';
import { parseNeonBranch, parseNeonDatabase, parseNeonEndpoint, parseNeonProject, parseNeonRole, ResourceParseError } from './index.ts';

const apiVersion = 'neon-operator.dev/v1alpha1';
const metadata = { name: 'x', namespace: 'team-a' };

const endpoint = (autoscaling: Record<string, unknown>) => ({
  apiVersion,
  kind: 'NeonEndpoint',
  metadata,
  spec: { branchRef: { name: 'b' }, autoscaling },
});

describe('compute sizes (https://neon.com/docs/manage/computes#compute-size-and-autoscaling-configuration)', () => {
  it.each([
    [0.25, 0.25],
    [0.25, 0.5],
    [0.5, 8],
    [8, 16],
    [56, 56],
    [18, 18],
  ])('accepts minCu %s, maxCu %s', (minCu, maxCu) => {
    expect(issuesOf(parseNeonEndpoint, endpoint({ minCu, maxCu }))).toEqual([]);
  });

  it('refuses sizes Neon does not offer, naming the field', () => {
    expect(issuesOf(parseNeonEndpoint, endpoint({ minCu: 0.3, maxCu: 1 }))).toEqual([
      "spec.autoscaling.minCu: must be one of Neon's compute sizes: 0.25, 0.5, 1 to 16 in steps of 1, or 18 to 56 in steps of 2",
    ]);
    expect(issuesOf(parseNeonEndpoint, endpoint({ minCu: 1, maxCu: 2.5 }))).toEqual([
      "spec.autoscaling.maxCu: must be one of Neon's compute sizes: 0.25, 0.5, 1 to 16 in steps of 1, or 18 to 56 in steps of 2",
    ]);
    expect(issuesOf(parseNeonEndpoint, endpoint({ minCu: 17, maxCu: 17 }))).toEqual([
      "spec.autoscaling.minCu: must be one of Neon's compute sizes: 0.25, 0.5, 1 to 16 in steps of 1, or 18 to 56 in steps of 2",
      "spec.autoscaling.maxCu: must be one of Neon's compute sizes: 0.25, 0.5, 1 to 16 in steps of 1, or 18 to 56 in steps of 2",
    ]);
    expect(issuesOf(parseNeonEndpoint, endpoint({ minCu: 1, maxCu: 100 }))).toContain(
      'spec.autoscaling.maxCu: Too big: expected number to be <=56',
    );
  });

  it('refuses an autoscaling range above 16 CU or wider than 8 CU', () => {
    expect(issuesOf(parseNeonEndpoint, endpoint({ minCu: 12, maxCu: 18 }))).toEqual([
      'spec.autoscaling.maxCu: autoscaling.maxCu can be at most 16 when it differs from minCu; larger computes have a fixed size (minCu equal to maxCu)',
    ]);
    expect(issuesOf(parseNeonEndpoint, endpoint({ minCu: 0.25, maxCu: 9 }))).toEqual([
      'spec.autoscaling.maxCu: autoscaling.maxCu can be at most 8 CU above autoscaling.minCu',
    ]);
  });

  it('applies to the project defaults as well', () => {
    const p = { apiVersion, kind: 'NeonProject', metadata, spec: { defaultEndpointSettings: { autoscaling: { minCu: 1, maxCu: 10 } } } };
    expect(issuesOf(parseNeonProject, p)).toEqual([
      'spec.defaultEndpointSettings.autoscaling.maxCu: autoscaling.maxCu can be at most 8 CU above autoscaling.minCu',
    ]);
  });
});

describe('Postgres names are at most 63 bytes, not characters', () => {
  const role = (spec: Record<string, unknown>) => ({ apiVersion, kind: 'NeonRole', metadata, spec: { branchRef: { name: 'b' }, databaseName: 'neondb', ...spec } });
  const bytesMessage = 'must be at most 63 bytes in UTF-8 (a Postgres name); characters outside ASCII take 2 to 4 bytes';

  it('accepts 63 bytes and refuses 64, whatever the number of characters', () => {
    expect(issuesOf(parseNeonRole, role({ name: 'a'.repeat(63) }))).toEqual([]);
    expect(issuesOf(parseNeonRole, role({ name: 'é'.repeat(31) }))).toEqual([]);
    // 32 characters, 64 bytes: maxLength (63 characters) lets it through, the byte rule does not.
    expect(issuesOf(parseNeonRole, role({ name: 'é'.repeat(32) }))).toEqual([`spec.name: ${bytesMessage}`]);
    expect(issuesOf(parseNeonRole, role({ name: '日本'.repeat(11) }))).toEqual([`spec.name: ${bytesMessage}`]);
  });

  it('counts bytes in every Postgres name of every kind', () => {
    const long = 'ü'.repeat(40);
    expect(issuesOf(parseNeonRole, role({ databaseName: long }))).toEqual([`spec.databaseName: ${bytesMessage}`]);
    const db = { apiVersion, kind: 'NeonDatabase', metadata, spec: { branchRef: { name: 'b' }, name: long, ownerName: long } };
    expect(issuesOf(parseNeonDatabase, db)).toEqual([`spec.name: ${bytesMessage}`, `spec.ownerName: ${bytesMessage}`]);
    const p = { apiVersion, kind: 'NeonProject', metadata, spec: { defaultRole: { name: long }, defaultDatabase: { name: long } } };
    expect(issuesOf(parseNeonProject, p)).toEqual([`spec.defaultRole.name: ${bytesMessage}`, `spec.defaultDatabase.name: ${bytesMessage}`]);
  });
});

describe('timestamps are RFC 3339 with a time zone (https://neon.com/docs/guides/branch-expiration#timestamp-format-requirements)', () => {
  const branch = (spec: Record<string, unknown>) => ({ apiVersion, kind: 'NeonBranch', metadata, spec: { projectId: 'p-1', ...spec } });

  it.each(['2026-07-15T18:02:16Z', '2026-07-15T18:02:16-05:00', '2026-07-15T18:02:16+09:00', '2026-07-15T18:02:16.5Z'])('accepts %s', (at) => {
    expect(issuesOf(parseNeonBranch, branch({ expiresAt: at }))).toEqual([]);
    expect(issuesOf(parseNeonBranch, branch({ parentTimestamp: at }))).toEqual([]);
  });

  it.each(['2026-07-15T18:02:16', '2026-07-15T18:02:16Z-05:00', '2026-07-15', '2026-07-15 18:02:16Z', 'tomorrow'])('refuses %s, naming the field', (at) => {
    expect(issuesOf(parseNeonBranch, branch({ expiresAt: at }))).toEqual(['spec.expiresAt: Invalid ISO datetime']);
    expect(issuesOf(parseNeonBranch, branch({ parentTimestamp: at }))).toEqual(['spec.parentTimestamp: Invalid ISO datetime']);
  });
});
