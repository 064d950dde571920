import { describe, expect, it } from 'vitest';
import { useEmulatorUnderTest } from './emulator-under-test.ts';
import { RawClient } from './raw-client.ts';
import { startEmulator } from './server.ts';

const t = useEmulatorUnderTest();
const { clock } = t;
const settle = () => t.settle();
const newProject = (opts?: Record<string, unknown>) => t.newProject(opts);

describe('endpoints', () => {
  it('allows one read_write endpoint per branch (409) but many read_only', async () => {
    const p = await newProject();
    const rw = await t.api.post(`/projects/${p.id}/endpoints`, { endpoint: { branch_id: p.mainId, type: 'read_write' } });
    expect(rw.status).toBe(409);
    expect(rw.body.message).toBe('read-write endpoint already exists');
    const ro1 = await t.api.post(`/projects/${p.id}/endpoints`, { endpoint: { branch_id: p.mainId, type: 'read_only' } });
    expect(ro1.status).toBe(201);
    expect(ro1.body.operations.map((o: { action: string }) => o.action)).toEqual(['start_compute']);
    settle();
    expect((await t.api.post(`/projects/${p.id}/endpoints`, { endpoint: { branch_id: p.mainId, type: 'read_only' } })).status).toBe(201);
    settle();
    expect((await t.api.get(`/projects/${p.id}/endpoints`)).body.endpoints).toHaveLength(3);
    expect((await t.api.get(`/projects/${p.id}/branches/${p.mainId}/endpoints`)).body.endpoints).toHaveLength(3);
  });

  it('rejects an endpoint in another region and on a missing branch', async () => {
    const p = await newProject();
    const region = await t.api.post(`/projects/${p.id}/endpoints`, { endpoint: { branch_id: p.mainId, type: 'read_only', region_id: 'aws-eu-central-1' } });
    expect(region.status).toBe(400);
    const missing = await t.api.post(`/projects/${p.id}/endpoints`, { endpoint: { branch_id: 'br-none-1', type: 'read_only' } });
    expect(missing.status).toBe(404);
  });

  it('moves through init → active → idle → active with start, suspend and restart', async () => {
    const p = await newProject();
    const path = `/projects/${p.id}/endpoints/${p.endpointId}`;
    expect((await t.api.get(path)).body.endpoint.current_state).toBe('active');
    const suspend = await t.api.post(`${path}/suspend`);
    expect(suspend.body.operations.map((o: { action: string }) => o.action)).toEqual(['suspend_compute']);
    expect(suspend.body.endpoint).toMatchObject({ current_state: 'active', pending_state: 'idle' });
    settle();
    expect((await t.api.get(path)).body.endpoint).toMatchObject({ current_state: 'idle' });
    const start = await t.api.post(`${path}/start`);
    expect(start.body.operations.map((o: { action: string }) => o.action)).toEqual(['start_compute']);
    settle();
    expect((await t.api.get(path)).body.endpoint.current_state).toBe('active');
    const restart = await t.api.post(`${path}/restart`);
    expect(restart.body.operations.map((o: { action: string }) => o.action)).toEqual(['suspend_compute', 'start_compute']);
    settle();
    expect((await t.api.get(path)).body.endpoint.current_state).toBe('active');
  });

  it('updates an endpoint with apply_config, restarting it only for new Postgres settings', async () => {
    const p = await newProject();
    const path = `/projects/${p.id}/endpoints/${p.endpointId}`;
    const cu = await t.api.patch(path, { endpoint: { autoscaling_limit_max_cu: 2 } });
    expect(cu.status).toBe(200);
    expect(cu.body.endpoint.autoscaling_limit_max_cu).toBe(2);
    expect(cu.body.operations.map((o: { action: string }) => o.action)).toEqual(['apply_config']);
    settle();
    const pg = await t.api.patch(path, { endpoint: { settings: { pg_settings: { work_mem: '64MB' } } } });
    expect(pg.body.operations.map((o: { action: string }) => o.action)).toEqual(['apply_config', 'suspend_compute']);
    settle();
    expect((await t.api.patch(path, { endpoint: { autoscaling_limit_min_cu: 4 } })).status).toBe(400);
  });

  it('deletes an endpoint (suspend_compute) and answers 204 once it is gone', async () => {
    const p = await newProject();
    const path = `/projects/${p.id}/endpoints/${p.endpointId}`;
    const del = await t.api.delete(path);
    expect(del.status).toBe(200);
    expect(del.body.operations.map((o: { action: string }) => o.action)).toEqual(['suspend_compute']);
    settle();
    expect((await t.api.delete(path)).status).toBe(204);
    expect((await t.api.get(path)).status).toBe(404);
  });
});

describe('roles', () => {
  it('creates a role with a password, reveals it, resets it; 409 on a duplicate; 204 on a gone delete', async () => {
    const p = await newProject();
    const base = `/projects/${p.id}/branches/${p.mainId}/roles`;
    const created = await t.api.post(base, { role: { name: 'app' } });
    expect(created.status).toBe(201);
    const pw: string = created.body.role.password;
    expect(pw).toMatch(/^npg_[A-Za-z0-9]{12}$/);
    expect(created.body.operations.map((o: { action: string }) => o.action)).toEqual(['apply_config']);
    settle();
    expect((await t.api.post(base, { role: { name: 'app' } })).status).toBe(409);
    expect((await t.api.get(`${base}/app/reveal_password`)).body).toEqual({ password: pw });
    const listed = (await t.api.get(base)).body.roles;
    expect(listed.map((r: { name: string }) => r.name).sort()).toEqual(['app', 'neondb_owner']);
    expect(listed.every((r: { password?: string }) => r.password === undefined)).toBe(true);
    const reset = await t.api.post(`${base}/app/reset_password`);
    expect(reset.status).toBe(200);
    expect(reset.body.role.password).not.toBe(pw);
    expect(reset.body.operations).toHaveLength(1);
    settle();
    expect((await t.api.get(`${base}/app/reveal_password`)).body.password).toBe(reset.body.role.password);
    expect(t.em.state.projects.get(p.id)?.branches.get(p.mainId)?.roles.get('app')?.password).toBe(reset.body.role.password);
    expect((await t.api.delete(`${base}/app`)).status).toBe(200);
    settle();
    expect((await t.api.delete(`${base}/app`)).status).toBe(204);
    expect((await t.api.get(`${base}/app`)).status).toBe(404);
  });

  it('answers 412 from reveal_password when the project does not store passwords', async () => {
    const p = await newProject({ store_passwords: false });
    const res = await t.api.get(`/projects/${p.id}/branches/${p.mainId}/roles/neondb_owner/reveal_password`);
    expect(res.status).toBe(412);
    const off = await startEmulator({ storePasswords: false, limits: false });
    try {
      const c = new RawClient(off.url);
      const created = await c.post('/projects', { project: {} });
      expect(created.body.project.store_passwords).toBe(false);
    } finally {
      await off.stop();
    }
  });

  it('copies roles and their passwords to child branches', async () => {
    const p = await newProject();
    const child = await t.api.post(`/projects/${p.id}/branches`, { branch: { name: 'c' } });
    settle();
    const pw = await t.api.get(`/projects/${p.id}/branches/${child.body.branch.id}/roles/neondb_owner/reveal_password`);
    expect(pw.body.password).toBe(p.password);
  });
});

describe('databases', () => {
  it('creates, gets, renames, re-owns and deletes a database; 409 on duplicate; 204 on a gone delete', async () => {
    const p = await newProject();
    const base = `/projects/${p.id}/branches/${p.mainId}/databases`;
    const created = await t.api.post(base, { database: { name: 'app', owner_name: 'neondb_owner' } });
    expect(created.status).toBe(201);
    expect(created.body.database).toMatchObject({ name: 'app', owner_name: 'neondb_owner', branch_id: p.mainId });
    expect(created.body.operations.map((o: { action: string }) => o.action)).toEqual(['apply_config']);
    settle();
    const dup = await t.api.post(base, { database: { name: 'app', owner_name: 'neondb_owner' } });
    expect(dup.status).toBe(409);
    expect(dup.body.message).toBe('database already exists');
    expect((await t.api.post(base, { database: { name: 'x', owner_name: 'nobody' } })).status).toBe(404);
    await t.api.post(`/projects/${p.id}/branches/${p.mainId}/roles`, { role: { name: 'owner2' } });
    settle();
    const upd = await t.api.patch(`${base}/app`, { database: { name: 'app2', owner_name: 'owner2' } });
    expect(upd.status).toBe(200);
    expect(upd.body.database).toMatchObject({ name: 'app2', owner_name: 'owner2' });
    settle();
    expect((await t.api.get(`${base}/app`)).status).toBe(404);
    expect((await t.api.get(`${base}/app2`)).body.database.name).toBe('app2');
    expect((await t.api.get(base)).body.databases).toHaveLength(2);
    expect((await t.api.delete(`${base}/app2`)).status).toBe(200);
    settle();
    expect((await t.api.delete(`${base}/app2`)).status).toBe(204);
  });
});

describe('connection_uri', () => {
  it('gives the direct host, or the -pooler host only with pooled=true', async () => {
    const p = await newProject();
    const q = `/projects/${p.id}/connection_uri?database_name=neondb&role_name=neondb_owner`;
    const direct = (await t.api.get(q)).body.uri;
    expect(direct).toBe(`postgresql://neondb_owner:${p.password}@${p.endpointId}.c-2.us-east-2.aws.neon.tech/neondb?sslmode=require`);
    const pooled = (await t.api.get(`${q}&pooled=true`)).body.uri;
    expect(pooled).toBe(`postgresql://neondb_owner:${p.password}@${p.endpointId}-pooler.c-2.us-east-2.aws.neon.tech/neondb?sslmode=require`);
    expect((await t.api.get(`${q}&pooled=false`)).body.uri).toBe(direct);
    expect((await t.api.get(`/projects/${p.id}/connection_uri?database_name=neondb&role_name=ghost`)).status).toBe(404);
    expect((await t.api.get(`/projects/${p.id}/connection_uri?role_name=neondb_owner`)).status).toBe(400);
  });
});

describe('spec', () => {
  it('every answer in this file matched the official OpenAPI spec', () => {
    expect(t.em.specViolations()).toEqual([]);
  });
});
