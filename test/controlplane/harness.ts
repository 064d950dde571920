// A real Kubernetes control plane for tests and demos: etcd, kube-apiserver and kube-controller-manager as
// local processes on free loopback ports (what controller-runtime's envtest does, plus the controller manager so
// garbage collection, namespace deletion and ServiceAccounts work). RBAC is on; the admin authenticates with a
// client certificate in group system:masters. With E2E_USE_EXISTING_CLUSTER=1 it uses the cluster of KUBECONFIG
// (e.g. kind) instead and starts nothing.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { binaryPath, repoRoot } from './binaries.ts';
import {
  installCrds,
  mintServiceAccountKubeconfig,
  type ServiceAccountKubeconfig,
} from './kube-access.ts';
import { createPki, type Pki } from './pki.ts';
import {
  ManagedProcess,
  releaseTempDir,
  startWatchdog,
  tailFile,
  trackTempDir,
} from './processes.ts';

export interface ControlPlaneOptions {
  /** Use the cluster of KUBECONFIG (current context) instead of starting one. Default: E2E_USE_EXISTING_CLUSTER=1. */
  readonly useExistingCluster?: boolean;
  /** Where the processes' logs go. Default: .cache/controlplane/logs/<time>-<pid>/ (the last 10 runs are kept). */
  readonly logsDir?: string;
  /** How long startup may take before it fails with the logs' tails. Default 120 s. */
  readonly startTimeoutMs?: number;
  /** Extra kube-apiserver flags, e.g. `--feature-gates=…`. */
  readonly apiServerArgs?: readonly string[];
  /** Progress lines; default: stderr with a `[controlplane]` prefix. */
  readonly log?: (line: string) => void;
}

/** What a test worker needs to reach a control plane started elsewhere (serialisable, for vitest `provide`). */
export interface ControlPlaneInfo {
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly logsDir: string;
  /** A folder that lives as long as the control plane, for minted kubeconfigs and the like. */
  readonly workDir: string;
  /** True when this is an existing cluster (E2E_USE_EXISTING_CLUSTER), not processes the harness started. */
  readonly external: boolean;
}

/** A handle on a control plane: the admin KubeConfig and helpers; no way to stop it (see {@link ControlPlane}). */
export interface ControlPlaneClient extends ControlPlaneInfo {
  readonly kubeconfig: KubeConfig;
  /** Applies every YAML in a folder (or one file) and waits until each CRD in it is Established. */
  installCrds(dirOrFile: string): Promise<string[]>;
  /** A kubeconfig for an existing ServiceAccount, with a token from TokenRequest. */
  mintServiceAccountKubeconfig(namespace: string, name: string): Promise<ServiceAccountKubeconfig>;
  /** The last `lines` lines of each control-plane log, for a failure message. */
  logTails(lines?: number): string;
}

export interface ControlPlane extends ControlPlaneClient {
  /** Stops every process it started (SIGTERM, then SIGKILL) and removes its temp folder. Idempotent. */
  stop(): Promise<void>;
  /**
   * Kills one of its processes with `signal` (default SIGKILL, as a crashed node) and resolves once it has
   * exited. Local control planes only (an existing cluster throws).
   */
  kill(name: ControlPlaneProcess, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts one of its processes again with the same flags (same etcd data, ports and certificates), killing it
   * first if it still runs, and resolves once it is healthy again. Local control planes only.
   */
  restart(name: ControlPlaneProcess): Promise<void>;
  /** Whether a process it started is running (false once killed or exited). Always true for an existing cluster. */
  isRunning(name: ControlPlaneProcess): boolean;
}

const LOG_NAMES = ['etcd', 'kube-apiserver', 'kube-controller-manager'] as const;
export type ControlPlaneProcess = (typeof LOG_NAMES)[number];

/** Builds the client side of a control plane from its info (in a test worker, from the global setup). */
export function connectControlPlane(info: ControlPlaneInfo): ControlPlaneClient {
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromFile(info.kubeconfigPath);
  return {
    ...info,
    kubeconfig,
    installCrds: (dirOrFile) => installCrds(kubeconfig, dirOrFile),
    mintServiceAccountKubeconfig: (namespace, name) =>
      mintServiceAccountKubeconfig(kubeconfig, info.workDir, namespace, name),
    logTails: (lines = 40) => logTails(info.logsDir, lines),
  };
}

function logTails(logsDir: string, lines: number): string {
  return LOG_NAMES.map((name) => {
    const tail = tailFile(join(logsDir, `${name}.log`), lines);
    return tail ? `----- ${name}.log (last ${lines} lines) -----\n${tail}` : '';
  })
    .filter(Boolean)
    .join('\n');
}

/** Picks `count` distinct free TCP ports on 127.0.0.1 (held open together so none is picked twice). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<Server>((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve(s));
      }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

interface TlsClient {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly insecure?: boolean;
}

/** GET over HTTPS (or HTTP); resolves to the status code and body, or undefined while nothing listens. */
function get(url: string, tls: TlsClient): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = request(
      url,
      { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: !tls.insecure, timeout: 5_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve(undefined));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

async function getHttp(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

/** Polls `check` until it returns true; fails early if `proc` exits, and at `deadline`. */
async function waitFor(
  what: string,
  proc: ManagedProcess,
  deadline: number,
  check: () => Promise<boolean>,
): Promise<void> {
  for (;;) {
    if (await check()) return;
    const exit = proc.exitStatus;
    if (exit !== undefined) throw new Error(`${proc.name} stopped (${exit}) before ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function kubeconfigYaml(server: string, pki: { ca: Buffer; cert: Buffer; key: Buffer }, user: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': pki.ca.toString('base64') } }],
    users: [
      {
        name: user,
        user: {
          'client-certificate-data': pki.cert.toString('base64'),
          'client-key-data': pki.key.toString('base64'),
        },
      },
    ],
    contexts: [{ name: 'test', context: { cluster: 'test', user } }],
    'current-context': 'test',
  });
}

function defaultLogsDir(): string {
  const root = join(repoRoot, '.cache', 'controlplane', 'logs');
  mkdirSync(root, { recursive: true });
  // Keep the logs of the last few runs for diagnosis; older ones go.
  const old = readdirSync(root).sort().slice(0, -9);
  for (const name of old) rmSync(join(root, name), { recursive: true, force: true });
  const stamp = new Date().toISOString().replaceAll(':', '').replace(/\..*/, '');
  return join(root, `${stamp}-${process.pid}`);
}

/**
 * Starts etcd, kube-apiserver and kube-controller-manager (or connects to an existing cluster) and resolves once
 * the API server is ready (/readyz) and the controller manager is healthy. On failure everything started is
 * stopped and the error carries the logs' tails. Always call `stop()` (the exit handlers are a safety net).
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`[controlplane] ${line}\n`));
  const useExisting = opts.useExistingCluster ?? process.env['E2E_USE_EXISTING_CLUSTER'] === '1';
  const newWorkDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'neon-operator-cp-'));
    trackTempDir(dir);
    return dir;
  };
  if (useExisting) return connectExisting(newWorkDir(), log);
  // The free ports are picked before the processes bind them; if another process took one in between, try
  // again with new ports (a second collision in a row would be a real problem, so only one retry).
  try {
    return await startLocal(newWorkDir(), opts, log);
  } catch (err) {
    if (!(err instanceof Error) || !/address already in use/.test(err.message)) throw err;
    log('a port was taken between choosing and binding it; starting again with new ports');
    return startLocal(newWorkDir(), opts, log);
  }
}

async function connectExisting(workDir: string, log: (line: string) => void): Promise<ControlPlane> {
  const source = new KubeConfig();
  source.loadFromDefault();
  const cluster = source.getCurrentCluster();
  if (cluster === null) throw new Error('E2E_USE_EXISTING_CLUSTER=1 but KUBECONFIG has no current cluster');
  // A private copy of the current context, so tests never depend on (or change) the user's file.
  const kubeconfigPath = join(workDir, 'admin.kubeconfig');
  writeFileSync(kubeconfigPath, source.exportConfig(), { mode: 0o600 });
  const logsDir = join(workDir, 'logs');
  mkdirSync(logsDir);
  log(`using the existing cluster ${cluster.server} (context ${source.getCurrentContext()})`);
  const client = connectControlPlane({ kubeconfigPath, server: cluster.server, logsDir, workDir, external: true });
  let stopped = false;
  const notLocal = (): Promise<never> =>
    Promise.reject(new Error('an existing cluster (E2E_USE_EXISTING_CLUSTER) has no processes to kill or restart'));
  return {
    ...client,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      releaseTempDir(workDir);
    },
    kill: notLocal,
    restart: notLocal,
    isRunning: () => true,
  };
}

async function startLocal(
  workDir: string,
  opts: ControlPlaneOptions,
  log: (line: string) => void,
): Promise<ControlPlane> {
  const started = Date.now();
  const deadline = started + (opts.startTimeoutMs ?? 120_000);
  const logsDir = opts.logsDir ?? defaultLogsDir();
  mkdirSync(logsDir, { recursive: true });
  // The running process of each name, and how it was started (flags and health check), so it can be restarted.
  const processes = new Map<ControlPlaneProcess, ManagedProcess>();
  const launched = new Map<ControlPlaneProcess, { args: readonly string[]; healthy: () => Promise<boolean> }>();
  const pgidFile = join(workDir, 'process-groups');
  const stopWatchdog = startWatchdog(pgidFile, workDir);
  const launch = (name: ControlPlaneProcess, args: readonly string[], healthy: () => Promise<boolean>): ManagedProcess => {
    const proc = new ManagedProcess(name, binaryPath(name), args, join(logsDir, `${name}.log`), workDir);
    processes.set(name, proc);
    launched.set(name, { args, healthy });
    writeFileSync(pgidFile, [...processes.values()].map((p) => String(p.pid)).join('\n') + '\n');
    return proc;
  };
  const current = (name: ControlPlaneProcess): ManagedProcess => {
    const proc = processes.get(name);
    if (!proc) throw new Error(`${name} was never started`);
    return proc;
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Reverse order: the controller manager and API server go before the etcd they depend on.
    for (const name of [...LOG_NAMES].reverse()) await processes.get(name)?.stop();
    stopWatchdog();
    releaseTempDir(workDir);
  };
  const kill = async (name: ControlPlaneProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    await current(name).kill(signal);
    log(`${name} killed (${signal})`);
  };
  const restart = async (name: ControlPlaneProcess): Promise<void> => {
    if (stopped) throw new Error('the control plane is stopped');
    await current(name).kill();
    const how = launched.get(name);
    if (!how) throw new Error(`${name} was never started`);
    const t0 = Date.now();
    const proc = launch(name, how.args, how.healthy);
    await waitFor(`${name} healthy again`, proc, t0 + (opts.startTimeoutMs ?? 120_000), how.healthy);
    log(`${name} restarted (${String(Date.now() - t0)} ms)`);
  };
  const isRunning = (name: ControlPlaneProcess): boolean => processes.get(name)?.exitStatus === undefined;

  try {
    // Resolve all binaries first so a missing one fails before anything starts.
    for (const name of LOG_NAMES) binaryPath(name);
    const pkiDir = join(workDir, 'pki');
    mkdirSync(pkiDir);
    const pki: Pki = await createPki(pkiDir);
    const [ca, adminCert, adminKey, kcmCert, kcmKey] = await Promise.all(
      [pki.caCert, pki.adminCert, pki.adminKey, pki.controllerManagerCert, pki.controllerManagerKey].map((p) =>
        readFile(p),
      ),
    );
    if (!ca || !adminCert || !adminKey || !kcmCert || !kcmKey) throw new Error('PKI files missing');
    const [etcdPort, etcdPeerPort, apiPort, kcmPort] = await freePorts(4);
    const server = `https://127.0.0.1:${String(apiPort)}`;

    const etcdUrl = `http://127.0.0.1:${String(etcdPort)}`;
    const peerUrl = `http://127.0.0.1:${String(etcdPeerPort)}`;
    const etcdHealthy = async (): Promise<boolean> => {
      const res = await getHttp(`${etcdUrl}/health`);
      return res?.status === 200 && res.body.includes('"true"');
    };
    const etcd = launch('etcd', [
      '--name=neon-operator-test',
      `--data-dir=${join(workDir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=neon-operator-test=${peerUrl}`,
      // Test data is thrown away: skipping fsync makes every write several times faster.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ], etcdHealthy);
    await waitFor('etcd /health', etcd, deadline, etcdHealthy);
    log(`etcd ready on ${etcdUrl} (${String(Date.now() - started)} ms)`);

    const tls: TlsClient = { ca, cert: adminCert, key: adminKey };
    const apiServerReady = async (): Promise<boolean> => (await get(`${server}/readyz`, tls))?.status === 200;
    const apiserver = launch('kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      // The endpoint reconciler refuses a loopback address, and nothing in the tests routes to the service.
      '--endpoint-reconciler-type=none',
      `--secure-port=${String(apiPort)}`,
      `--cert-dir=${join(workDir, 'apiserver-certs')}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      // Published in kube-system/extension-apiserver-authentication, which the controller manager's delegated
      // authentication reads; without it, it logs an error every few seconds. No front proxy uses it.
      `--requestheader-client-ca-file=${pki.caCert}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      '--authorization-mode=RBAC',
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--profiling=false',
      ...(opts.apiServerArgs ?? []),
    ], apiServerReady);
    await waitFor('kube-apiserver /readyz', apiserver, deadline, apiServerReady);
    log(`kube-apiserver ready on ${server} (${String(Date.now() - started)} ms)`);

    const kubeconfigPath = join(workDir, 'admin.kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfigYaml(server, { ca, cert: adminCert, key: adminKey }, 'admin'), {
      mode: 0o600,
    });
    const kcmKubeconfig = join(workDir, 'kube-controller-manager.kubeconfig');
    writeFileSync(
      kcmKubeconfig,
      kubeconfigYaml(server, { ca, cert: kcmCert, key: kcmKey }, 'system:kube-controller-manager'),
      { mode: 0o600 },
    );
    const kcmHealthy = async (): Promise<boolean> =>
      (await get(`https://127.0.0.1:${String(kcmPort)}/healthz`, { insecure: true }))?.status === 200;
    const kcm = launch('kube-controller-manager', [
      `--kubeconfig=${kcmKubeconfig}`,
      `--authentication-kubeconfig=${kcmKubeconfig}`,
      `--authorization-kubeconfig=${kcmKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${String(kcmPort)}`,
      `--cert-dir=${join(workDir, 'kcm-certs')}`,
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--cluster-signing-cert-file=${pki.caCert}`,
      `--cluster-signing-key-file=${pki.caKey}`,
      '--use-service-account-credentials=true',
      '--controllers=*',
      // One instance only: no need to wait for a leader lease.
      '--leader-elect=false',
      '--profiling=false',
    ], kcmHealthy);
    await waitFor('kube-controller-manager /healthz', kcm, deadline, kcmHealthy);
    log(`kube-controller-manager healthy (${String(Date.now() - started)} ms); logs in ${logsDir}`);

    const client = connectControlPlane({ kubeconfigPath, server, logsDir, workDir, external: false });
    return { ...client, stop, kill, restart, isRunning };
  } catch (err) {
    const tails = logTails(logsDir, 40);
    await stop();
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`control plane failed to start: ${message}\n${tails}`, { cause: err });
  }
}
