// `npm run demo` end to end, as a user runs it: the script is spawned as a child process and judged by what it
// prints and what it leaves behind. Two modes: the default (its own control plane and emulator) and the
// explicit KUBECONFIG + NEON_API_KEY mode (here: this run's control plane and an emulator the test owns, so
// the test can see Neon's side: the passwords that must never be printed, the project deleted at the end).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useControlPlane } from '../controlplane/e2e.ts';
import { startEmulator } from '../emulator/server.ts';

const repoRoot = resolve(import.meta.dirname, '..', '..');
const kinds = ['neonproject', 'neonbranch', 'neonendpoint', 'neonrole', 'neondatabase'] as const;

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runDemo(env: Record<string, string | undefined>, args: string[] = [], onOutput?: (text: string) => void): Promise<DemoRun> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'scripts/demo.ts'), ...args], {
      cwd: repoRoot,
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      onOutput?.(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** The environment of the test without anything that would switch the demo to an existing cluster. */
function cleanEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  delete env['KUBECONFIG'];
  delete env['NEON_API_KEY'];
  delete env['NEON_API_URL'];
  delete env['E2E_USE_EXISTING_CLUSTER'];
  return env;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Asserts the final table lists every example as Ready and the Secrets are shown with masked passwords. */
function expectReadyAndMasked(out: string): void {
  expect(out).toMatch(/All 5 Ready [\d.]+s after apply/);
  const final = out.slice(out.indexOf('All 5 Ready'));
  for (const kind of kinds) {
    expect(final, kind).toMatch(new RegExp(`^\\s+${kind}\\.neon-operator\\.dev/\\S+\\s+True\\s`, 'm'));
  }
  // What an app sees: every key the issue names, the password only as ****.
  expect(out).toContain('Secret neon-demo/app-db  (written by NeonRole app)');
  expect(out).toContain('Secret neon-demo/demo-connection  (written by NeonProject demo)');
  expect(out).toMatch(/keys: DATABASE_URL, dbname, host, jdbc-uri, password, pgpass, pooled-host, pooled-uri, port, uri, username/);
  expect(out).toMatch(/^\s+uri\s+postgresql:\/\/app:\*\*\*\*@\S+:5432\/app\?sslmode=require$/m);
  expect(out).toMatch(/^\s+DATABASE_URL\s+postgresql:\/\/app:\*\*\*\*@/m);
  expect(out).toMatch(/^\s+jdbc-uri\s+jdbc:postgresql:\/\/\S+\?user=app&password=\*\*\*\*&sslmode=require$/m);
  expect(out).toMatch(/^\s+password\s+\*\*\*\* \(\d+ characters\)$/m);
  // No URI anywhere carries a password that is not masked.
  expect(out.match(/postgres(?:ql)?:\/\/[^:/\s]+:(?!\*\*\*\*@)[^@\s]+@/g) ?? []).toEqual([]);
  expect(out.match(/password=(?!\*\*\*\*)[^&\s]+/g) ?? []).toEqual([]);
}

/** Asserts the demo's last step logged in with the app's Secret and printed the query's answer. */
function expectLoggedIn(out: string): void {
  const login = out.slice(out.indexOf('==> Logging in as the application does'));
  expect(login).toMatch(/^==> Logging in as the application does, with Secret neon-demo\/app-db \(key uri\)$/m);
  expect(login).toMatch(/^\s+postgresql:\/\/app:\*\*\*\*@ep-[a-z0-9-]+\.\S+:5432\/app\?sslmode=require$/m);
  expect(login).toMatch(/^\s+> select current_user, current_database\(\), version\(\)$/m);
  expect(login).toMatch(/^\s+current_user\s+current_database\s+version$/m);
  // The answer of a real server: the app role on the app database.
  expect(login).toMatch(/^\s+app\s+app\s+PostgreSQL \d+(\.\d+)? on \S+/m);
  expect(login.indexOf('Logging in')).toBeLessThan(login.indexOf('Stopping everything'));
}

describe('npm run demo', () => {
  it('starts its own control plane and emulator, gets every example Ready, masks passwords and leaves nothing behind', async () => {
    const run = await runDemo(cleanEnv());
    const out = run.stdout;
    expect(run.code, `${out}\n${run.stderr}`).toBe(0);
    expect(out).toContain('Starting the local control plane');
    expect(out).toContain('Starting the Neon API emulator');
    expectReadyAndMasked(out);
    expectLoggedIn(out);
    // The operator's metrics were served and counted what happened.
    expect(out).toMatch(/neon_operator_resources\{ready="True"\}\s+5/);
    expect(out).toMatch(/neon_operator_neon_api_requests_total\s+[1-9]\d*/);

    // Nothing left: the operator process, the demo's folder, the control plane's folder and ports.
    const pid = Number(/pid (\d+), log: (\S+)/.exec(out)?.[1]);
    const logFile = /pid \d+, log: (\S+)/.exec(out)?.[1] ?? '';
    expect(pid).toBeGreaterThan(0);
    expect(alive(pid)).toBe(false);
    expect(logFile).toMatch(/neon-operator-demo-/);
    expect(existsSync(logFile)).toBe(false);
    const apiServer = /kube-apiserver ready on (https:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    const etcd = /etcd ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    expect(apiServer).toBeDefined();
    await expect(fetch(`${etcd ?? ''}/health`)).rejects.toThrow();
    await expect(fetch(`${apiServer ?? ''}/readyz`)).rejects.toThrow();
    expect(out).toMatch(/Stopping everything\n\s+done/);
  }, 300_000);

  it('with KUBECONFIG and NEON_API_KEY uses that cluster and account, never prints a password, and deletes what it created', async () => {
    const cp = useControlPlane();
    const emulator = await startEmulator({
      port: 0,
      seed: 5,
      durations: { create_timeline: 800, start_compute: 600, create_branch: 200, apply_config: 100, suspend_compute: 200, delete_timeline: 200 },
      postgres: true,
    });
    const computes = emulator.compute?.access;
    const apiKey = 'e2e-demo-neon-api-key-0123456789';
    const account = emulator.accountOf(apiKey);
    // Every password Neon (the emulator) ever held for this account during the run.
    const passwords = new Set<string>();
    const collect = (): void => {
      for (const project of emulator.state.projectsOf(account)) {
        for (const branch of project.branches.values()) for (const role of branch.roles.values()) passwords.add(role.password);
      }
    };
    try {
      // The Secret's hosts resolve nowhere here: as for libpq, PGHOSTADDR says where they are.
      const env = {
        ...cleanEnv(),
        KUBECONFIG: cp.kubeconfigPath,
        NEON_API_KEY: apiKey,
        NEON_API_URL: emulator.url,
        PGHOSTADDR: computes?.address,
        PGSSLROOTCERT: computes?.caFile,
      };
      const poll = setInterval(collect, 50);
      const run = await runDemo(env, ['--timeout', '180'], collect).finally(() => clearInterval(poll));
      collect();
      const out = run.stdout;
      expect(run.code, `${out}\n${run.stderr}`).toBe(0);
      expect(out).toContain('Using KUBECONFIG');
      expect(out).not.toContain('Starting the local control plane');
      expect(out).not.toContain('Starting the Neon API emulator');
      expectReadyAndMasked(out);
      expectLoggedIn(out);

      expect(passwords.size).toBeGreaterThanOrEqual(2); // the project's default role and the app role
      for (const password of passwords) {
        expect(out.includes(password) || run.stderr.includes(password), 'a password was printed').toBe(false);
      }
      expect(out).not.toContain(apiKey);
      expect(run.stderr).not.toContain(apiKey);

      // The demo deleted its objects; the project's deletionPolicy is Delete, so Neon has nothing left.
      expect(out).toMatch(/Deleting the demo's objects[^\n]*\n\s+deleted/);
      expect(emulator.state.projectsOf(account)).toEqual([]);
    } finally {
      await emulator.stop();
    }
  }, 300_000);
});
