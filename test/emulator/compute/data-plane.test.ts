// The emulator's Postgres data plane through its API: what the API creates, renames, resets, restores and
// deletes is what a real client finds when it logs in with the URIs the API hands out.
import { describe, expect, it } from 'vitest';
import { useEmulatorUnderTest } from '../emulator-under-test.ts';
import type { ComputeAccess } from '../server.ts';
import { connectWithUri, queryWithUri } from './client.ts';

const t = useEmulatorUnderTest({ postgres: true });
const access = (): ComputeAccess => {
  const a = t.em.compute?.access;
  if (!a) throw new Error('started with postgres: true');
  return a;
};

/** The URI of `role` on `database` through `endpoint` (Neon's format: no port, sslmode=require). */
function uri(endpointHost: string, role: string, password: string, database: string): string {
  return `postgresql://${encodeURIComponent(role)}:${encodeURIComponent(password)}@${endpointHost}/${encodeURIComponent(database)}?sslmode=require`;
}

/** Who the server says we are. */
async function whoami(u: string): Promise<{ user: string; db: string }> {
  const [row] = await queryWithUri<{ user: string; db: string }>(access(), u, 'select current_user as user, current_database() as db');
  if (!row) throw new Error('no row');
  return row;
}

/** The SQLSTATE a login fails with. */
async function loginError(u: string): Promise<string | undefined> {
  try {
    const c = await connectWithUri(access(), u);
    await c.end();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message;
  }
}

async function endpointHost(projectId: string, endpointId: string, pooled = false): Promise<string> {
  const res = await t.api.get(`/projects/${projectId}/endpoints/${endpointId}`);
  const host = res.body.endpoint.host as string;
  return pooled ? host.replace(/^([^.]+)/, '$1-pooler') : host;
}

describe('emulator: a real Postgres behind every branch', () => {
  it("a new project's connection URIs log in, direct and pooled, as the owner on neondb", async () => {
    const res = await t.api.post('/projects', { project: { name: 'logins' } });
    expect(res.status).toBe(201);
    t.settle();
    const direct = res.body.connection_uris[0].connection_uri as string;
    expect(await whoami(direct)).toEqual({ user: 'neondb_owner', db: 'neondb' });
    const { pooler_host: pooler } = res.body.connection_uris[0].connection_parameters;
    expect(await whoami(direct.replace(/@[^/]+\//, `@${pooler as string}/`))).toEqual({ user: 'neondb_owner', db: 'neondb' });
    const [version] = await queryWithUri<{ v: string }>(access(), direct, 'select version() as v');
    expect(version?.v).toMatch(/^PostgreSQL \d+/);
  });

  it('refuses a wrong password, a plain-text connection, the reserved superuser and an unknown endpoint', async () => {
    const p = await t.newProject();
    const host = await endpointHost(p.id, p.endpointId);
    expect(await loginError(uri(host, 'neondb_owner', 'not-the-password', 'neondb'))).toBe('28P01');
    expect(await loginError(uri(host, 'cloud_admin', 'x', 'neondb'))).toBe('28000');
    expect(await loginError(uri(host.replace(p.endpointId, 'ep-nowhere-123456'), 'neondb_owner', p.password, 'neondb'))).toBe('08004');
    expect(await loginError(uri(host, 'neondb_owner', p.password, 'neondb').replace('sslmode=require', 'sslmode=disable'))).toBe('08P01');
  });

  it('a child branch starts with its parent data; a restore from the parent brings the parent data back', async () => {
    const p = await t.newProject();
    const mainUri = uri(await endpointHost(p.id, p.endpointId), 'neondb_owner', p.password, 'neondb');
    await queryWithUri(access(), mainUri, "create table notes (body text); insert into notes values ('from parent')");

    const created = await t.api.post(`/projects/${p.id}/branches`, { branch: { name: 'child' }, endpoints: [{ type: 'read_write' }] });
    expect(created.status).toBe(201);
    t.settle();
    const childId = created.body.branch.id as string;
    const childUri = uri(await endpointHost(p.id, created.body.endpoints[0].id as string), 'neondb_owner', p.password, 'neondb');
    const notes = async (u: string) => (await queryWithUri<{ body: string }>(access(), u, 'select body from notes order by body')).map((r) => r.body);
    expect(await notes(childUri)).toEqual(['from parent']);

    await queryWithUri(access(), childUri, "insert into notes values ('child only')");
    await queryWithUri(access(), mainUri, "insert into notes values ('parent, later')");
    expect(await notes(childUri)).toEqual(['child only', 'from parent']);

    const restored = await t.api.post(`/projects/${p.id}/branches/${childId}/restore`, { source_branch_id: p.mainId, preserve_under_name: 'child-before' });
    expect(restored.status).toBe(200);
    t.settle();
    expect(await notes(childUri)).toEqual(['from parent', 'parent, later']);

    // The preserved branch keeps the child's data from before the restore.
    const branches = await t.api.get(`/projects/${p.id}/branches`);
    const kept = (branches.body.branches as Array<{ id: string; name: string }>).find((b) => b.name === 'child-before');
    expect(kept).toBeDefined();
    const keptEp = await t.api.post(`/projects/${p.id}/endpoints`, { endpoint: { branch_id: kept?.id, type: 'read_write' } });
    expect(keptEp.status).toBe(201);
    t.settle();
    expect(await notes(uri(keptEp.body.endpoint.host as string, 'neondb_owner', p.password, 'neondb'))).toEqual(['child only', 'from parent']);
  });

  it("a password reset changes that branch's role only: the same role keeps its old password on the parent", async () => {
    const p = await t.newProject();
    const created = await t.api.post(`/projects/${p.id}/branches`, { endpoints: [{ type: 'read_write' }] });
    t.settle();
    const childHost = await endpointHost(p.id, created.body.endpoints[0].id as string);
    const reset = await t.api.post(`/projects/${p.id}/branches/${created.body.branch.id as string}/roles/neondb_owner/reset_password`);
    expect(reset.status).toBe(200);
    t.settle();
    const fresh = reset.body.role.password as string;
    expect(fresh).not.toBe(p.password);
    expect(await whoami(uri(childHost, 'neondb_owner', fresh, 'neondb'))).toEqual({ user: 'neondb_owner', db: 'neondb' });
    expect(await loginError(uri(childHost, 'neondb_owner', p.password, 'neondb'))).toBe('28P01');
    const mainHost = await endpointHost(p.id, p.endpointId);
    expect(await whoami(uri(mainHost, 'neondb_owner', p.password, 'neondb'))).toEqual({ user: 'neondb_owner', db: 'neondb' });
    expect(await loginError(uri(mainHost, 'neondb_owner', fresh, 'neondb'))).toBe('28P01');
  });

  it('roles and databases created, renamed and deleted through the API are there, renamed and gone', async () => {
    const p = await t.newProject();
    const base = `/projects/${p.id}/branches/${p.mainId}`;
    const host = await endpointHost(p.id, p.endpointId, true);
    const role = await t.api.post(`${base}/roles`, { role: { name: 'app' } });
    t.settle();
    const password = role.body.role.password as string;
    expect((await t.api.post(`${base}/databases`, { database: { name: 'shop', owner_name: 'app' } })).status).toBe(201);
    t.settle();
    const shop = uri(host, 'app', password, 'shop');
    expect(await whoami(shop)).toEqual({ user: 'app', db: 'shop' });
    await queryWithUri(access(), shop, "create table orders (id int); insert into orders values (7)");

    expect((await t.api.patch(`${base}/databases/shop`, { database: { name: 'store' } })).status).toBe(200);
    t.settle();
    expect(await loginError(shop)).toBe('3D000');
    const store = uri(host, 'app', password, 'store');
    expect(await queryWithUri(access(), store, 'select id from orders')).toEqual([{ id: 7 }]);

    expect((await t.api.delete(`${base}/databases/store`)).status).toBe(200);
    t.settle();
    expect(await loginError(store)).toBe('3D000');
    expect((await t.api.delete(`${base}/roles/app`)).status).toBe(200);
    t.settle();
    expect(await loginError(uri(host, 'app', password, 'neondb'))).toBe('28P01');
  });
});
