// The operator as a child process (`node src/main.ts`), killed with SIGKILL the moment Neon has answered a
// create call and before it could record the result; restarted each time. Nothing is created twice, every
// object becomes Ready, and the Secrets hold the passwords Neon has.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useControlPlane } from '../../controlplane/e2e.ts';
import { startEmulator, type EmulatorHandle, type ResponseInfo } from '../../emulator/server.ts';
import { coreResources, httpTransport, KubeClient } from '../../../src/runtime/index.ts';
import {
  API_KEY,
  eventually,
  exampleObjects,
  FAST_DURATIONS,
  getSecretData,
  repoRoot,
  typeOfKind,
  waitReady,
  type NeonObject,
  type Suite,
} from './fixture.ts';

const node = resolve(repoRoot, 'node_modules', '.bin', 'node');

describe('operator: SIGKILL right after a create call', () => {
  const cp = useControlPlane();
  let emulator: EmulatorHandle;
  let child: ChildProcess | undefined;
  let killOn: string | undefined;
  const kills: string[] = [];
  let suite: Suite;
  let stderr = '';

  const onResponse = (info: ResponseInfo): void => {
    if (!child || killOn === undefined) return;
    // The create was applied in Neon and the emulator is about to drop the answer: the operator dies
    // first, before it could see or record anything (onResponse runs before the socket is destroyed).
    if (`${info.method} ${info.route ?? ''}` === killOn && info.status === 0) {
      child.kill('SIGKILL');
      kills.push(killOn);
      killOn = undefined;
      emulator.setFaults({});
    }
  };

  function startChild(namespace: string): ChildProcess {
    const proc = spawn(
      node,
      [
        'src/main.ts',
        `--kubeconfig=${cp.kubeconfigPath}`,
        `--namespaces=${namespace}`,
        `--neon-api-url=${emulator.url}`,
        '--metrics-port=0',
        '--log-level=warn',
        '--resync-period=1m',
        '--waiting-requeue=5s',
      ],
      { cwd: repoRoot, env: { ...process.env, NEON_API_KEY: API_KEY }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    return proc;
  }

  const exited = (proc: ChildProcess) => new Promise<void>((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.once('exit', () => r())));

  beforeAll(async () => {
    await cp.installCrds(resolve(repoRoot, 'crds'));
    emulator = await startEmulator({ seed: 23, durations: FAST_DURATIONS, validateResponses: true, onResponse });
    const kube = new KubeClient(httpTransport(cp.kubeconfig, { userAgent: 'operator-e2e' }));
    const namespace = `op-crash-${Date.now().toString(36)}`;
    await kube.create(coreResources.namespace, { metadata: { name: namespace } });
    suite = { namespace, kube, emulator, operator: undefined, startOperator: () => Promise.reject(new Error('child only')), stopOperator: async () => undefined, teardown: async () => undefined };
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited(child);
    }
    await emulator?.stop();
  });

  it('no duplicate in Neon, every object Ready, the Secret password valid', async () => {
    const creates = [
      'POST /projects',
      'POST /projects/{project_id}/branches',
      'POST /projects/{project_id}/endpoints',
      'POST /projects/{project_id}/branches/{branch_id}/roles',
      'POST /projects/{project_id}/branches/{branch_id}/databases',
    ];
    for (const obj of await exampleObjects(suite.namespace)) await suite.kube.create(typeOfKind(obj.kind), obj);

    for (const route of creates) {
      killOn = route;
      emulator.setFaults({ resetRate: 1, appliedBeforeFailure: 1, routes: [route] });
      child = startChild(suite.namespace);
      await eventually(`the operator killed after ${route}`, () => (kills.includes(route) ? true : undefined), 60_000);
      await exited(child);
      if (route === 'POST /projects') {
        // The crash hit the window: Neon has the project, the object only its pending-create marker.
        const p = await suite.kube.get<NeonObject>(typeOfKind('NeonProject'), { namespace: suite.namespace, name: 'demo' });
        expect(p?.status?.['pendingCreate']).toBeDefined();
        expect(p?.status?.['projectId']).toBeUndefined();
      }
    }
    expect(kills).toEqual(creates);

    child = startChild(suite.namespace);
    for (const [kind, name] of [['NeonProject', 'demo'], ['NeonBranch', 'dev'], ['NeonEndpoint', 'dev-rw'], ['NeonRole', 'app'], ['NeonDatabase', 'app']] as const) {
      await waitReady(suite, kind, name, 90_000);
    }
    const projects = emulator.state.projectsOf(emulator.accountOf(API_KEY));
    expect(projects).toHaveLength(1);
    const project = projects[0]!;
    const devs = [...project.branches.values()].filter((b) => b.name === 'dev');
    expect(devs).toHaveLength(1);
    const dev = devs[0]!;
    expect([...project.endpoints.values()].filter((e) => e.branchId === dev.id)).toHaveLength(1);
    expect([...dev.roles.keys()].filter((r) => r === 'app')).toHaveLength(1);
    expect(dev.databases.has('app')).toBe(true);
    // Each create was applied exactly once: by the run that was killed.
    for (const route of creates) expect(emulator.counters().applied[route], route).toBe(1);

    const secret = await getSecretData(suite, 'app-db');
    expect(secret?.['password']).toBe(dev.roles.get('app')?.password);
    const main = [...project.branches.values()].find((b) => b.isDefault);
    const projectSecret = await getSecretData(suite, 'demo-connection');
    expect(projectSecret?.['password']).toBe(main?.roles.get(projectSecret?.['username'] ?? '')?.password);
    expect(emulator.specViolations()).toEqual([]);
    // Secrets never reach the operator's logs.
    expect(stderr).not.toContain(API_KEY);
    expect(stderr).not.toContain(dev.roles.get('app')!.password);

    // Graceful stop on SIGTERM.
    child.kill('SIGTERM');
    await exited(child);
    expect(child.exitCode).toBe(0);
  });
});
