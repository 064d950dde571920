/**
 * Every typed call of NeonClient against the emulator: each answer must parse with the client's schemas
 * and carry what a controller needs. Runs on a sped-up clock; assertions are on values, never on time.
 */
import { Agent, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScaledClock } from '../../src/clock.ts';
import { ConflictError, NeonClient, NeonScheduler, NotFoundError } from '../../src/neon/index.ts';
import { startEmulator, type EmulatorHandle } from '../emulator/server.ts';
import { createRequestValidator } from '../fidelity/openapi.ts';

const FACTOR = 100;
let emulator: EmulatorHandle;
let client: NeonClient;
let agent: Agent;
/** Bodies the client sent, by X-Request-ID (the emulator's log gives each request's route template). */
const sentBodies = new Map<string, string | undefined>();

beforeAll(async () => {
  const clock = new ScaledClock(FACTOR);
  emulator = await startEmulator({ clock, seed: 3, validateResponses: true });
  const scheduler = new NeonScheduler({ clock, operationPoll: { initialMs: 200, maxMs: 1_000 } });
  // The injected dispatcher records every request body on its way out.
  agent = new Agent();
  const recording: Dispatcher = agent.compose((dispatch) => (opts, handler) => {
    const headers = (opts.headers ?? {}) as Record<string, string>;
    sentBodies.set(headers['x-request-id'] ?? '', typeof opts.body === 'string' ? opts.body : undefined);
    return dispatch(opts, handler);
  });
  client = new NeonClient({
    apiKey: 'surface-test-key-0123456789',
    scheduler,
    baseUrl: emulator.url,
    clock,
    dispatcher: recording,
    requestTimeoutMs: 30_000 * FACTOR,
  });
});

afterAll(async () => {
  await client.close();
  await agent.close();
  await emulator.stop();
});

describe('NeonClient surface against the emulator', () => {
  it('covers projects, branches, endpoints, roles, databases, operations and connection URIs', async () => {
    // Projects.
    const created = await client.createProject({ name: 'surface', branch: { name: 'main' } });
    const pid = created.project.id;
    expect(created.branch.name).toBe('main');
    expect(created.roles.map((r) => r.name)).toContain('neondb_owner');
    expect(created.databases.map((d) => d.name)).toContain('neondb');
    expect(created.endpoints[0]?.type).toBe('read_write');
    expect(created.connection_uris.length).toBeGreaterThan(0);
    expect((await client.getProject(pid)).name).toBe('surface');
    expect((await client.listAllProjects()).map((p) => p.id)).toContain(pid);
    const renamed = await client.updateProject(pid, { name: 'surface-2' });
    expect(renamed.project.name).toBe('surface-2');

    // Branches, with annotations and a compute.
    const br = await client.createBranch(pid, {
      branch: { name: 'feature' },
      endpoints: [{ type: 'read_write', autoscaling_limit_min_cu: 0.25, autoscaling_limit_max_cu: 1 }],
      annotations: { 'neon.tech/owner-uid': 'uid-123' },
    });
    const bid = br.branch.id;
    expect(br.endpoints).toHaveLength(1);
    await client.waitForOperations(pid, br.operations);
    const got = await client.getBranch(pid, bid);
    expect(got.branch.name).toBe('feature');
    expect(got.annotation.value['neon.tech/owner-uid']).toBe('uid-123');
    const listed = await client.listAllBranches(pid, { pageSize: 1 });
    expect(listed.branches.map((b) => b.name).sort()).toEqual(['feature', 'main']);
    expect(listed.annotations[bid]?.value['neon.tech/owner-uid']).toBe('uid-123');
    const dup = await client.createBranch(pid, { branch: { name: 'feature' } }).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(ConflictError);
    expect((await client.updateBranch(pid, bid, { name: 'feature-2' })).branch.name).toBe('feature-2');

    // Endpoints.
    const eps = await client.listEndpoints(pid);
    const ep = eps.find((e) => e.branch_id === bid);
    expect(ep).toBeDefined();
    const epId = (ep as { id: string }).id;
    expect((await client.getEndpoint(pid, epId)).id).toBe(epId);
    await client.waitForOperations(pid, (await client.updateEndpoint(pid, epId, { autoscaling_limit_max_cu: 2 })).operations);
    await client.waitForOperations(pid, (await client.suspendEndpoint(pid, epId)).operations);
    expect((await client.getEndpoint(pid, epId)).current_state).toBe('idle');
    await client.waitForOperations(pid, (await client.startEndpoint(pid, epId)).operations);
    expect((await client.getEndpoint(pid, epId)).current_state).toBe('active');
    await client.waitForOperations(pid, (await client.restartEndpoint(pid, epId)).operations);
    const ro = await client.createEndpoint(pid, { branch_id: bid, type: 'read_only' });
    expect(ro.endpoint.type).toBe('read_only');

    // Roles.
    const role = await client.createRole(pid, bid, { name: 'app' });
    expect(role.role.password).toBeTruthy();
    expect((await client.listRoles(pid, bid)).map((r) => r.name)).toContain('app');
    expect((await client.getRole(pid, bid, 'app')).name).toBe('app');
    expect(await client.revealRolePassword(pid, bid, 'app')).toBe(role.role.password);
    const reset = await client.resetRolePassword(pid, bid, 'app');
    expect(await client.revealRolePassword(pid, bid, 'app')).not.toBe(role.role.password);
    expect(reset.role.name).toBe('app');

    // Databases.
    await client.createDatabase(pid, bid, { name: 'appdb', owner_name: 'app' });
    expect((await client.listDatabases(pid, bid)).map((d) => d.name)).toContain('appdb');
    expect((await client.getDatabase(pid, bid, 'appdb')).owner_name).toBe('app');
    expect((await client.updateDatabase(pid, bid, 'appdb', { name: 'appdb2' })).database.name).toBe('appdb2');

    // Connection URIs: pooled selects the -pooler host.
    const direct = await client.connectionUri(pid, { databaseName: 'appdb2', roleName: 'app', branchId: bid, endpointId: epId });
    const pooled = await client.connectionUri(pid, { databaseName: 'appdb2', roleName: 'app', branchId: bid, endpointId: epId, pooled: true });
    expect(direct).toContain(`${epId}.`);
    expect(pooled).toContain(`${epId}-pooler.`);

    // Operations.
    const ops = await client.listOperations(pid, { limit: 3 });
    expect(ops.operations).toHaveLength(3);
    const one = await client.getOperation(pid, (ops.operations[0] as { id: string }).id);
    expect(one.project_id).toBe(pid);

    // Deletes, including of things already gone (204 → null).
    expect(await client.deleteDatabase(pid, bid, 'appdb2')).not.toBeNull();
    expect(await client.deleteDatabase(pid, bid, 'appdb2')).toBeNull();
    expect(await client.deleteRole(pid, bid, 'app')).not.toBeNull();
    expect(await client.deleteRole(pid, bid, 'app')).toBeNull();
    expect(await client.deleteEndpoint(pid, ro.endpoint.id)).not.toBeNull();
    expect(await client.deleteEndpoint(pid, ro.endpoint.id)).toBeNull();
    const restoreSource = await client.createBranch(pid, { branch: { name: 'restore-src', parent_id: bid } });
    await client.waitForOperations(pid, restoreSource.operations);
    const restored = await client.restoreBranch(pid, restoreSource.branch.id, { source_branch_id: bid });
    expect(restored.branch.id).toBe(restoreSource.branch.id);
    expect(await client.deleteBranch(pid, restoreSource.branch.id)).not.toBeNull();
    expect(await client.deleteBranch(pid, restoreSource.branch.id)).toBeNull();
    await client.deleteProject(pid);
    expect(await client.getProject(pid).catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);

    expect(emulator.specViolations()).toEqual([]);

    // Every request the client sent matches Neon's documented request bodies.
    const validate = createRequestValidator();
    const problems: string[] = [];
    let checked = 0;
    for (const entry of emulator.requests) {
      if (!entry.route || !sentBodies.has(entry.requestId)) continue;
      const [method, template] = entry.route.split(' ') as [string, string];
      const raw = sentBodies.get(entry.requestId);
      problems.push(...validate(method, template, raw === undefined ? undefined : JSON.parse(raw)));
      checked++;
    }
    expect(checked).toBe(emulator.requests.length);
    expect(problems).toEqual([]);
  }, 60_000);
});
