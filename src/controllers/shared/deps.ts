import type { Logger } from 'pino';
import type { Clock } from '../../clock.ts';
import type { EventRecorder, InformerSource, KubeClient } from '../../runtime/index.ts';
import type { NeonAccounts } from './neon-accounts.ts';
import type { AllowedProject } from './tenancy.ts';

/** What every controller of the operator is built from. */
export interface ControllerDeps {
  accounts: NeonAccounts;
  kube: KubeClient;
  /** Shared informers: controllers read referenced objects from their stores. */
  informers: InformerSource;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
  /** Drift repair: each object is compared with Neon again after this long. */
  resyncPeriodMs: number;
  /** Spread of the resync as a fraction of the period (0.1 → ±10 %). */
  resyncJitter: number;
  /** Objects of one kind reconciled at once. */
  concurrency: number;
  /** Projects namespaces may reach with the operator's own key beyond those their NeonProjects created (tenancy.ts). */
  allowedProjects: readonly AllowedProject[];
  /** Safety requeue of an object waiting for a dependency (the dependency's changes requeue it sooner). */
  waitingRequeueMs: number;
}
