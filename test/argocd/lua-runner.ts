// Runs deploy/argocd/health.lua in gopher-lua (the Lua Argo CD embeds) through the argocd-lua-health runner
// built by test/argocd/build.sh into the control-plane binary cache.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { cacheBinDir, repoRoot } from '../controlplane/binaries.ts';

const execFileAsync = promisify(execFile);

export const healthScript = join(repoRoot, 'deploy', 'argocd', 'health.lua');

const resultSchema = z.array(
  z.object({ status: z.string().optional(), message: z.string().optional(), error: z.string().optional() }),
);
export type HealthResult = z.infer<typeof resultSchema>[number];

/** The runner's path: TEST_ASSET_ARGOCD_LUA_HEALTH or the build cache. */
export function runnerPath(): string {
  return process.env['TEST_ASSET_ARGOCD_LUA_HEALTH'] ?? join(cacheBinDir(), 'argocd-lua-health');
}

/** Builds the runner unless it is up to date (a no-op after `npm run controlplane:build` and .ci/run). */
export async function buildRunner(): Promise<void> {
  await execFileAsync('bash', [join(repoRoot, 'test', 'argocd', 'build.sh')], { cwd: repoRoot });
}

/** Argo CD's verdict on each object: `{status, message}`, or `{error}` when the script failed. */
export async function runHealthChecks(objects: readonly unknown[], script = healthScript): Promise<HealthResult[]> {
  const child = execFileAsync(runnerPath(), [script], { maxBuffer: 16 * 1024 * 1024 });
  child.child.stdin?.end(JSON.stringify(objects));
  const { stdout } = await child;
  return resultSchema.parse(JSON.parse(stdout));
}
