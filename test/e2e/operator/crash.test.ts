// The operator as a child process (`node src/main.ts`), killed with SIGKILL the moment Neon has applied a
// create call and before it could see or record the answer; restarted each time. Nothing is created twice,
// every object becomes Ready, and the Secrets hold the passwords Neon has: recovered with reveal_password
// when the project stores passwords, reset when it does not (412).
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useControlPlane } from '../../controlplane/e2e.ts';
import { startEmulator, type EmulatorHandle, type ResponseInfo } from '../../emulator/server.ts';
import { coreResources, httpTransport, KubeClient, type KubeObject } from '../../../src/runtime/index.ts';
import { API_KEY, eventually, exampleObjects, FAST_DURATIONS, getSecretData, repoRoot, typeOfKind, waitReady, type NeonObject, type Suite } from './fixture.ts';

const node = resolve(repoRoot, 'node_modules', '.bin', 'node');
// The read_write compute of NeonEndpoint dev-rw rides in the branch's create (endpoints[]): the kill after that
// call leaves both, and both are found again by the branch's annotations. A compute created on its own is covered
// by recovery.test.ts (an unanswered read_only create).
const ALL_CREATES = [
  'POST /projects',
  'POST /projects/{project_id}/branches',
  'POST /projects/{project_id}/branches/{branch_id}/roles',
  'POST /projects/{project_id}/branches/{branch_id}/databases',
];

const exited = (proc: ChildProcess) =>
  new Promise<void>((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.once('exit', () => r())));

describe.each([
  { storePasswords: true, creates: ALL_CREATES },
  { storePasswords: false, creates: ['POST /projects', 'POST /projects/{project_id}/branches/{branch_id}/roles'] },
])('operator: SIGKILL right after a create call (Neon stores passwords: $storePasswords)', ({ storePasswords, creates }) => {
  const cp = useControlPlane();
  let emulator: EmulatorHandle | undefined;
  let child: ChildProcess | undefined;
  let killOn: string | undefined;
  const kills: string[] = [];
  let output = '';

  const onResponse = (info: ResponseInfo): void => {
    if (!child || killOn === undefined) return;
    // The create was applied in Neon and the emulator is about to drop the answer: the operator dies
    // first, before it could see or record anything (onResponse runs before the socket is destroyed).
    if (`${info.method} ${info.route ?? ''}` === killOn && info.status === 0) {
      child.kill('SIGKILL');
      kills.push(killOn);
      killOn = undefined;
      emulator?.setFaults({});
    }
  };

  function startChild(namespace: string, url: string): ChildProcess {
    const proc = spawn(
      node,
      [
        'src/main.ts',
        `--kubeconfig=${cp.kubeconfigPath}`,
        `--namespaces=${namespace}`,
        `--neon-api-url=${url}`,
        '--metrics-port=0',
        '--log-level=info',
        '--resync-period=1m',
        '--waiting-requeue=5s',
      ],
      { cwd: repoRoot, env: { ...process.env, NEON_API_KEY: API_KEY }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    return proc;
  }

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited(child);
    }
    await emulator?.stop();
  });

  it('no duplicate in Neon, every object Ready, the Secret passwords valid', async () => {
    await cp.installCrds(resolve(repoRoot, 'crds'));
    const em = await startEmulator({ seed: 23, durations: FAST_DURATIONS, validateResponses: true, storePasswords, onResponse });
    emulator = em;
    const kube = new KubeClient(httpTransport(cp.kubeconfig, { userAgent: 'operator-e2e' }));
    const namespace = `op-crash-${storePasswords ? 'kept' : 'lost'}-${Date.now().toString(36)}`;
    await kube.create(coreResources.namespace, { metadata: { name: namespace } });
    const suite = { namespace, kube, emulator: em } as Suite;
    for (const obj of await exampleObjects(namespace)) await kube.create(typeOfKind(obj.kind), obj);

    for (const route of creates) {
      killOn = route;
      em.setFaults({ resetRate: 1, appliedBeforeFailure: 1, routes: [route] });
      child = startChild(namespace, em.url);
      await eventually(`the operator killed after ${route}`, () => (kills.includes(route) ? true : undefined), 60_000);
      await exited(child);
      if (route === 'POST /projects') {
        // The crash hit the window: Neon has the project, the object only its pending-create marker.
        const p = await kube.get<NeonObject>(typeOfKind('NeonProject'), { namespace, name: 'demo' });
        expect(p?.status?.['pendingCreate']).toBeDefined();
        expect(p?.status?.['projectId']).toBeUndefined();
      }
    }
    expect(kills).toEqual(creates);

    child = startChild(namespace, em.url);
    for (const [kind, name] of [['NeonProject', 'demo'], ['NeonBranch', 'dev'], ['NeonEndpoint', 'dev-rw'], ['NeonRole', 'app'], ['NeonDatabase', 'app']] as const) {
      await waitReady(suite, kind, name, 90_000);
    }
    const projects = em.state.projectsOf(em.accountOf(API_KEY));
    expect(projects).toHaveLength(1);
    const project = projects[0]!;
    const devs = [...project.branches.values()].filter((b) => b.name === 'dev');
    expect(devs).toHaveLength(1);
    const dev = devs[0]!;
    expect([...project.endpoints.values()].filter((e) => e.branchId === dev.id)).toHaveLength(1);
    expect(em.counters().applied['POST /projects/{project_id}/endpoints'] ?? 0).toBe(0);
    // Found after the kill as what the operator created, so deletion removes it.
    const devRw = await suite.kube.get<NeonObject>(typeOfKind('NeonEndpoint'), { namespace: suite.namespace, name: 'dev-rw' });
    expect(devRw?.status?.['origin']).toBe('Created');
    // And it says so: created with its branch, not adopted.
    const reasons = await eventually('NeonEndpoint dev-rw Created event', async () => {
      const events = await suite.kube.list<KubeObject & { reason?: string; regarding?: { name?: string } }>(coreResources.event, suite.namespace);
      const of = events.items.filter((e) => e.regarding?.name === 'dev-rw').map((e) => e.reason);
      return of.includes('Created') ? of : undefined;
    });
    expect(reasons).not.toContain('Adopted');
    expect(dev.databases.has('app')).toBe(true);
    // Each create was applied exactly once: by the run that was killed.
    for (const route of ALL_CREATES) expect(em.counters().applied[route], route).toBe(1);
    // Without stored passwords the lost ones had to be reset; with them, reveal was enough.
    const resets = em.counters().applied['POST /projects/{project_id}/branches/{branch_id}/roles/{role_name}/reset_password'] ?? 0;
    expect(resets).toBe(storePasswords ? 0 : 2);

    const secret = await getSecretData(suite, 'app-db');
    expect(secret?.['password']).toBe(dev.roles.get('app')?.password);
    const main = [...project.branches.values()].find((b) => b.isDefault);
    const projectSecret = await getSecretData(suite, 'demo-connection');
    expect(projectSecret?.['password']).toBe(main?.roles.get(projectSecret?.['username'] ?? '')?.password);
    expect(em.specViolations()).toEqual([]);
    // Secrets never reach the operator's logs (which it did write: info level).
    expect(output).toContain('operator started');
    expect(output).not.toContain(API_KEY);
    expect(output).not.toContain(dev.roles.get('app')!.password);

    // Graceful stop on SIGTERM.
    child.kill('SIGTERM');
    await exited(child);
    expect(child.exitCode).toBe(0);
  });
});
