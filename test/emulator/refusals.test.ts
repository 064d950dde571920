// What Neon refuses beyond its OpenAPI spec, one rule per test, each with the page it comes from. A refused
// request changes nothing and answers 400 in Neon's error shape.
import { describe, expect, it } from 'vitest';
import { useEmulatorUnderTest } from './emulator-under-test.ts';
import type { RawResponse } from './raw-client.ts';

const t = useEmulatorUnderTest();
const { clock } = t;

const HOUR = 3600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const newProject = (project?: Record<string, unknown>) => t.newProject(project);

function expectRefused(res: RawResponse, says: RegExp): void {
  expect(res.status).toBe(400);
  expect(res.body).toMatchObject({ code: '', request_id: expect.any(String) });
  expect(res.body.message).toMatch(says);
}

describe('regions (https://neon.com/docs/introduction/regions)', () => {
  it('creates projects in Neon regions and refuses an unknown one, creating nothing', async () => {
    const before = t.em.state.projects.size;
    expectRefused(await t.api.post('/projects', { project: { region_id: 'aws-mars-1' } }), /region_id "aws-mars-1" is not a supported region/);
    expect(t.em.state.projects.size).toBe(before);
    const azure = await t.api.post('/projects', { project: { region_id: 'azure-gwc' } });
    expect(azure.status).toBe(201);
    expect(azure.body.project.region_id).toBe('azure-gwc');
  });
});

describe('compute sizes (https://neon.com/docs/manage/computes#compute-size-and-autoscaling-configuration)', () => {
  it('refuses sizes Neon does not offer on create and update', async () => {
    const p = await newProject();
    const create = (min: number, max: number) =>
      t.api.post(`/projects/${p.id}/endpoints`, { endpoint: { branch_id: p.mainId, type: 'read_only', autoscaling_limit_min_cu: min, autoscaling_limit_max_cu: max } });
    expectRefused(await create(0.3, 1), /endpoint\.autoscaling_limit_min_cu: 0\.3 is not a supported compute size/);
    expectRefused(await create(1, 100), /endpoint\.autoscaling_limit_max_cu: 100 is not a supported compute size/);
    expectRefused(await create(17, 17), /17 is not a supported compute size/);
    const update = await t.api.patch(`/projects/${p.id}/endpoints/${p.endpointId}`, { endpoint: { autoscaling_limit_max_cu: 2.5 } });
    expectRefused(update, /2\.5 is not a supported compute size/);
    expect(t.em.state.findEndpoint(p.endpointId)?.maxCu).toBe(0.25);
    expect([...(t.em.state.projects.get(p.id)?.endpoints.values() ?? [])]).toHaveLength(1);
  });

  it('accepts fixed sizes up to 56 CU, autoscaling up to 16 CU and at most 8 CU wide', async () => {
    const p = await newProject();
    const path = `/projects/${p.id}/endpoints/${p.endpointId}`;
    expect((await t.api.patch(path, { endpoint: { autoscaling_limit_min_cu: 56, autoscaling_limit_max_cu: 56 } })).status).toBe(200);
    clock.advance(60_000);
    expectRefused(await t.api.patch(path, { endpoint: { autoscaling_limit_min_cu: 12, autoscaling_limit_max_cu: 18 } }), /autoscaling supports at most 16 CU/);
    expectRefused(await t.api.patch(path, { endpoint: { autoscaling_limit_min_cu: 0.25, autoscaling_limit_max_cu: 9 } }), /range 0\.25-9 CU is wider than 8 CU/);
    // Only the max changes: the range is checked against the current min (56 → 16 would be min above max).
    expectRefused(await t.api.patch(path, { endpoint: { autoscaling_limit_max_cu: 16 } }), /min_cu must not exceed/);
    expect((await t.api.patch(path, { endpoint: { autoscaling_limit_min_cu: 8, autoscaling_limit_max_cu: 16 } })).status).toBe(200);
    expect(t.em.state.findEndpoint(p.endpointId)).toMatchObject({ minCu: 8, maxCu: 16 });
  });

  it('checks the sizes of endpoints created with a branch and of the project defaults', async () => {
    const p = await newProject();
    const branch = await t.api.post(`/projects/${p.id}/branches`, {
      branch: { name: 'sized' },
      endpoints: [{ type: 'read_write', autoscaling_limit_min_cu: 1, autoscaling_limit_max_cu: 100 }],
    });
    expectRefused(branch, /endpoints\[0\]\.autoscaling_limit_max_cu: 100 is not a supported compute size/);
    expect([...(t.em.state.projects.get(p.id)?.branches.values() ?? [])].map((b) => b.name)).toEqual(['main']);
    const project = await t.api.post('/projects', { project: { default_endpoint_settings: { autoscaling_limit_min_cu: 0.3, autoscaling_limit_max_cu: 1 } } });
    expectRefused(project, /default_endpoint_settings\.autoscaling_limit_min_cu: 0\.3/);
    const patch = await t.api.patch(`/projects/${p.id}`, { project: { default_endpoint_settings: { autoscaling_limit_max_cu: 10 } } });
    expectRefused(patch, /range 0\.25-10 CU is wider than 8 CU/);
  });
});

describe('role names (https://neon.com/docs/manage/roles#protected-role-names)', () => {
  it.each(['pg_monitor', 'neon_superuser', 'cloud_admin', 'zenith_admin', 'public', 'none'])('refuses the protected name %s', async (name) => {
    const p = await newProject();
    expectRefused(await t.api.post(`/projects/${p.id}/branches/${p.mainId}/roles`, { role: { name } }), /is protected and cannot be used/);
    expect(t.em.state.findBranch(p.mainId)?.roles.has(name)).toBe(false);
  });

  it('allows other names starting with neon_ or pg (only pg_ is protected)', async () => {
    const p = await newProject();
    expect((await t.api.post(`/projects/${p.id}/branches/${p.mainId}/roles`, { role: { name: 'neon_app' } })).status).toBe(201);
    clock.advance(60_000);
    expect((await t.api.post(`/projects/${p.id}/branches/${p.mainId}/roles`, { role: { name: 'pgadmin' } })).status).toBe(201);
  });

  it('counts the 63-byte limit in bytes (spec: "Cannot exceed 63 bytes in length")', async () => {
    const p = await newProject();
    const roles = `/projects/${p.id}/branches/${p.mainId}/roles`;
    // 32 characters, 64 bytes in UTF-8.
    expectRefused(await t.api.post(roles, { role: { name: 'é'.repeat(32) } }), /is 64 bytes long; it cannot exceed 63 bytes/);
    expect((await t.api.post(roles, { role: { name: 'é'.repeat(31) } })).status).toBe(201);
  });

  it('refuses a protected default role when creating a project', async () => {
    expectRefused(await t.api.post('/projects', { project: { branch: { role_name: 'pg_owner' } } }), /role name "pg_owner" is protected/);
  });
});

describe('database names (https://neon.com/faqs/create-new-database-neon-project)', () => {
  it.each(['postgres', 'template0', 'template1'])('refuses the reserved name %s on create and rename', async (name) => {
    const p = await newProject();
    const dbs = `/projects/${p.id}/branches/${p.mainId}/databases`;
    expectRefused(await t.api.post(dbs, { database: { name, owner_name: 'neondb_owner' } }), /is reserved and cannot be used/);
    expectRefused(await t.api.patch(`${dbs}/neondb`, { database: { name } }), /is reserved/);
    expect([...(t.em.state.findBranch(p.mainId)?.databases.keys() ?? [])]).toEqual(['neondb']);
  });

  it('counts the 63-byte limit in bytes, and refuses a reserved default database', async () => {
    const p = await newProject();
    const dbs = `/projects/${p.id}/branches/${p.mainId}/databases`;
    expectRefused(await t.api.post(dbs, { database: { name: 'ü'.repeat(32), owner_name: 'neondb_owner' } }), /cannot exceed 63 bytes/);
    expectRefused(await t.api.post('/projects', { project: { branch: { database_name: 'template1' } } }), /"template1" is reserved/);
  });
});

describe('branch expiry (https://neon.com/docs/guides/branch-expiration#timestamp-format-requirements)', () => {
  it('refuses an expiry in the past, beyond 30 days, or without a time zone', async () => {
    const p = await newProject();
    const create = (expires_at: string, extra: Record<string, unknown> = {}) =>
      t.api.post(`/projects/${p.id}/branches`, { branch: { name: `b-${expires_at}`, expires_at, ...extra } });
    const now = clock.now();
    expectRefused(await create(iso(now - HOUR)), /expires_at .* is in the past/);
    expectRefused(await create(iso(now + 31 * 24 * HOUR)), /more than 30 days from now/);
    expectRefused(await create('2026-06-01T12:00:00'), /expires_at: "2026-06-01T12:00:00" is not an RFC 3339 timestamp with a time zone/);
    expectRefused(await create(iso(now + HOUR), { protected: true }), /protected branch cannot have an expiration/);
    expect(t.em.state.projects.get(p.id)?.branches.size).toBe(1);
    const ok = await create(iso(now + 29 * 24 * HOUR));
    expect(ok.status).toBe(201);
  });

  it('refuses an expiry in the past, or on the default branch, on update', async () => {
    const p = await newProject();
    const b = await t.api.post(`/projects/${p.id}/branches`, { branch: { name: 'dev' } });
    clock.advance(60_000);
    const path = `/projects/${p.id}/branches/${b.body.branch.id}`;
    expectRefused(await t.api.patch(path, { branch: { expires_at: iso(clock.now() - 1000) } }), /is in the past/);
    expect(t.em.state.findBranch(b.body.branch.id)?.expiresAt).toBeUndefined();
    expectRefused(await t.api.patch(`/projects/${p.id}/branches/${p.mainId}`, { branch: { expires_at: iso(clock.now() + HOUR) } }), /default branch/);
    expect((await t.api.patch(path, { branch: { expires_at: iso(clock.now() + HOUR) } })).status).toBe(200);
  });
});

describe('parent timestamps (https://neon.com/docs/introduction/history-window)', () => {
  it('refuses a point in the future or before the history retention, and branches from one inside it', async () => {
    const p = await newProject({ history_retention_seconds: 3600 });
    clock.advance(2 * HOUR);
    const create = (name: string, parent_timestamp: string) => t.api.post(`/projects/${p.id}/branches`, { branch: { name, parent_timestamp } });
    expectRefused(await create('future', iso(clock.now() + 60_000)), /parent_timestamp .* is in the future/);
    expectRefused(await create('too-old', iso(clock.now() - 2 * HOUR)), /outside the project's history retention of 3600 seconds/);
    expectRefused(await create('no-zone', '2026-01-01 00:00:00'), /parent_timestamp: .* is not an RFC 3339 timestamp/);
    expect(t.em.state.projects.get(p.id)?.branches.size).toBe(1);
    expect((await create('recent', iso(clock.now() - 30 * 60_000))).status).toBe(201);
  });
});

describe('history window per plan (https://neon.com/docs/introduction/history-window, "Defaults and plan limits")', () => {
  it('refuses a window above the plan\'s maximum on create and update, changing nothing', async () => {
    const p = await newProject({ history_retention_seconds: 7 * 86400 });
    t.em.state.plan = 'free';
    try {
      const update = await t.api.patch(`/projects/${p.id}`, { project: { history_retention_seconds: 86400 } });
      expectRefused(update, /history_retention_seconds: 86400 exceeds the free plan's maximum of 21600 seconds/);
      expect(t.em.state.projects.get(p.id)?.historyRetentionSeconds).toBe(7 * 86400);
      const before = t.em.state.projects.size;
      expectRefused(await t.api.post('/projects', { project: { history_retention_seconds: 86400 } }), /exceeds the free plan's maximum/);
      expect(t.em.state.projects.size).toBe(before);
      expect((await t.api.patch(`/projects/${p.id}`, { project: { history_retention_seconds: 21600 } })).status).toBe(200);
    } finally {
      t.em.state.plan = 'scale';
    }
  });
});
