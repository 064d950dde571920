import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../emulator/manual-clock.ts';
import { RawClient } from '../emulator/raw-client.ts';
import { emulatorRoutes, startEmulator, type EmulatorHandle } from '../emulator/server.ts';
import { createResponseValidator, loadSpec } from './openapi.ts';

const clock = new ManualClock();
let em: EmulatorHandle;
let api: RawClient;

beforeAll(async () => {
  em = await startEmulator({
    clock,
    limits: { perMinute: 10_000, perRoutePerSecond: 1000, retryAfter: true },
    validateResponses: true,
    validateRequests: true,
  });
  api = new RawClient(em.url);
});
afterAll(async () => {
  await em.stop();
});

const settle = (): void => clock.advance(60_000);

describe('the emulator against the official OpenAPI spec', () => {
  it('serves only routes the spec documents', () => {
    const spec = loadSpec();
    for (const route of emulatorRoutes()) {
      const [method = '', template = ''] = route.split(' ');
      expect(spec.paths[template]?.[method.toLowerCase()], route).toBeDefined();
    }
  });

  it('answers every route, success and error cases, with zero spec violations', async () => {
    // Projects
    const created = await api.post('/projects', { project: { name: 'fidelity', branch: { annotations: { a: 'b' } } } });
    expect(created.status).toBe(201);
    const pid: string = created.body.project.id;
    const main: string = created.body.branch.id;
    const ep: string = created.body.endpoints[0].id;
    const timeline: string = created.body.operations[0].id;
    await api.get('/projects?limit=1');
    await api.get('/projects/shared');
    await api.get(`/projects/${pid}`);
    await api.get('/projects/missing-project');
    await api.post(`/projects/${pid}/branches`, { branch: { name: 'locked' } }); // 423
    settle();
    await api.patch(`/projects/${pid}`, { project: { name: 'fidelity-2' } });

    // Branches
    const br = await api.post(`/projects/${pid}/branches`, {
      branch: { name: 'dev' },
      endpoints: [{ type: 'read_write' }],
      annotation_value: { owner: 'uid-1' },
    });
    expect(br.status).toBe(201);
    const dev: string = br.body.branch.id;
    const devEp: string = br.body.endpoints[0].id;
    settle();
    await api.post(`/projects/${pid}/branches`, { branch: { name: 'dev' } }); // 409
    await api.get(`/projects/${pid}/branches?limit=1`);
    await api.get(`/projects/${pid}/branches`);
    await api.get(`/projects/${pid}/branches/${dev}`);
    await api.get(`/projects/${pid}/branches/${dev}/endpoints`);
    await api.patch(`/projects/${pid}/branches/${dev}`, { branch: { name: 'dev2' } });
    await api.post(`/projects/${pid}/branches/${dev}/restore`, { source_branch_id: main });
    settle();
    await api.post(`/projects/${pid}/branches/${main}/set_as_default`);
    const masked = await api.post(`/projects/${pid}/branch_anonymized`, {
      branch_create: { branch: { name: 'masked' } },
      masking_rules: [{ database_name: 'neondb', schema_name: 'public', table_name: 'users', column_name: 'email', masking_function: 'anon.fake_email()' }],
    });
    expect(masked.status).toBe(201);
    const maskedId: string = masked.body.branch.id;
    settle();
    await api.get(`/projects/${pid}/branches/${maskedId}/masking_rules`);
    await api.patch(`/projects/${pid}/branches/${maskedId}/masking_rules`, { masking_rules: [] });
    await api.post(`/projects/${pid}/branches/${maskedId}/anonymize`);
    await api.get(`/projects/${pid}/branches/${maskedId}/anonymized_status`);
    settle();
    await api.get(`/projects/${pid}/branches/${maskedId}/anonymized_status`);

    // Endpoints
    const ro = await api.post(`/projects/${pid}/endpoints`, { endpoint: { branch_id: main, type: 'read_only' } });
    expect(ro.status).toBe(201);
    settle();
    await api.post(`/projects/${pid}/endpoints`, { endpoint: { branch_id: main, type: 'read_write' } }); // 409
    await api.get(`/projects/${pid}/endpoints`);
    await api.get(`/projects/${pid}/endpoints/${ep}`);
    await api.patch(`/projects/${pid}/endpoints/${ep}`, { endpoint: { autoscaling_limit_max_cu: 1 } });
    settle();
    await api.post(`/projects/${pid}/endpoints/${ep}/suspend`);
    settle();
    await api.post(`/projects/${pid}/endpoints/${ep}/start`);
    settle();
    await api.post(`/projects/${pid}/endpoints/${ep}/restart`);
    settle();
    await api.delete(`/projects/${pid}/endpoints/${ro.body.endpoint.id}`);
    settle();
    await api.delete(`/projects/${pid}/endpoints/${ro.body.endpoint.id}`); // 204

    // Roles
    await api.post(`/projects/${pid}/branches/${main}/roles`, { role: { name: 'app' } });
    settle();
    await api.get(`/projects/${pid}/branches/${main}/roles`);
    await api.get(`/projects/${pid}/branches/${main}/roles/app`);
    await api.get(`/projects/${pid}/branches/${main}/roles/app/reveal_password`);
    await api.post(`/projects/${pid}/branches/${main}/roles/app/reset_password`);
    settle();

    // Databases
    await api.post(`/projects/${pid}/branches/${main}/databases`, { database: { name: 'appdb', owner_name: 'app' } });
    settle();
    await api.get(`/projects/${pid}/branches/${main}/databases`);
    await api.get(`/projects/${pid}/branches/${main}/databases/appdb`);
    await api.patch(`/projects/${pid}/branches/${main}/databases/appdb`, { database: { owner_name: 'neondb_owner' } });
    settle();
    await api.delete(`/projects/${pid}/branches/${main}/databases/appdb`);
    settle();
    await api.delete(`/projects/${pid}/branches/${main}/databases/appdb`); // 204
    await api.delete(`/projects/${pid}/branches/${main}/roles/app`);
    settle();
    await api.delete(`/projects/${pid}/branches/${main}/roles/app`); // 204

    // Operations, connection URI, account
    await api.get(`/projects/${pid}/operations?limit=5`);
    await api.get(`/projects/${pid}/operations/${timeline}`);
    await api.get(`/projects/${pid}/connection_uri?database_name=neondb&role_name=neondb_owner&pooled=true`);
    await api.get('/auth');
    await api.get('/users/me');
    await api.get('/users/me/organizations');
    await new RawClient(em.url, null).get('/projects'); // 401

    // Deletions last
    await api.delete(`/projects/${pid}/branches/${dev}`);
    settle();
    await api.delete(`/projects/${pid}/branches/${dev}`); // 204
    await api.delete(`/projects/${pid}`);
    expect(devEp).toMatch(/^ep-/);

    // 412 from reveal_password
    const np = await api.post('/projects', { project: { store_passwords: false } });
    await api.get(`/projects/${np.body.project.id}/branches/${np.body.branch.id}/roles/neondb_owner/reveal_password`);

    const seen = new Set(Object.keys(em.counters().byRoute));
    const missing = emulatorRoutes().filter((r) => !seen.has(r));
    expect(missing).toEqual([]);
    const statuses = Object.keys(em.counters().byStatus).sort();
    expect(statuses).toEqual(['200', '201', '204', '401', '404', '409', '412', '423']);
    expect(em.specViolations()).toEqual([]);
  });
});

describe('the validator', () => {
  const validate = createResponseValidator();

  it('accepts a conforming answer and rejects broken ones (missing field, wrong type, wrong enum)', () => {
    const op = {
      id: '08b9367d-6918-4cd5-b4a6-41c8fd984b7e',
      project_id: 'p-1',
      action: 'create_timeline',
      status: 'running',
      failures_count: 0,
      created_at: '2025-09-10T07:58:16Z',
      updated_at: '2025-09-10T07:58:16Z',
      total_duration_ms: 0,
    };
    expect(validate('GET', '/projects/{project_id}/operations/{operation_id}', 200, { operation: op })).toEqual([]);
    const { status: _dropped, ...noStatus } = op;
    expect(validate('GET', '/projects/{project_id}/operations/{operation_id}', 200, { operation: noStatus }).join()).toMatch(/status/);
    expect(validate('GET', '/projects/{project_id}/operations/{operation_id}', 200, { operation: { ...op, failures_count: '0' } })).not.toEqual([]);
    expect(validate('GET', '/projects/{project_id}/operations/{operation_id}', 200, { operation: { ...op, status: 'done' } })).not.toEqual([]);
    expect(validate('GET', '/projects/{project_id}/operations/{operation_id}', 200, { operation: { ...op, created_at: 'yesterday' } })).not.toEqual([]);
    expect(validate('GET', '/projects/{project_id}/operations/{operation_id}', 404, { message: 'x' })).not.toEqual([]);
    expect(validate('GET', '/projects/{project_id}/operations/{operation_id}', 404, { code: '', message: 'x' })).toEqual([]);
    expect(validate('GET', '/not/a/route', 200, {})).not.toEqual([]);
    // The spec leaves objects open, so a misspelt field is caught by the undocumented-field walk.
    expect(validate('GET', '/projects/{project_id}/operations/{operation_id}', 200, { operation: { ...op, endpointid: 'ep-1' } })).toEqual([
      'GET /projects/{project_id}/operations/{operation_id} 200: /operation/endpointid is not documented',
    ]);
    const list = { branches: [], annotations: { 'br-1': { object: { type: 't', id: 'br-1' }, value: { k: 'v' }, extra: 1 } } };
    expect(validate('GET', '/projects/{project_id}/branches', 200, list).join()).toMatch(/annotations\/br-1\/extra is not documented/);
    expect(validate('DELETE', '/projects/{project_id}/branches/{branch_id}', 204, { x: 1 })).not.toEqual([]);
  });

  it('records off-spec request bodies from a client when validateRequests is on', async () => {
    const strict = await startEmulator({ limits: false, validateRequests: true });
    try {
      const c = new RawClient(strict.url);
      const p = await c.post('/projects', { project: { name: 'ok' } });
      expect(strict.specViolations()).toEqual([]);
      await c.post(`/projects/${p.body.project.id}/branches`, { branch: { nmae: 'typo' } });
      await c.post(`/projects/${p.body.project.id}/endpoints`, { endpoint: { type: 'read_write' } });
      const v = strict.specViolations();
      expect(v.map((x) => x.kind)).toEqual(['request', 'request']);
      expect(v[0]?.errors).toEqual(['POST /projects/{project_id}/branches request: /branch/nmae is not documented']);
      expect(v[1]?.errors.join()).toMatch(/branch_id/);
    } finally {
      await strict.stop();
    }
  });

  it('fails the suite that used it: stop() rejects after an off-spec answer, naming the route', async () => {
    const broken = await startEmulator({ limits: false });
    const c = new RawClient(broken.url);
    const res = await c.post('/projects', { project: {} });
    const record = broken.state.projects.get(res.body.project.id);
    if (!record) throw new Error('project missing from state');
    record.pgVersion = 99; // the spec allows 14–18
    await c.get(`/projects/${record.id}`);
    await expect(broken.stop()).rejects.toThrow(/1 responses that break Neon's OpenAPI spec:\nGET \/projects\/\{project_id\} 200: .*pg_version/);
  });

  it('catches a broken emulator answer through the validateResponses hook', async () => {
    const broken = await startEmulator({ limits: false, validateResponses: true, allowSpecViolations: true });
    try {
      const c = new RawClient(broken.url);
      const res = await c.post('/projects', { project: {} });
      const record = broken.state.projects.get(res.body.project.id);
      if (!record) throw new Error('project missing from state');
      record.pgVersion = 99; // the spec allows 14–18
      await c.get(`/projects/${record.id}`);
      const v = broken.specViolations();
      expect(v).toHaveLength(1);
      expect(v[0]).toMatchObject({ method: 'GET', route: '/projects/{project_id}', status: 200 });
      expect(v[0]?.errors.join()).toMatch(/pg_version/);
    } finally {
      await broken.stop();
    }
  });
});
