// `npm run chaos -- --quick --postgres`, as a user runs it: the script starts its own control plane (it kills
// kube-apiserver, so it cannot share the run's), the emulator with the full fault mix and the operator, which it
// SIGKILLs on a beat while the fleet converges and while it is deleted. Judged by the results it writes: every
// object Ready within the deadline, every loss figure 0. No timing is judged beyond that generous deadline.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runNodeScript } from './node-script.ts';

const dir = mkdtempSync(join(tmpdir(), 'neon-operator-chaos-test-'));

const resultsSchema = z.looseObject({
  objects: z.number(),
  readyMs: z.number().nullable(),
  apiServerDownMs: z.number().nullable(),
  operatorLives: z.number(),
  deleteMs: z.number().nullable(),
  losses: z.record(z.string(), z.number()),
  findings: z.record(z.string(), z.array(z.string())),
  ok: z.boolean(),
});

function runChaos(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env['E2E_USE_EXISTING_CLUSTER'];
  return runNodeScript('bench/chaos.ts', args, env);
}

describe('npm run chaos -- --quick', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('converges under faults, operator SIGKILLs and an API server outage, loses nothing, and every Ready Secret logs in', async () => {
    if (process.env['E2E_USE_EXISTING_CLUSTER'] === '1') return;
    const json = join(dir, 'results.json');
    const seed = process.env['E2E_CHAOS_SEED'] ?? '3';
    // With the real Postgres: the Secrets of Ready objects must also log in (one more loss figure).
    const run = await runChaos(['--quick', '--postgres', '--seed', seed, '--json', json]);
    const out = `${run.stdout}\n${run.stderr.split('\n').slice(-20).join('\n')}`;
    // No results at all (the run stopped early): the run's own output says why.
    expect(existsSync(json), out).toBe(true);
    const results = resultsSchema.parse(JSON.parse(readFileSync(json, 'utf8')));
    // Every loss figure, by name, so a failure says which and what it found.
    for (const [what, count] of Object.entries(results.losses)) expect({ what, count, found: results.findings[what] }, out).toEqual({ what, count: 0, found: [] });
    expect(Object.keys(results.losses)).toContain('Secrets of Ready objects that do not log in');
    expect(results.readyMs, out).not.toBeNull();
    expect(results.deleteMs, out).not.toBeNull();
    // The chaos happened: the API server came back, the operator was killed and started again.
    expect(results.apiServerDownMs, out).not.toBeNull();
    expect(results.operatorLives, out).toBeGreaterThan(1);
    expect(results.ok, out).toBe(true);
    expect(run.code, out).toBe(0);
    expect(run.stdout).toContain('RESULT: ok');
  }, 600_000);
});
