// The image's recipe without a Docker engine: the Dockerfile's own COPY and RUN steps replayed in a temp folder
// (the production install from the lockfile, the sources minus tests), then the result started the way the
// image starts it (`node src/main.ts`, Node 24): --help, and a short run against the test control plane and
// the emulator with the chart's ServiceAccount that becomes healthy, gets a NeonProject Ready, writes nothing
// to its own files, and exits 0 on SIGTERM.
import { builtinModules } from 'node:module';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../controlplane/binaries.ts';
import { useControlPlane } from '../../controlplane/e2e.ts';
import { startEmulator, type EmulatorHandle } from '../../emulator/server.ts';
import { eventually, FAST_DURATIONS, readyCondition, type NeonObject } from '../operator/fixture.ts';
import { resourceTypes } from '../../../src/controllers/index.ts';
import { httpTransport, KubeClient } from '../../../src/runtime/index.ts';
import { parseDockerfile, replayDockerfile, type BuildResult, type Stage } from './dockerfile.ts';
import { installChartRbac, startOperatorProcess, uniqueName } from './install.ts';
import { httpGet } from './operator-process.ts';
import { kubectl, run } from './tools.ts';

const cp = useControlPlane();
const admin = new KubeClient(httpTransport(cp.kubeconfig, { userAgent: 'shipping-e2e' }));

interface PackageJson {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

async function readPackageJson(): Promise<PackageJson> {
  return JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as PackageJson;
}

async function walk(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path, base)));
    else out.push(path.slice(base.length + 1));
  }
  return out;
}

/** Every file under `dir` with its size and modification time, to prove a run wrote nothing. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of await walk(dir)) {
    const s = await stat(join(dir, f));
    out.set(f, `${s.size}:${s.mtimeMs}`);
  }
  return out;
}

let stages: Stage[];
let build: BuildResult;
let work: string;
let pathDir: string;

beforeAll(async () => {
  stages = parseDockerfile(await readFile(join(repoRoot, 'Dockerfile'), 'utf8'));
  work = await mkdtemp(join(tmpdir(), 'neon-operator-image-'));
  // `node` on PATH is the project's Node 24 (the image's base has Node 24), so npm runs under it too.
  pathDir = join(work, 'bin');
  await mkdir(pathDir);
  await symlink(process.execPath, join(pathDir, 'node'));
  build = await replayDockerfile(stages, repoRoot, join(work, 'rootfs'), {
    PATH: `${pathDir}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
    HOME: process.env['HOME'] ?? work,
    // The lockfile's packages are normally in the local npm cache already; the registry is only asked for what is not.
    npm_config_prefer_offline: 'true',
    npm_config_update_notifier: 'false',
  });
}, 300_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the Dockerfile', () => {
  it('is multi-stage on the official Node 24 image, runs as a numeric non-root user, node src/main.ts, SIGTERM', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.image).toMatch(/^node:24(-[a-z0-9.-]+)?$/);
    const final = build.final.instructions;
    const user = final.find((i) => i.op === 'USER');
    expect(user?.op === 'USER' && user.user).toMatch(/^[1-9][0-9]*(:[0-9]+)?$/);
    expect(final.find((i) => i.op === 'ENTRYPOINT')).toEqual({ op: 'ENTRYPOINT', argv: ['node', 'src/main.ts'] });
    expect(final.find((i) => i.op === 'STOPSIGNAL')).toEqual({ op: 'STOPSIGNAL', signal: 'SIGTERM' });
    // Production dependencies only, from the lockfile, in the recipe.
    const runs = stages.flatMap((s) => s.instructions).filter((i) => i.op === 'RUN').map((i) => (i.op === 'RUN' ? i.command : ''));
    expect(runs.some((c) => /^npm ci\b.*--omit=dev/.test(c))).toBe(true);
  });

  it('installs exactly the production dependencies, and the sources without tests', async () => {
    const pkg = await readPackageJson();
    const modules = join(build.appDir, 'node_modules');
    for (const dep of Object.keys(pkg.dependencies)) expect((await stat(join(modules, dep, 'package.json'))).isFile(), dep).toBe(true);
    // The lockfile marks what only development needs (`dev: true`): none of it is installed, everything else is.
    const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
    const installed = new Set((await walk(modules)).filter((f) => f.endsWith('/package.json')).map((f) => `node_modules/${f.slice(0, -'/package.json'.length)}`));
    const devOnly = Object.entries(lock.packages).filter(([path, p]) => path !== '' && p.dev === true).map(([path]) => path);
    const production = Object.entries(lock.packages).filter(([path, p]) => path !== '' && p.dev !== true && p.optional !== true).map(([path]) => path);
    expect(devOnly.filter((path) => installed.has(path))).toEqual([]);
    expect(production.filter((path) => !installed.has(path))).toEqual([]);
    for (const dev of ['node', 'typescript', 'vitest', 'neonctl']) expect(installed.has(`node_modules/${dev}`), dev).toBe(false);
    const files = await walk(build.appDir);
    const sources = files.filter((f) => f.startsWith('src/'));
    expect(sources).toContain('src/main.ts');
    expect(sources.filter((f) => f.endsWith('.test.ts') || f.includes('/testdata/'))).toEqual([]);
    // Nothing else of the repository: no tests, scripts, charts, lockfile or TypeScript configuration.
    expect(files.filter((f) => !f.startsWith('src/') && !f.startsWith('node_modules/'))).toEqual(['package.json']);
  });

  it('imports at run time nothing but Node built-ins and production dependencies', async () => {
    const pkg = await readPackageJson();
    const allowed = new Set([...Object.keys(pkg.dependencies), ...builtinModules]);
    const offenders: string[] = [];
    for (const f of (await walk(join(build.appDir, 'src'))).filter((x) => x.endsWith('.ts'))) {
      const text = await readFile(join(build.appDir, 'src', f), 'utf8');
      for (const m of text.matchAll(/^\s*import\s+(?!type\b)[^'"]*?from\s+'([^'.][^']*)'/gm)) {
        const spec = m[1] ?? '';
        const name = spec.startsWith('node:') ? spec.slice(5) : spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? '');
        if (!allowed.has(name) && !spec.startsWith('node:')) offenders.push(`${f}: ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('starts: node src/main.ts --help (Node 24, from the installed folder)', async () => {
    const r = await run(process.execPath, ['src/main.ts', '--help'], { cwd: build.appDir, env: { PATH: `${pathDir}:/usr/bin:/bin`, ...build.env } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('--namespaces');
    expect(r.stdout).toContain('NEON_API_KEY');
    expect(r.stderr).toBe('');
  });
});

describe('a short run of the installed image files', () => {
  let emulator: EmulatorHandle;
  const release = uniqueName('img');
  const namespace = uniqueName('ship-img-op');
  const apps = uniqueName('ship-img-apps');

  beforeAll(async () => {
    emulator = await startEmulator({ seed: 9, durations: FAST_DURATIONS });
  });
  afterAll(async () => {
    await emulator?.stop();
  });

  it('becomes ready, reconciles a NeonProject, writes nothing to its files, and exits 0 on SIGTERM', async () => {
    const install = await installChartRbac(cp, release, namespace, { watch: { namespaces: [apps] }, neonApiKey: { existingSecret: 'neon-api-key', key: 'api-key' } });
    const before = await snapshot(build.appDir);
    const op = await startOperatorProcess(install, { podName: `${release}-pod`, apiKey: `${release}-key`, neonApiUrl: emulator.url, cwd: build.appDir });
    try {
      await eventually('/readyz 200', async () => ((await httpGet(`${op.metricsUrl}/readyz`))?.status === 200 ? true : undefined), 60_000);
      expect((await httpGet(`${op.metricsUrl}/healthz`))?.status).toBe(200);
      const apply = await kubectl(cp, ['apply', '-n', apps, '-f', join(repoRoot, 'examples', 'basic', 'project.yaml')]);
      expect(apply.code, apply.stderr).toBe(0);
      await eventually('NeonProject demo Ready', async () => {
        const obj = await admin.get<NeonObject>(resourceTypes.project, { namespace: apps, name: 'demo' });
        return readyCondition(obj)?.status === 'True' ? obj : undefined;
      }, 90_000, 300);
      const exit = await op.process.stop('SIGTERM');
      expect(exit).toEqual({ code: 0, signal: null });
      expect(op.process.logged('stopped').length).toBe(1);
      expect(op.process.rawOutput).toEqual([]);
    } finally {
      await op.process.stop('SIGKILL');
    }
    // Read-only root filesystem: the run changed no file of the installed image.
    expect(await snapshot(build.appDir)).toEqual(before);
    expect(await readdir(install.workDir)).toEqual([`${release}-pod.log`]);
    // Leave nothing behind in Neon either (the project's deletionPolicy is Delete).
    await kubectl(cp, ['delete', '-n', apps, 'neonproject', 'demo', '--wait=false']);
  });
});
