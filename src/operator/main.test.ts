// `node src/main.ts` as users run it (`npm start`): --help, and configuration errors that name the flag.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const node = resolve(root, 'node_modules', '.bin', 'node');

function run(args: string[], env: Record<string, string> = {}) {
  const { NEON_API_KEY: _ignored, ...rest } = process.env;
  return spawnSync(node, ['src/main.ts', ...args], { cwd: root, env: { ...rest, ...env }, encoding: 'utf8', timeout: 20_000 });
}

describe('the operator entry point', () => {
  it('prints help and exits 0', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--resync-period');
    expect(r.stdout).toContain('NEON_API_KEY');
  });

  it('exits 2 with a message naming the flag on bad configuration', () => {
    const r = run(['--resync-period=often'], { NEON_API_KEY: 'k' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--resync-period');
    const noKey = run([]);
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toContain('NEON_API_KEY');
  });
});
