// Shared set-up of the operator's end-to-end suites: the Neon emulator (fast operations, every answer and
// every request the operator sends checked against Neon's OpenAPI spec), the CRDs on the run's control plane, a namespace per suite, and
// the operator running in-process, watching only that namespace.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { readManifests } from '../../controlplane/kube-access.ts';
import { useControlPlane } from '../../controlplane/e2e.ts';
import { startEmulator, type EmulatorHandle, type EmulatorOptions } from '../../emulator/server.ts';
import { resourceTypes } from '../../../src/controllers/index.ts';
import type { OperatorConfig } from '../../../src/operator/config.ts';
import { startOperator, type RunningOperator } from '../../../src/operator/run.ts';
import { coreResources, httpTransport, KubeClient, type KubeObject, type ResourceType, type SecretObject } from '../../../src/runtime/index.ts';

export const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
export const API_KEY = 'e2e-operator-key-0123456789';

/** Operations finish in tens of milliseconds, so a whole suite takes seconds of Neon time. */
export const FAST_DURATIONS = {
  create_timeline: 40,
  create_branch: 20,
  start_compute: 40,
  suspend_compute: 20,
  apply_config: 10,
  delete_timeline: 20,
};

export const kindTypes: Record<string, ResourceType> = {
  NeonProject: resourceTypes.project,
  NeonBranch: resourceTypes.branch,
  NeonEndpoint: resourceTypes.endpoint,
  NeonRole: resourceTypes.role,
  NeonDatabase: resourceTypes.database,
};

export function operatorConfig(namespace: string, emulatorUrl: string, overrides: Partial<OperatorConfig> = {}): OperatorConfig {
  return {
    kubeconfig: undefined,
    namespaces: [namespace],
    resyncPeriodMs: 10 * 60_000,
    resyncJitter: 0.1,
    neonViewMaxAgeMs: 5 * 60_000,
    logLevel: 'warn',
    neonApiUrl: emulatorUrl,
    neonApiKey: API_KEY,
    apiKeySecret: undefined,
    concurrency: 4,
    allowedProjects: [],
    // Per suite: the Lease name also names the project view's checkpoint ConfigMap, and suites share 'default'.
    leaderElection: { enabled: false, namespace: 'default', name: `neon-operator-leader-${namespace}` },
    metricsPort: 0,
    waitingRequeueMs: 30_000,
    shutdownTimeoutMs: 5_000,
    ...overrides,
  };
}

export interface Suite {
  namespace: string;
  kube: KubeClient;
  emulator: EmulatorHandle;
  operator: RunningOperator | undefined;
  /** `log` replaces the default logger (silent unless E2E_OPERATOR_LOG names a level), e.g. to read what it logs. */
  startOperator(overrides?: Partial<OperatorConfig>, log?: Logger): Promise<RunningOperator>;
  stopOperator(): Promise<void>;
  teardown(): Promise<void>;
}

/** Starts the emulator, installs the CRDs and creates a fresh namespace. The operator is started separately. */
export async function setUpSuite(prefix: string, emulatorOptions: EmulatorOptions = {}): Promise<Suite> {
  const cp = useControlPlane();
  await cp.installCrds(resolve(repoRoot, 'crds'));
  const kube = new KubeClient(httpTransport(cp.kubeconfig, { userAgent: 'operator-e2e' }));
  const namespace = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kube.create(coreResources.namespace, { metadata: { name: namespace } });
  const emulator = await startEmulator({ seed: 11, durations: FAST_DURATIONS, validateResponses: true, validateRequests: true, ...emulatorOptions });
  const suite: Suite = {
    namespace,
    kube,
    emulator,
    operator: undefined,
    async startOperator(overrides = {}, log = pino({ level: process.env['E2E_OPERATOR_LOG'] ?? 'silent' })) {
      suite.operator = await startOperator(operatorConfig(namespace, emulator.url, overrides), {
        kubeConfig: cp.kubeconfig,
        log,
        scheduler: { operationPoll: { initialMs: 30, maxMs: 200, factor: 1.5 } },
      });
      return suite.operator;
    },
    async stopOperator() {
      await suite.operator?.stop();
      suite.operator = undefined;
    },
    async teardown() {
      await suite.stopOperator();
      await emulator.stop();
      // The emulator fails stop() on its own off-spec answers; an off-spec request is the operator's.
      const sent = emulator.specViolations().filter((v) => v.kind === 'request');
      if (sent.length > 0) {
        const lines = sent.slice(0, 10).map((v) => `${v.method} ${v.route}: ${v.errors.join('; ')}`);
        throw new Error(`the operator sent ${sent.length} requests that break Neon's OpenAPI spec:\n${lines.join('\n')}`);
      }
    },
  };
  return suite;
}

/** Polls `check` until it returns a value (not undefined) or the time is up; the error says what was awaited. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000, everyMs = 150): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError instanceof Error ? ` (last error: ${lastError.message})` : ''}`);
    }
    await sleep(everyMs);
  }
}

export interface NeonObject extends KubeObject {
  spec?: Record<string, unknown>;
  status?: {
    conditions?: Array<{ type: string; status: string; reason: string; message: string; observedGeneration?: number }>;
    [k: string]: unknown;
  };
}

export function readyCondition(obj: NeonObject | undefined) {
  return obj?.status?.conditions?.find((c) => c.type === 'Ready');
}

/** The example manifests, in the test namespace. */
export async function exampleObjects(namespace: string): Promise<NeonObject[]> {
  const docs = await readManifests(resolve(repoRoot, 'examples', 'basic'));
  return docs.map((d) => ({ ...(d as NeonObject), metadata: { ...(d as NeonObject).metadata, namespace } }));
}

export function typeOfKind(kind: string | undefined): ResourceType {
  const type = kind ? kindTypes[kind] : undefined;
  if (!type) throw new Error(`not a kind of this operator: ${kind}`);
  return type;
}

/**
 * Waits until the object is Ready=True and Synced=True for its current generation (usable, and its spec applied:
 * a failed pass keeps a working object Ready for the new generation, with Synced=False); returns it.
 */
export function waitReady(suite: Suite, kind: string, name: string, timeoutMs = 60_000): Promise<NeonObject> {
  return eventually(`${kind} ${name} Ready and Synced`, async () => {
    const obj = await suite.kube.get<NeonObject>(typeOfKind(kind), { namespace: suite.namespace, name });
    const generation = obj?.metadata?.generation;
    const ready = readyCondition(obj);
    const synced = obj?.status?.conditions?.find((c) => c.type === 'Synced');
    return ready?.status === 'True' && ready.observedGeneration === generation && synced?.status === 'True' && synced.observedGeneration === generation ? obj : undefined;
  }, timeoutMs);
}

export async function getSecretData(suite: Suite, name: string): Promise<Record<string, string> | undefined> {
  const secret = await suite.kube.get<SecretObject>(coreResources.secret, { namespace: suite.namespace, name });
  if (!secret?.data) return undefined;
  return Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/** The emulator's projects of the test's API key. */
export function projectsInNeon(suite: Suite) {
  return suite.emulator.state.projectsOf(suite.emulator.accountOf(API_KEY));
}

/** Waits until the operator has sent the emulator nothing for a second: its passes in flight are over. */
export async function waitIdle(suite: Suite): Promise<void> {
  let seen = -1;
  await eventually('the operator idle', () => {
    const now = suite.emulator.requests.length;
    const idle = now === seen;
    seen = now;
    return idle ? true : undefined;
  }, 60_000, 1_000);
}

/** Requests the operator sent, as `METHOD /template` with status, from the emulator's log (from index `from`). */
export function requestsSince(suite: Suite, from: number): Array<{ route: string; status: number; method: string }> {
  return suite.emulator.requests.slice(from).map((r) => ({ route: r.route ?? `${r.method} ?`, status: r.status, method: r.method }));
}
