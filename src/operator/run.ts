/**
 * Wiring: from a parsed configuration to a running operator (Kubernetes client, the one Neon scheduler,
 * the client cache per API key, the Manager with the five controllers). `main.ts` calls it for
 * `npm start`; end-to-end tests call it to run the operator in-process.
 */
// By path, not the package index (every generated API and model); see kube-client.ts and process-setup.ts.
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { pino, type Logger } from 'pino';
import { systemClock, type Clock } from '../clock.ts';
import { NeonAccounts, registerControllers, type RegisteredControllers } from '../controllers/index.ts';
import { NeonScheduler, pinoRedactPaths, type NeonSchedulerOptions } from '../neon/index.ts';
import { OperatorMetrics, startObservabilityServer, type ObservabilityServer } from '../observability/index.ts';
import { coreResources, httpTransport, keyOf, KubeClient, Manager, parkWhile, type SecretObject } from '../runtime/index.ts';
import { OPERATOR_VERSION } from '../version.ts';
import { ViewCheckpoint } from './view-checkpoint.ts';
import type { OperatorConfig } from './config.ts';

export interface OperatorOverrides {
  clock?: Clock;
  log?: Logger;
  /** A kubeconfig already loaded (tests); otherwise from `config.kubeconfig` or the defaults. */
  kubeConfig?: KubeConfig;
  scheduler?: NeonSchedulerOptions;
}

export interface RunningOperator {
  manager: Manager;
  scheduler: NeonScheduler;
  accounts: NeonAccounts;
  controllers: RegisteredControllers;
  log: Logger;
  metrics: OperatorMetrics;
  /** The /metrics, /healthz and /readyz server; undefined with metricsPort 0. */
  observability: ObservabilityServer | undefined;
  /** Resolves when the manager has stopped (rejects with LeadershipLostError when the Lease was lost). */
  done: Promise<void>;
  /** Graceful stop: drains reconciles, stops watches, releases the Lease, closes Neon connections. */
  stop(): Promise<void>;
}

export function createLogger(level: OperatorConfig['logLevel']): Logger {
  return pino({ level, base: { component: 'neon-operator' }, redact: { paths: pinoRedactPaths, censor: '***' } });
}

export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

async function readApiKeySecret(kube: KubeClient, ref: NonNullable<OperatorConfig['apiKeySecret']>): Promise<string> {
  const secret = await kube.get<SecretObject>(coreResources.secret, { namespace: ref.namespace, name: ref.name });
  const encoded = secret?.data?.[ref.key];
  if (encoded === undefined) throw new Error(`--api-key-secret: Secret ${ref.namespace}/${ref.name} has no key "${ref.key}"`);
  const key = Buffer.from(encoded, 'base64').toString('utf8').trim();
  if (!key) throw new Error(`--api-key-secret: key "${ref.key}" of Secret ${ref.namespace}/${ref.name} is empty`);
  return key;
}

/** Builds and starts the operator. Resolves once it runs (controllers start when caches have synced). */
/**
 * How long one answer to a read of a Neon project serves the reconciles that ask the same within that time
 * (README, "How fresh the operator's view of Neon is"). Any change the operator makes to the project, and the
 * end of operations it waits for, make it read again at once.
 */
const NEON_READ_FRESH_MS = 1_000;

/** How often the leader writes the project view's checkpoint when it changed (see view-checkpoint.ts). */
const VIEW_CHECKPOINT_INTERVAL_MS = 30_000;

/**
 * How long the project view serves a list: `--neon-view-max-age`, at most 9/10 of the resync period, so that
 * a change made outside the operator is found, and its objects requeued, within one resync period.
 */
export function viewMaxAgeMs(config: Pick<OperatorConfig, 'neonViewMaxAgeMs' | 'resyncPeriodMs'>): number {
  return Math.min(config.neonViewMaxAgeMs, Math.floor(config.resyncPeriodMs * 0.9));
}

/** Requeues every object whose status names the project (the project itself included). */
function requeueProject(controllers: RegisteredControllers, projectId: string): void {
  for (const controller of Object.values(controllers)) {
    for (const obj of controller.informer.list()) {
      if ((obj as { status?: { projectId?: unknown } }).status?.projectId === projectId) controller.enqueue(keyOf(obj));
    }
  }
}

export async function startOperator(config: OperatorConfig, overrides: OperatorOverrides = {}): Promise<RunningOperator> {
  const clock = overrides.clock ?? systemClock;
  const log = overrides.log ?? createLogger(config.logLevel);
  const kubeConfig = overrides.kubeConfig ?? loadKubeConfig(config.kubeconfig);
  const kube = new KubeClient(httpTransport(kubeConfig, { userAgent: `neon-operator/${OPERATOR_VERSION}` }));
  const scheduler = new NeonScheduler({ clock, logger: log.child({ component: 'neon-scheduler' }), parkWhile, ...overrides.scheduler });
  const defaultApiKey = config.apiKeySecret ? await readApiKeySecret(kube, config.apiKeySecret) : config.neonApiKey;
  // Bound once the controllers exist: a change found in Neon requeues the objects of that project.
  let projectChanged: (projectId: string) => void = () => undefined;
  let leading = (): boolean => false;
  const checkpoint = new ViewCheckpoint({
    kube,
    namespace: config.leaderElection.namespace,
    name: `${config.leaderElection.name}-neon-view`,
    clock,
    log,
    intervalMs: VIEW_CHECKPOINT_INTERVAL_MS,
    leading: () => leading(),
  });
  await checkpoint.load();
  const accounts = new NeonAccounts({ scheduler, kube, baseUrl: config.neonApiUrl, defaultApiKey, clock, log, readFreshMs: NEON_READ_FRESH_MS,
    viewMaxAgeMs: viewMaxAgeMs(config),
    onProjectChanged: (projectId) => projectChanged(projectId),
    onClient: (client) => checkpoint.attach(client),
  });
  for (const client of accounts.clients()) checkpoint.attach(client);
  const metrics = new OperatorMetrics();
  metrics.bindScheduler(scheduler);
  const manager = new Manager({
    onReconciled: metrics.onReconciled,
    client: kube,
    log,
    clock,
    namespaces: config.namespaces.length > 0 ? config.namespaces : undefined,
    leaderElection: config.leaderElection.enabled
      ? { namespace: config.leaderElection.namespace, name: config.leaderElection.name }
      : undefined,
    shutdownDeadlineMs: config.shutdownTimeoutMs,
    // What the last reconciles learnt is written for the next leader while this process still holds the Lease.
    beforeRelease: () => checkpoint.stop(true),
    eventReportingController: 'neon-operator.dev/operator',
  });
  const controllers = registerControllers(manager, {
    accounts,
    kube,
    informers: manager,
    events: manager.events,
    clock,
    log,
    resyncPeriodMs: config.resyncPeriodMs,
    resyncJitter: config.resyncJitter,
    concurrency: config.concurrency,
    waitingRequeueMs: config.waitingRequeueMs,
    allowedProjects: config.allowedProjects,
  });
  projectChanged = (projectId) => {
    log.debug({ projectId }, 'Neon project changed outside the operator: requeueing its objects');
    requeueProject(controllers, projectId);
  };
  leading = () => manager.isLeader;
  metrics.bindManager(manager);
  const done = manager.run().finally(() => checkpoint.stop(false));
  checkpoint.start();
  const observability =
    config.metricsPort > 0
      ? await startObservabilityServer({
          port: config.metricsPort,
          registry: metrics.registry,
          isReady: () => manager.ready(),
          isHealthy: () => manager.healthy(),
        })
      : undefined;
  log.info(
    {
      version: OPERATOR_VERSION,
      namespaces: config.namespaces.length > 0 ? config.namespaces : 'all',
      neonApiUrl: config.neonApiUrl,
      resyncPeriodMs: config.resyncPeriodMs,
      leaderElection: config.leaderElection.enabled,
    },
    'operator started',
  );
  let stopping: Promise<void> | undefined;
  return {
    manager,
    scheduler,
    accounts,
    controllers,
    log,
    metrics,
    observability,
    done,
    stop: () => {
      stopping ??= (async () => {
        await manager.stop();
        await checkpoint.stop(false);
        // Reconciles cut off at the shutdown deadline may still have calls queued or operation waits
        // polling; without this they would go on sending to Neon (on closed connections) after stop.
        scheduler.close();
        await observability?.close();
        await accounts.close();
      })();
      return stopping;
    },
  };
}
