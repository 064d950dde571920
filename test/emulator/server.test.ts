import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from './manual-clock.ts';
import { RawClient } from './raw-client.ts';
import { startEmulator, type EmulatorHandle } from './server.ts';

const clock = new ManualClock();
let em: EmulatorHandle;
let api: RawClient;

beforeAll(async () => {
  em = await startEmulator({ clock, limits: false, validateResponses: true });
  api = new RawClient(em.url, 'key-a');
});
afterAll(async () => {
  await em.stop();
});
beforeEach(() => {
  em.state.projects.clear();
});

/** Lets every queued operation finish. */
function settle(): void {
  clock.advance(60_000);
}

async function newProject(name = 'p'): Promise<{ id: string; mainId: string; endpointId: string }> {
  const res = await api.post('/projects', { project: { name } });
  expect(res.status).toBe(201);
  settle();
  return { id: res.body.project.id, mainId: res.body.branch.id, endpointId: res.body.endpoints[0].id };
}

describe('projects', () => {
  it('creates a project with Neon defaults: main, neondb_owner, neondb, a read_write endpoint, connection URIs', async () => {
    const res = await api.post('/projects', { project: { name: 'demo' } });
    expect(res.status).toBe(201);
    const b = res.body;
    expect(b.project.name).toBe('demo');
    expect(b.branch).toMatchObject({ name: 'main', default: true, current_state: 'init', pending_state: 'ready' });
    expect(b.roles.map((r: { name: string }) => r.name)).toEqual(['neondb_owner']);
    expect(b.roles[0].password).toMatch(/^npg_/);
    expect(b.databases).toMatchObject([{ name: 'neondb', owner_name: 'neondb_owner' }]);
    expect(b.endpoints).toHaveLength(1);
    expect(b.endpoints[0]).toMatchObject({ type: 'read_write', current_state: 'init', pending_state: 'active' });
    expect(b.operations.map((o: { action: string }) => o.action)).toEqual(['create_timeline', 'start_compute']);
    expect(b.operations.map((o: { status: string }) => o.status)).toEqual(['running', 'scheduling']);
    const uri: string = b.connection_uris[0].connection_uri;
    expect(uri).toBe(`postgresql://neondb_owner:${b.roles[0].password}@${b.endpoints[0].id}.c-2.us-east-2.aws.neon.tech/neondb?sslmode=require`);
    expect(b.connection_uris[0].connection_parameters.pooler_host).toBe(`${b.endpoints[0].id}-pooler.c-2.us-east-2.aws.neon.tech`);
  });

  it('gets, updates and deletes a project; a deleted project is 404', async () => {
    const p = await newProject('before');
    const upd = await api.patch(`/projects/${p.id}`, { project: { name: 'after' } });
    expect(upd.status).toBe(200);
    expect(upd.body.operations).toEqual([]);
    expect((await api.get(`/projects/${p.id}`)).body.project.name).toBe('after');
    const del = await api.delete(`/projects/${p.id}`);
    expect(del.status).toBe(200);
    expect(del.body.project.id).toBe(p.id);
    expect(del.body.operations).toBeUndefined();
    const gone = await api.get(`/projects/${p.id}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ code: '', message: 'project not found' });
  });

  it('lists projects with limit (1–400) and cursor', async () => {
    for (let i = 0; i < 5; i++) await newProject(`p${i}`);
    const first = await api.get('/projects?limit=2');
    expect(first.body.projects.map((p: { name: string }) => p.name)).toEqual(['p0', 'p1']);
    const second = await api.get(`/projects?limit=2&cursor=${first.body.pagination.cursor}`);
    expect(second.body.projects.map((p: { name: string }) => p.name)).toEqual(['p2', 'p3']);
    const third = await api.get(`/projects?limit=2&cursor=${second.body.pagination.cursor}`);
    expect(third.body.projects.map((p: { name: string }) => p.name)).toEqual(['p4']);
    const end = await api.get(`/projects?limit=2&cursor=${third.body.pagination.cursor}`);
    expect(end.body.projects).toEqual([]);
    expect((await api.get('/projects')).body.projects).toHaveLength(5);
    expect((await api.get('/projects?limit=0')).status).toBe(400);
    expect((await api.get('/projects?limit=401')).status).toBe(400);
  });
});

describe('accounts and authentication', () => {
  it('answers 401 without a Bearer key, with Neon’s error body', async () => {
    const res = await new RawClient(em.url, null).get('/projects', { 'x-request-id': 'req-401' });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ code: '', message: 'authentication required', request_id: 'req-401' });
  });

  it('gives each key its own account: one cannot see or touch the other’s projects', async () => {
    const p = await newProject('mine');
    const other = new RawClient(em.url, 'key-b');
    expect((await other.get('/projects')).body.projects).toEqual([]);
    expect((await other.get(`/projects/${p.id}`)).status).toBe(404);
    expect((await other.delete(`/projects/${p.id}`)).status).toBe(404);
    expect((await api.get(`/projects/${p.id}`)).status).toBe(200);
    expect(em.state.projects.get(p.id)?.account).toBe(em.accountOf('key-a'));
  });

  it('accepts only the configured keys when apiKeys is set', async () => {
    const strict = await startEmulator({ apiKeys: ['good'], limits: false });
    try {
      expect((await new RawClient(strict.url, 'good').get('/projects')).status).toBe(200);
      expect((await new RawClient(strict.url, 'bad').get('/projects')).status).toBe(401);
    } finally {
      await strict.stop();
    }
  });

  it('echoes the client’s X-Request-ID as request_id and as a header', async () => {
    const res = await api.get('/projects/nope-123', { 'x-request-id': 'abc-123' });
    expect(res.status).toBe(404);
    expect(res.body.request_id).toBe('abc-123');
    expect(res.headers.get('x-request-id')).toBe('abc-123');
  });

  it('answers /auth and /users/me as the CLI expects', async () => {
    const auth = await api.get('/auth');
    expect(auth.body).toEqual({ account_id: em.accountOf('key-a'), auth_method: 'api_key_user' });
    expect((await api.get('/users/me')).body.id).toBe(em.accountOf('key-a'));
  });
});

describe('operations', () => {
  it('move scheduling → running → finished by clock time, one after another per project', async () => {
    const slow = await startEmulator({ clock, limits: false, durations: { create_timeline: 1000, start_compute: 2000 } });
    try {
      const c = new RawClient(slow.url);
      const created = await c.post('/projects', { project: {} });
      const id = created.body.project.id;
      const [timeline, start] = created.body.operations.map((o: { id: string }) => o.id);
      const status = async (op: string) => (await c.get(`/projects/${id}/operations/${op}`)).body.operation.status;
      expect([await status(timeline), await status(start)]).toEqual(['running', 'scheduling']);
      clock.advance(1000);
      expect([await status(timeline), await status(start)]).toEqual(['finished', 'running']);
      expect((await c.get(`/projects/${id}/endpoints`)).body.endpoints[0]).toMatchObject({ current_state: 'init', pending_state: 'active' });
      clock.advance(2000);
      expect([await status(timeline), await status(start)]).toEqual(['finished', 'finished']);
      const op = (await c.get(`/projects/${id}/operations/${start}`)).body.operation;
      expect(op.total_duration_ms).toBe(2000);
      const ep = (await c.get(`/projects/${id}/endpoints`)).body.endpoints[0];
      expect(ep.current_state).toBe('active');
      expect(ep.pending_state).toBeUndefined();
      expect((await c.get(`/projects/${id}/branches`)).body.branches[0].current_state).toBe('ready');
    } finally {
      await slow.stop();
    }
  });

  it('answers 423 with Neon’s message while operations run, and applies nothing', async () => {
    const res = await api.post('/projects', { project: {} });
    const id = res.body.project.id;
    const locked = await api.post(`/projects/${id}/branches`, { branch: { name: 'dev' } });
    expect(locked.status).toBe(423);
    expect(locked.body.message).toBe('project already has running conflicting operations, scheduling of new ones is prohibited');
    expect(em.state.projects.get(id)?.branches.size).toBe(1);
    settle();
    expect((await api.post(`/projects/${id}/branches`, { branch: { name: 'dev' } })).status).toBe(201);
  });

  it('lists a project’s operations newest first with a cursor', async () => {
    const p = await newProject();
    await api.post(`/projects/${p.id}/branches`, { branch: { name: 'a' } });
    settle();
    const all = (await api.get(`/projects/${p.id}/operations?limit=100`)).body.operations;
    expect(all.map((o: { action: string }) => o.action)).toEqual(['create_branch', 'start_compute', 'create_timeline']);
    const page1 = await api.get(`/projects/${p.id}/operations?limit=2`);
    expect(page1.body.operations).toHaveLength(2);
    const page2 = await api.get(`/projects/${p.id}/operations?limit=2&cursor=${page1.body.pagination.cursor}`);
    expect(page2.body.operations.map((o: { id: string }) => o.id)).toEqual([all[2].id]);
  });

  it('ends operations in failed/error when failures are injected', async () => {
    em.setFaults({ operationFailureRate: 1, operationFailureStatus: 'failed' });
    try {
      const res = await api.post('/projects', { project: {} });
      settle();
      const ops = (await api.get(`/projects/${res.body.project.id}/operations`)).body.operations;
      expect(ops.map((o: { status: string }) => o.status)).toEqual(['failed', 'failed']);
      expect(ops[0].failures_count).toBe(1);
      expect(ops[0].error).toContain('start_compute');
    } finally {
      em.setFaults({});
    }
  });
});

describe('branches', () => {
  it('creates a branch without compute unless endpoints are given; stores annotations', async () => {
    const p = await newProject();
    const bare = await api.post(`/projects/${p.id}/branches`, { branch: { name: 'bare' } });
    expect(bare.status).toBe(201);
    expect(bare.body.endpoints).toEqual([]);
    expect(bare.body.branch.parent_id).toBe(p.mainId);
    expect(bare.body.operations.map((o: { action: string }) => o.action)).toEqual(['create_branch']);
    expect(bare.body.connection_uris).toBeUndefined();
    expect(bare.body.roles.map((r: { name: string }) => r.name)).toEqual(['neondb_owner']);
    settle();
    const withEp = await api.post(`/projects/${p.id}/branches`, {
      branch: { name: 'dev' },
      endpoints: [{ type: 'read_write' }],
      annotation_value: { 'neon.operator/uid': 'uid-1' },
    });
    expect(withEp.status).toBe(201);
    expect(withEp.body.operations.map((o: { action: string }) => o.action)).toEqual(['create_branch', 'start_compute']);
    expect(withEp.body.endpoints[0].type).toBe('read_write');
    expect(withEp.body.connection_uris).toHaveLength(1);
    const list = await api.get(`/projects/${p.id}/branches`);
    expect(list.body.annotations).toEqual({
      [withEp.body.branch.id]: expect.objectContaining({ value: { 'neon.operator/uid': 'uid-1' } }),
    });
    const one = await api.get(`/projects/${p.id}/branches/${withEp.body.branch.id}`);
    expect(one.body.annotation.value).toEqual({ 'neon.operator/uid': 'uid-1' });
  });

  it('rejects a duplicate branch name with 409 BRANCH_ALREADY_EXISTS', async () => {
    const p = await newProject();
    const dup = await api.post(`/projects/${p.id}/branches`, { branch: { name: 'main' } });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe('BRANCH_ALREADY_EXISTS');
  });

  it('refuses to delete the default branch, a branch with children, or the last branch; a gone branch is 204', async () => {
    const p = await newProject();
    expect((await api.delete(`/projects/${p.id}/branches/${p.mainId}`)).status).toBe(400);
    const parent = (await api.post(`/projects/${p.id}/branches`, { branch: { name: 'parent' } })).body.branch.id;
    settle();
    const child = (await api.post(`/projects/${p.id}/branches`, { branch: { name: 'child', parent_id: parent } })).body.branch.id;
    settle();
    expect((await api.delete(`/projects/${p.id}/branches/${parent}`)).status).toBe(400);
    const del = await api.delete(`/projects/${p.id}/branches/${child}`);
    expect(del.status).toBe(200);
    expect(del.body.operations.map((o: { action: string }) => o.action)).toEqual(['delete_timeline']);
    settle();
    expect((await api.delete(`/projects/${p.id}/branches/${child}`)).status).toBe(204);
    expect((await api.get(`/projects/${p.id}/branches/${child}`)).status).toBe(404);
    // The last-branch rule, reached by making the only branch left non-default behind the API's back.
    const lone = await newProject('lone');
    const main = em.state.projects.get(lone.id)?.branches.get(lone.mainId);
    if (main) main.isDefault = false;
    expect((await api.delete(`/projects/${lone.id}/branches/${lone.mainId}`)).status).toBe(400);
  });

  it('deletes a branch’s computes with it (suspend_compute + delete_timeline)', async () => {
    const p = await newProject();
    const b = await api.post(`/projects/${p.id}/branches`, { branch: { name: 'x' }, endpoints: [{ type: 'read_write' }] });
    settle();
    const del = await api.delete(`/projects/${p.id}/branches/${b.body.branch.id}`);
    expect(del.body.operations.map((o: { action: string }) => o.action)).toEqual(['suspend_compute', 'delete_timeline']);
    expect((await api.get(`/projects/${p.id}/endpoints/${b.body.endpoints[0].id}`)).status).toBe(404);
  });

  it('paginates branches with a cursor and reports next, sort_by and sort_order', async () => {
    const p = await newProject();
    for (const name of ['b1', 'b2', 'b3', 'b4']) {
      await api.post(`/projects/${p.id}/branches`, { branch: { name } });
      settle();
    }
    const seen: string[] = [];
    let cursor = '';
    for (let i = 0; i < 10; i++) {
      const page = await api.get(`/projects/${p.id}/branches?limit=2&sort_by=name&sort_order=asc${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body.pagination).toMatchObject({ sort_by: 'name', sort_order: 'asc' });
      seen.push(...page.body.branches.map((b: { name: string }) => b.name));
      if (!page.body.pagination.next) break;
      cursor = page.body.pagination.next;
    }
    expect(seen).toEqual(['b1', 'b2', 'b3', 'b4', 'main']);
    const newest = await api.get(`/projects/${p.id}/branches`);
    expect(newest.body.branches[0].name).toBe('b4');
  });

  it('updates a branch (rename, protect) and rejects renaming onto an existing name', async () => {
    const p = await newProject();
    const id = (await api.post(`/projects/${p.id}/branches`, { branch: { name: 'old' } })).body.branch.id;
    settle();
    expect((await api.patch(`/projects/${p.id}/branches/${id}`, { branch: { name: 'main' } })).status).toBe(409);
    const upd = await api.patch(`/projects/${p.id}/branches/${id}`, { branch: { name: 'new', protected: true } });
    expect(upd.status).toBe(200);
    expect(upd.body.branch).toMatchObject({ name: 'new', protected: true });
  });

  it('restores a branch from another, optionally keeping the old state under a new name', async () => {
    const p = await newProject();
    const dev = (await api.post(`/projects/${p.id}/branches`, { branch: { name: 'dev' } })).body.branch.id;
    settle();
    const res = await api.post(`/projects/${p.id}/branches/${dev}/restore`, { source_branch_id: p.mainId, preserve_under_name: 'dev-old' });
    expect(res.status).toBe(200);
    expect(res.body.branch.last_reset_at).toBeDefined();
    expect(res.body.operations.map((o: { action: string }) => o.action)).toContain('create_timeline');
    const names = (await api.get(`/projects/${p.id}/branches`)).body.branches.map((b: { name: string }) => b.name);
    expect(names).toContain('dev-old');
  });
});

describe('spec', () => {
  it('every answer in this file matched the official OpenAPI spec', () => {
    expect(em.specViolations()).toEqual([]);
  });
});
