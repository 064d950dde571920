// `npm run bench:operator` at a tiny size, as a user runs it: the script is spawned as a child process on this
// run's control plane (E2E_USE_EXISTING_CLUSTER) and judged by the tables it prints. Numbers are not judged
// (the machine is shared); that every phase ran and counted real Neon calls is.
import { describe, expect, it } from 'vitest';
import { useControlPlane } from '../controlplane/e2e.ts';
import { runNodeScript } from './node-script.ts';

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cp = useControlPlane();
  return runNodeScript('bench/operator.ts', args, { ...process.env, E2E_USE_EXISTING_CLUSTER: '1', KUBECONFIG: cp.kubeconfigPath });
}

/** The number in the value column of the first row whose label starts with `label` (columns: 2+ spaces apart). */
function cell(out: string, label: string): number {
  const line = out.split('\n').find((l) => l.startsWith(label));
  expect(line, `a row "${label}" in:\n${out}`).toBeDefined();
  const value = (line ?? '').split(/\s{2,}/)[1] ?? '';
  return Number(/^[\d,.]+/.exec(value)?.[0].replaceAll(',', '') ?? 'NaN');
}

describe('npm run bench:operator', () => {
  it('runs every phase for 2 groups in 1 project and prints its tables with real call counts', async () => {
    const run = await runBench(['--groups', '2', '--projects', '1', '--startup-window', '5', '--resync-seconds', '20']);
    const out = run.stdout;
    expect(run.code, `${out}\n${run.stderr}`).toBe(0);
    expect(out).toContain('== 2 branch groups (NeonBranch + NeonEndpoint read_write + NeonRole with Secret + NeonDatabase) over 1 NeonProjects: 9 objects');
    expect(cell(out, 'apply → all Ready')).toBeGreaterThan(0);
    // 2 groups × (branch with compute, role, database) + 1 project create.
    expect(cell(out, 'necessary calls')).toBe(7);
    const calls = cell(out, 'Neon calls');
    // At least the creates of the project, 2 branches, 2 computes, 2 roles and 2 databases reached Neon.
    expect(calls).toBeGreaterThanOrEqual(9);
    expect(out).toMatch(/^POST \/projects\s+mutation\s+1\s/m);
    expect(out).toMatch(/^POST \/projects\/\{p\}\/branches\s+mutation\s+2\s/m);
    expect(cell(out, 'reconciles')).toBeGreaterThanOrEqual(9);
    expect(out).toMatch(/^operator RSS \/ HWM\s+[1-9][\d,]* MB \/ [1-9][\d,]* MB/m);

    expect(out).toContain('NeonBranch b-0001 spec changed (protected: true) while stopped');
    expect(cell(out, 'changed b-0001 served')).toBeGreaterThan(0);
    expect(cell(out, 'start round: every object reconciled once')).toBeGreaterThan(0);
    const round = cell(out, 'Neon calls in one round');
    expect(cell(out, 'calls/hour at the default 10 min')).toBe(round * 6);
    // Every object was resynced once in the window: the round is a real round, not an empty window.
    expect(cell(out, 'reconciles in the window')).toBeGreaterThanOrEqual(9);
    expect(round).toBeGreaterThan(0);
  }, 300_000);

  it('--cli-peer times a neonctl shell loop and the operator on the same branches', async () => {
    const run = await runBench(['--cli-peer', '--groups', '2', '--projects', '1']);
    const out = run.stdout;
    expect(run.code, `${out}\n${run.stderr}`).toBe(0);
    const row = out.split('\n').find((l) => l.startsWith('2 branches / 1 project'));
    expect(row, out).toBeDefined();
    // CLI, operator, bound (seconds), two ratios, then the calls of each and the failures.
    const m = /^2 branches \/ 1 project\s+([\d.]+) s\s+([\d.]+) s\s+([\d.]+) s\s+[\d.]+×\s+[\d.]+×\s+(\d+)\s+(\d+)\s+0\/\d+$/.exec(row ?? '');
    expect(m, row).not.toBeNull();
    const [, cliSeconds, operatorSeconds, boundSeconds, cliCalls, operatorCalls] = (m ?? []).map(Number);
    expect(cliSeconds).toBeGreaterThan(0);
    expect(operatorSeconds).toBeGreaterThan(0);
    expect(boundSeconds).toBeCloseTo(2 * 2.196, 1);
    // Each CLI command is at least one call: 2 branch creates and 2 role creates.
    expect(cliCalls).toBeGreaterThanOrEqual(4);
    expect(operatorCalls).toBeGreaterThanOrEqual(4);
  }, 300_000);
});
