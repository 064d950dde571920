// How `node src/main.ts` sets up its process: the operator's V8 flags (unless given), and KubeConfig loaded
// without client-node's generated API index.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingV8Flags, OPERATOR_RUNTIME_V8_FLAGS, OPERATOR_V8_FLAGS } from './process-setup.ts';

const root = resolve(import.meta.dirname, '..', '..');
const node = resolve(root, 'node_modules', '.bin', 'node');

interface Probe {
  execArgv: string[];
  genIndex: boolean;
  kubeConfig: boolean;
}

/** `node src/main.ts --help` (which loads every module of the operator), with a load hook reporting at exit. */
function probeMain(): Probe[] {
  const probe = `
    import { registerHooks } from 'node:module';
    const loaded = [];
    registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
    process.on('exit', () => process.stderr.write('PROBE ' + JSON.stringify({ execArgv: process.execArgv, genIndex: loaded.some((u) => u.endsWith('/client-node/dist/gen/index.js')), kubeConfig: loaded.some((u) => u.endsWith('/client-node/dist/config.js')) }) + '\\n'));
  `;
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  const r = spawnSync(node, ['--import', `data:text/javascript,${encodeURIComponent(probe)}`, 'src/main.ts', '--help'], { cwd: root, env, encoding: 'utf8', timeout: 20_000 });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('--resync-period');
  return r.stderr.split('\n').filter((l) => l.startsWith('PROBE ')).map((l) => JSON.parse(l.slice(6)) as Probe);
}

describe('the V8 flags the operator runs with', () => {
  it('adds each flag that neither the command line nor NODE_OPTIONS gives, whatever the spelling', () => {
    expect(missingV8Flags([], undefined)).toEqual(OPERATOR_V8_FLAGS);
    expect(missingV8Flags(['--max-semi-space-size=16'], undefined)).toEqual([]);
    expect(missingV8Flags(['--max_semi_space_size', '16'], undefined)).toEqual([]);
    expect(missingV8Flags(['--import', 'x.mjs'], '--max-semi-space-size=2 --enable-source-maps')).toEqual([]);
    expect(missingV8Flags(['--inspect'], '--enable-source-maps')).toEqual(OPERATOR_V8_FLAGS);
    expect(missingV8Flags(['--heap-growing-percent=80'], undefined, OPERATOR_RUNTIME_V8_FLAGS)).toEqual([]);
  });

  it('node src/main.ts relaunches itself once with them', () => {
    const reports = probeMain();
    // The first process replaced itself (same PID, no exit of its own): one report, the operator's.
    expect(reports).toHaveLength(1);
    expect(reports[0]?.execArgv).toEqual(expect.arrayContaining([...OPERATOR_V8_FLAGS]));
  });
});

describe("client-node's KubeConfig without the generated API index", () => {
  it('node src/main.ts loads KubeConfig but not the index', () => {
    const reports = probeMain();
    expect(reports.at(-1)?.kubeConfig).toBe(true);
    expect(reports.at(-1)?.genIndex).toBe(false);
  });

  it('dist/config.js imports from it just what the shim re-exports (an upgrade that needs more fails here)', () => {
    const require = createRequire(import.meta.url);
    const configJs = readFileSync(resolve(require.resolve('@kubernetes/client-node'), '..', 'config.js'), 'utf8');
    const fromGen = [...configJs.matchAll(/import\s*\{([^}]*)\}\s*from\s*'\.\/gen\/index\.js'/g)].map((m) => m[1] ?? '');
    expect(fromGen.flatMap((names) => names.split(',').map((n) => n.trim()).filter(Boolean)).sort()).toEqual(['ServerConfiguration', 'createConfiguration']);
    expect(configJs).not.toMatch(/import\s*\*\s*as\s*\w+\s*from\s*'\.\/gen\/index\.js'|export\s*\*\s*from\s*'\.\/gen\/index\.js'|import\s*'\.\/gen\/index\.js'/);
    const shim = readFileSync(resolve(import.meta.dirname, 'client-node-gen-shim.ts'), 'utf8');
    expect(shim).toMatch(/export \{ createConfiguration \}/);
    expect(shim).toMatch(/export \{ ServerConfiguration \}/);
  });

  it('the shim hands out the very objects the index exports', async () => {
    const shim = await import('./client-node-gen-shim.ts');
    const index = await import('@kubernetes/client-node');
    expect(shim.createConfiguration).toBe(index.createConfiguration);
    expect(shim.ServerConfiguration).toBe(index.ServerConfiguration);
  });
});
