import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorHandle } from '../emulator/server.ts';

/**
 * The official Neon CLI, a client nobody in this project wrote, drives the emulator. If the emulator's
 * answers drift from Neon's, the CLI fails or prints something else, and this test says so.
 */

const run = promisify(execFile);
const cli = createRequire(import.meta.url).resolve('neonctl/bin/cli.js');
const KEY = 'cli-key';

let em: EmulatorHandle;
let configDir: string;

beforeAll(async () => {
  // Instant operations: the CLI retries a 423 only after 3 s, and this test is about answer shapes, not timing.
  const durations = { create_timeline: 0, start_compute: 0, create_branch: 0, apply_config: 0, suspend_compute: 0, delete_timeline: 0 };
  em = await startEmulator({ durations, validateResponses: true });
  configDir = await mkdtemp(join(tmpdir(), 'neonctl-'));
});
afterAll(async () => {
  await em.stop();
  await rm(configDir, { recursive: true, force: true });
});

async function neon(...args: string[]): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    [cli, '--api-host', em.url, '--api-key', KEY, '--no-analytics', '--config-dir', configDir, '--output', 'json', ...args],
    { timeout: 30_000, env: { ...process.env, NEON_API_HOST: em.url, NO_COLOR: '1' } },
  );
  return stdout;
}

async function neonJson(...args: string[]): Promise<any> {
  return JSON.parse(await neon(...args));
}

describe('neonctl against the emulator', () => {
  it('creates and lists a project, manages branches, a role, a database and gets connection strings', async () => {
    const created = await neonJson('projects', 'create', '--name', 'cli-project');
    const projectId: string = created.project.id;
    expect(created.project.name).toBe('cli-project');
    expect(created.connection_uris[0].connection_uri).toMatch(/^postgresql:\/\/neondb_owner:npg_/);
    const account = em.accountOf(KEY);
    expect(em.state.project(account, projectId)?.name).toBe('cli-project');

    const listed = await neonJson('projects', 'list');
    expect(listed.projects.map((p: { id: string }) => p.id)).toEqual([projectId]);

    const branch = await neonJson('branches', 'create', '--project-id', projectId, '--name', 'dev');
    const devId: string = branch.branch.id;
    expect(branch.branch).toMatchObject({ name: 'dev', project_id: projectId });
    expect(branch.endpoints[0]).toMatchObject({ type: 'read_write', branch_id: devId });

    const branches = await neonJson('branches', 'list', '--project-id', projectId);
    expect(branches.map((b: { name: string }) => b.name).sort()).toEqual(['dev', 'main']);

    const role = await neonJson('roles', 'create', '--project-id', projectId, '--branch', 'dev', '--name', 'app');
    const stored = em.state.project(account, projectId)?.branches.get(devId)?.roles.get('app');
    expect(role).toMatchObject({ name: 'app', branch_id: devId, password: stored?.password });

    const db = await neonJson('databases', 'create', '--project-id', projectId, '--branch', 'dev', '--name', 'appdb', '--owner-name', 'app');
    expect(db).toMatchObject({ name: 'appdb', owner_name: 'app', branch_id: devId });

    const host = `${branch.endpoints[0].id}.c-2.us-east-2.aws.neon.tech`;
    const pooledHost = `${branch.endpoints[0].id}-pooler.c-2.us-east-2.aws.neon.tech`;
    const direct = (await neon('connection-string', '--project-id', projectId, 'dev', '--role-name', 'app', '--database-name', 'appdb')).trim();
    expect(direct).toMatch(new RegExp(`^postgresql://app:${stored?.password}@${host.replace(/\./g, '\\.')}/appdb\\?sslmode=require`));
    const pooled = (await neon('connection-string', '--project-id', projectId, 'dev', '--role-name', 'app', '--database-name', 'appdb', '--pooled')).trim();
    expect(pooled).toContain(`@${pooledHost}/appdb`);

    const deleted = await neonJson('branches', 'delete', '--project-id', projectId, 'dev');
    expect(deleted.id).toBe(devId);
    const after = await neonJson('branches', 'list', '--project-id', projectId);
    expect(after.map((b: { name: string }) => b.name)).toEqual(['main']);

    // The CLI met no error and no 423 wait, and every answer it got matched the spec.
    const statuses = Object.keys(em.counters().byStatus).sort();
    expect(statuses).toEqual(['200', '201']);
    expect(em.specViolations()).toEqual([]);
  });
});
