// The Argo CD health check (deploy/argocd/health.lua) in a real gopher-lua, the way Argo CD runs it, against
// status fixtures of every kind in Argo CD's own health_test.yaml format, and against every Ready reason the
// controllers write, so a new reason cannot go unclassified.
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { allKinds } from '../../src/api/kinds.ts';
import { argocdConfigMapPath, healthKey, renderArgocdConfigMap } from '../../scripts/generate-argocd.ts';
import { repoRoot } from '../controlplane/binaries.ts';
import { buildRunner, healthScript, runHealthChecks } from './lua-runner.ts';

const fixturesDir = join(import.meta.dirname, 'fixtures');

const healthTestSchema = z.object({
  tests: z.array(z.object({ healthStatus: z.object({ status: z.string(), message: z.string() }), inputPath: z.string() })),
});

/** Ready=False reasons that need someone to act: Degraded. Every other reason must be in the script's `waiting` list. */
const DEGRADED_REASONS = new Set([
  'InvalidSpec',
  'ApiKeyMissing',
  'DefaultsMissing',
  'ProjectNotFound',
  'ProjectDeletedOutside',
  'NeonUnauthorized',
  'NeonRejected',
  'NeonConflict',
  'NeonNotFound',
  'NeonPreconditionFailed',
  'NeonOperationFailed',
  'SecretConflict',
  'Conflict',
  'IdentityNotFound',
  // Anonymized branches: masking failed, was not started, or the branch found is not anonymized.
  'AnonymizationFailed',
  'AnonymizationNotStarted',
  'NotAnonymized',
]);

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** Every Ready reason literal in src/controllers: `NotReadyError('X'`, `BlockedError('X'`, `reason: 'X'`. */
async function controllerReasons(): Promise<Set<string>> {
  const reasons = new Set<string>();
  for (const file of await sourceFiles(join(repoRoot, 'src', 'controllers'))) {
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(/(?:(?:NotReadyError|BlockedError)\(\s*|reason:\s*)'([A-Z][A-Za-z0-9]*)'/g)) if (m[1]) reasons.add(m[1]);
  }
  reasons.delete('Ready');
  // The reason of the Paused condition (shown as Suspended), not of Ready.
  reasons.delete('Paused');
  return reasons;
}

function objectWith(reason: string, status: 'True' | 'False' | 'Unknown' = 'False'): unknown {
  return {
    apiVersion: 'neon-operator.dev/v1alpha1',
    kind: 'NeonBranch',
    metadata: { name: 'b', namespace: 'n', generation: 1 },
    spec: { projectRef: { name: 'p' } },
    status: {
      observedGeneration: 1,
      conditions: [{ type: 'Ready', status, observedGeneration: 1, lastTransitionTime: '2026-11-29T21:00:00Z', reason, message: 'm' }],
    },
  };
}

beforeAll(async () => {
  await buildRunner();
}, 300_000);

describe('deploy/argocd/health.lua in gopher-lua', () => {
  it.each(allKinds.map((k) => [k.kind, k] as const))('gives the expected health for every %s fixture', async (kind, def) => {
    const spec = healthTestSchema.parse(parse(await readFile(join(fixturesDir, kind, 'health_test.yaml'), 'utf8')));
    const statuses = new Set(spec.tests.map((t) => t.healthStatus.status));
    expect([...statuses].sort()).toEqual(['Degraded', 'Healthy', 'Progressing']);
    const objects = await Promise.all(
      spec.tests.map(async (t) => parse(await readFile(join(fixturesDir, kind, t.inputPath), 'utf8')) as unknown),
    );
    // The fixtures are objects the operator could have written: they parse with the kind's own schema.
    for (const [i, o] of objects.entries()) expect(() => def.parse(o), spec.tests[i]?.inputPath).not.toThrow();
    const results = await runHealthChecks(objects);
    expect(results).toEqual(spec.tests.map((t) => ({ status: t.healthStatus.status, message: t.healthStatus.message })));
  });

  it('classifies every Ready reason the controllers write: waiting ones Progressing, the others Degraded', async () => {
    const reasons = [...(await controllerReasons())].sort();
    expect(reasons.length).toBeGreaterThan(5);
    const script = await readFile(healthScript, 'utf8');
    const waitingBlock = /local waiting = \{([^}]*)\}/.exec(script)?.[1] ?? '';
    const waiting = new Set([...waitingBlock.matchAll(/(\w+) = true/g)].map((m) => m[1]));
    for (const reason of reasons) {
      expect(waiting.has(reason) || DEGRADED_REASONS.has(reason), `reason ${reason} is neither waiting nor degraded: classify it`).toBe(true);
    }
    const results = await runHealthChecks(reasons.map((r) => objectWith(r)));
    expect(Object.fromEntries(reasons.map((r, i) => [r, results[i]?.status]))).toEqual(
      Object.fromEntries(reasons.map((r) => [r, waiting.has(r) ? 'Progressing' : 'Degraded'])),
    );
  });

  it('treats Ready=Unknown as Progressing and an unknown Ready=False reason as Degraded', async () => {
    const [unknown, strange] = await runHealthChecks([objectWith('Reconciling', 'Unknown'), objectWith('SomethingNew')]);
    expect(unknown).toEqual({ status: 'Progressing', message: 'Reconciling: m' });
    expect(strange).toEqual({ status: 'Degraded', message: 'SomethingNew: m' });
  });

  it('shows a paused object (Paused=True) as Suspended, whatever Ready says, also while it is being deleted', async () => {
    const paused = (o: unknown, deleting = false) => {
      const obj = o as { metadata: Record<string, unknown>; status: { conditions: unknown[] } };
      obj.status.conditions.push({ type: 'Paused', status: 'True', reason: 'Paused', message: 'p', lastTransitionTime: '2026-11-29T21:00:00Z' });
      if (deleting) obj.metadata['deletionTimestamp'] = '2026-11-29T21:00:00Z';
      return obj;
    };
    const results = await runHealthChecks([paused(objectWith('Ready', 'True')), paused(objectWith('BranchHasChildren'), true)]);
    expect(results).toEqual([
      { status: 'Suspended', message: 'Paused: p' },
      { status: 'Suspended', message: 'Paused: p' },
    ]);
  });

  it('the runner is the sandbox Argo CD uses: no string library (a script relying on it fails here too)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lua-'));
    const script = join(dir, 'uses-string.lua');
    await writeFile(script, 'return { status = "Healthy", message = string.lower("X") }');
    const [result] = await runHealthChecks([{}], script);
    expect(result?.error).toMatch(/string|nil/);
  });
});

describe('deploy/argocd/argocd-cm.yaml', () => {
  it('holds health.lua under resource.customizations.health.<group>_<Kind> for each kind (run npm run generate:argocd when this fails)', async () => {
    const text = await readFile(argocdConfigMapPath, 'utf8');
    const script = await readFile(healthScript, 'utf8');
    expect(text).toBe(renderArgocdConfigMap(script));
    const cm = parse(text) as { data: Record<string, string> };
    expect(Object.keys(cm.data).sort()).toEqual(allKinds.map((k) => healthKey(k.group, k.kind)).sort());
    for (const value of Object.values(cm.data)) expect(value).toBe(script);
  });
});
