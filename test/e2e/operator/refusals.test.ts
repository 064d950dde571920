// What the CRDs cannot refuse but Neon does (an unknown region, a parent timestamp outside the history
// retention, an expiry in the past, a protected role name): each object ends Ready=False, NeonRejected, with
// Neon's message; it is retried with backoff, not in a hot loop; and the operator says so once at warn, never
// at error on every retry.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, projectsInNeon, readyCondition, setUpSuite, typeOfKind, waitReady, type NeonObject, type Suite } from './fixture.ts';

const apiVersion = 'neon-operator.dev/v1alpha1';
const HOUR = 3600_000;

interface LogLine {
  level: number;
  msg: string;
  name?: string;
  controller?: string;
  reason?: string;
}

describe('operator: Neon refuses what the CRDs let through', () => {
  let suite: Suite;
  const lines: LogLine[] = [];

  beforeAll(async () => {
    suite = await setUpSuite('op-refuse');
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
    await suite.startOperator({}, log);
  });
  afterAll(async () => {
    await suite?.teardown();
  });

  const create = (kind: string, name: string, spec: Record<string, unknown>) =>
    suite.kube.create(typeOfKind(kind), { apiVersion, kind, metadata: { name, namespace: suite.namespace }, spec } as NeonObject);

  const rejected = (kind: string, name: string) =>
    eventually(`${kind} ${name} NeonRejected`, async () => {
      const ready = readyCondition(await suite.kube.get<NeonObject>(typeOfKind(kind), { namespace: suite.namespace, name }));
      return ready?.status === 'False' && ready.reason === 'NeonRejected' ? ready : undefined;
    });

  it('each ends NeonRejected with Neon\'s message, retried a few times with backoff, warned once and never logged as an error', async () => {
    await create('NeonProject', 'history', { historyRetentionSeconds: 3600 });
    const history = await waitReady(suite, 'NeonProject', 'history');
    const projectId = String(history.status?.['projectId']);
    const defaultBranchId = String(history.status?.['defaultBranchId']);

    const now = Date.now();
    const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    await create('NeonProject', 'mars', { regionId: 'aws-mars-1' });
    await create('NeonBranch', 'too-old', { projectRef: { name: 'history' }, parentTimestamp: at(now - 2 * HOUR) });
    await create('NeonBranch', 'expired', { projectRef: { name: 'history' }, parentId: defaultBranchId, expiresAt: at(now - HOUR) });
    await create('NeonRole', 'pg-app', { projectRef: { name: 'history' }, name: 'pg_app', databaseName: 'neondb' });

    const refused = [
      { kind: 'NeonProject', name: 'mars', says: /POST \/projects \(HTTP 400\): region_id "aws-mars-1" is not a supported region/ },
      { kind: 'NeonBranch', name: 'too-old', says: /HTTP 400\): parent_timestamp .* is outside the project's history retention of 3600 seconds/ },
      { kind: 'NeonBranch', name: 'expired', says: /HTTP 400\): expires_at .* is in the past/ },
      { kind: 'NeonRole', name: 'pg-app', says: /HTTP 400\): role name "pg_app" is protected and cannot be used/ },
    ];
    for (const r of refused) expect((await rejected(r.kind, r.name)).message).toMatch(r.says);

    // The refused creates, by route; both branches post to the same route in the same project, so they are
    // counted together.
    const attempts = () => {
      const refusedCalls = suite.emulator.requests.filter((r) => r.status === 400);
      return {
        project: refusedCalls.filter((r) => r.route === 'POST /projects').length,
        branches: refusedCalls.filter((r) => r.route === 'POST /projects/{project_id}/branches' && r.path.startsWith(`/projects/${projectId}/`)).length,
        role: refusedCalls.filter((r) => r.route === 'POST /projects/{project_id}/branches/{branch_id}/roles').length,
      };
    };
    const before = attempts();
    // A window of real time in which a hot loop would send hundreds of requests; the backoff (1 s, 2 s, 4 s, …)
    // allows at most four more attempts per object in it.
    await new Promise((r) => setTimeout(r, 8_000));
    const after = attempts();
    expect(after.project - before.project).toBeLessThanOrEqual(4);
    expect(after.branches - before.branches).toBeLessThanOrEqual(8);
    expect(after.role - before.role).toBeLessThanOrEqual(4);
    // Retried, not given up: by now each object has been tried more than once.
    expect(after.project).toBeGreaterThanOrEqual(2);
    expect(after.branches).toBeGreaterThanOrEqual(4);
    expect(after.role).toBeGreaterThanOrEqual(2);
    // And nothing was created for any of them.
    expect(projectsInNeon(suite).map((p) => p.name)).toEqual(['history']);
    expect([...(projectsInNeon(suite)[0]?.branches.values() ?? [])].map((b) => b.name)).toEqual(['main']);

    for (const r of refused) {
      const about = lines.filter((l) => l.name === r.name && l.controller === r.kind.toLowerCase());
      expect(about.filter((l) => l.level >= 50), `${r.kind} ${r.name}: no error-level line`).toEqual([]);
      expect(about.filter((l) => l.level === 40 && l.reason === 'NeonRejected'), `${r.kind} ${r.name}: one warning`).toHaveLength(1);
      // Each retry is still in the log, at debug.
      expect(about.filter((l) => l.level === 20 && l.msg.includes('retrying with backoff')).length).toBeGreaterThanOrEqual(1);
    }
  });
});
