/**
 * NeonScheduler: the ONE place in the process through which every Neon API call goes.
 *
 * - A RateBudget per account (API key, or an explicit account name shared by several keys of one Neon
 *   account): Neon's limits are per account, so that is the unit of the budget.
 * - A ProjectLane per (account, project): mutations on a project run one at a time and only when the
 *   project has no operation in flight (known from the operations our mutations returned, and after a
 *   423 or an unknown outcome from polling the project's operations), so 423 is the exception. Reads are
 *   never gated by a lane. Calls without a project (create/list projects) use the account's own lane.
 * - Round-robin across lanes with ready work, so one busy project cannot starve the others.
 * - Retries only what is safe (see `run`), with bounded, jittered backoff.
 * - Operation waits are shared per lane: one `GET /projects/{id}/operations` per poll round answers every
 *   waiter of that project, and the first round is timed for when the operations are expected to end.
 * - Observable through `stats()` and `onEvent()`; clock, randomness and limits are injected.
 */
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../clock.ts';
import {
  LockedError,
  NeonApiError,
  OperationFailedError,
  OutcomeUnknownError,
  RateLimitedError,
  ServerError,
  TransportError,
} from './errors.ts';
import {
  fullJitterBackoff,
  neonRateLimits,
  RateBudget,
  type BackoffPolicy,
  type RateBudgetOptions,
  type RateLimits,
  type RateSlot,
} from './rate-budget.ts';
import { inFlightStatuses, successStatuses, type Operation, type OperationsListResponse } from './schemas.ts';

export type CallKind = 'read' | 'mutation';

/** One attempt's successful answer, as the client hands it back to the scheduler. */
export interface AttemptResult<T> {
  value: T;
  status: number;
  requestId: string;
  /** Operations the mutation started; the lane waits for them before the next mutation. */
  operations?: readonly Operation[];
  /** The project the call turned out to concern (create project learns it from the answer). */
  projectId?: string;
}

export interface CallSpec<T> {
  /** Budget key: the account this API key belongs to. */
  account: string;
  /** The Neon project this call concerns; undefined for account-level calls (create/list projects). */
  projectId?: string | undefined;
  kind: CallKind;
  method: string;
  /** Route template, e.g. `/projects/{project_id}/branches`. */
  route: string;
  /** Performs one HTTP attempt. Throws a NeonApiError (never a raw error) on failure. */
  attempt: (attempt: number) => Promise<AttemptResult<T>>;
  signal?: AbortSignal | undefined;
}

/** How the scheduler reads a project's operations; provided by the client that owns the account's key. */
export interface OperationsSource {
  listOperations(projectId: string, options: { limit: number; cursor?: string }): Promise<OperationsListResponse>;
  getOperation(projectId: string, operationId: string): Promise<Operation>;
}

export interface OperationPollPolicy {
  /**
   * Delay before the first poll round of a waiting streak, in ms, when the operations' expected end is
   * unknown (an action not yet seen to finish, or an operation this process did not start).
   */
  initialMs: number;
  /** Delay of the first round after the expected end has passed with operations still running, in ms. */
  overdueMs: number;
  /** Upper bound of the delay between rounds, in ms. */
  maxMs: number;
  /** Growth of the delay from one round to the next while waiters remain. */
  factor: number;
  /**
   * Least time between two poll rounds of a project whose waiters' operations are expected to have ended, in
   * ms: the waits that end meanwhile are answered by one round. The project's next mutation does not wait for
   * it (see `probe`); only the callers that asked how their operations ended do.
   */
  batchMs: number;
  /**
   * The same while the project has mutations queued: it is busy with them anyway, and the account's calls are
   * worth more as mutations than as polls. A round is due at once when the queue empties (batchMs applies then).
   */
  busyBatchMs: number;
  /**
   * Send a project's next mutation as soon as its known operations are expected to have ended (their actions'
   * learned durations), instead of polling first. Neon accepts a mutation only when no conflicting operation
   * runs, so acceptance also says those operations ended; a 423 makes the lane poll before trying again.
   */
  probe: boolean;
  /** Operations per page requested from `GET /projects/{id}/operations` (1–1000). */
  pageSize: number;
  /** Pages read per round at most when a waited operation is not on the first page. */
  maxPages: number;
}

export interface RetryPolicy {
  /** Attempts for retryable failures (GETs on 5xx/transport, 503, unsent requests). */
  maxAttempts: number;
  /** Attempts while Neon keeps answering 429. */
  maxRateLimitedAttempts: number;
  /** Attempts while Neon keeps answering 423. */
  maxLockedAttempts: number;
  backoff: BackoffPolicy;
}

export interface NeonSchedulerOptions {
  clock?: Clock;
  /** Returns a number in [0, 1); injected so jitter is deterministic in tests. */
  random?: () => number;
  /** Per-account limits. Default: Neon's documented 700/min and 40 rps per route. */
  limits?: RateLimits;
  /** Requests in flight at once across the process. Default 16. */
  maxConcurrent?: number;
  retry?: Partial<RetryPolicy>;
  operationPoll?: Partial<OperationPollPolicy>;
  /** Slowdown after a 429: fraction kept (default 0.5) and linear recovery time (default one window). */
  slowdownFactor?: number;
  recoveryMs?: number;
  /** Ramp-up of each account's budget after it is made (default one window; 0 starts at full speed). */
  rampUpMs?: number;
  /**
   * Wraps each mutation from its queueing to its answer (turns in the project's lane and the account's budget,
   * retries included). The operator passes the runtime's `parkWhile`, so a reconcile waiting for its project's
   * turn does not hold one of its controller's workers. Reads are not wrapped: see `run`.
   */
  parkWhile?: <T>(wait: Promise<T>) => Promise<T>;
  /**
   * What an operation of each action is expected to take (ms) before one has been seen to finish. Default:
   * the durations Neon is documented to show (TYPICAL_OPERATION_MS); `{}` starts with no estimate. The first
   * operation of an action seen to finish replaces its prior; later ones refine the estimate.
   */
  typicalOperationMs?: Readonly<Record<string, number>>;
  logger?: Logger;
}

/**
 * Durations Neon's operations are seen to take (NEON-API-FACTS: create_branch 136 ms, apply_config 49–87 ms,
 * start_compute 0.9–4.8 s, create_timeline 3.1 s). A prior only: it times the first poll of a project's first
 * operations (instead of a blind backoff), never a mutation sent without a poll (see OperationPollPolicy.probe),
 * and is replaced by the first duration this process measures.
 */
export const TYPICAL_OPERATION_MS: Readonly<Record<string, number>> = {
  create_timeline: 3_100,
  create_branch: 136,
  start_compute: 2_000,
  apply_config: 70,
};

export type SchedulerEvent =
  | {
      type: 'request';
      account: string;
      projectId: string | undefined;
      method: string;
      route: string;
      /** 0 when no response was received. */
      status: number;
      durationMs: number;
      queueWaitMs: number;
      attempt: number;
      requestId: string;
      /** What the scheduler did with the answer. */
      outcome: 'ok' | 'retry' | 'error' | 'outcome-unknown';
    }
  | { type: 'rate-limited'; account: string; route: string; pauseMs: number; retryAfterMs: number | undefined }
  | { type: 'locked'; account: string; projectId: string | undefined; route: string }
  | { type: 'operations-poll'; account: string; projectId: string; waiters: number; pages: number };

export interface RouteStats {
  count: number;
  totalMs: number;
  maxMs: number;
}

export interface SchedulerStats {
  /** Calls waiting for their lane, the budget or a concurrency slot. */
  queued: number;
  inFlight: number;
  lanes: number;
  /** Keyed `METHOD route status`, e.g. `GET /projects/{project_id} 200`; status 0 = no response. */
  requests: Record<string, RouteStats>;
  rateLimited: number;
  locked: number;
  retries: number;
  outcomeUnknown: number;
  /** Time calls spent queued before being sent. */
  queueWait: { count: number; totalMs: number; maxMs: number };
  operationPollRounds: number;
  operationListRequests: number;
  /** Operations whose end a waiter learned from a poll round. */
  operationsWaited: number;
}

interface Waiter {
  route: string;
  kind: CallKind;
  /** `METHOD route`: what its operations are expected to take is learned by it. */
  call: string;
  enqueuedAt: number;
  /** Later mutations of the lane sent while this one was the oldest queued (see #nextMutation). */
  overtaken: number;
  grant: (slot: RateSlot, waitMs: number) => void;
  reject: (reason: unknown) => void;
}

type OpWaiter =
  | {
      kind: 'ops';
      ids: Set<string>;
      resolve: (ops: Operation[]) => void;
      reject: (e: unknown) => void;
      /** Gate waits ignore failed operations: a failure ends the operation just the same. */
      ignoreFailures: boolean;
    }
  | { kind: 'idle'; resolve: (ops: Operation[]) => void; reject: (e: unknown) => void; ignoreFailures: true };

/** An operation a mutation started, as far as its answer told. */
interface PendingOperation {
  action: string;
  /** When the answer (or the last poll that saw it in flight) arrived, and how long it had already run then. */
  seenAt: number;
  elapsedMs: number;
}

/** The queue and mutation gate of one Neon project (or of an account's project-less calls). */
class ProjectLane {
  readonly key: string;
  readonly account: string;
  readonly projectId: string | undefined;
  readonly reads: Waiter[] = [];
  readonly mutations: Waiter[] = [];
  mutationActive = false;
  /** Operations our mutations started that have not been seen to end, in the order Neon runs them. */
  readonly pendingOps = new Map<string, PendingOperation>();
  /**
   * Operations known to have ended (Neon accepted a later mutation) whose final status is not read yet, with
   * when that was learned. Kept for a while even when nobody waits yet: a caller often asks to wait right after
   * its own status write, by when the project may have moved on.
   */
  readonly endedOps = new Map<string, number>();
  /**
   * Final states a poll round read of operations this lane tracked, with when, kept until every waiter for them
   * is answered: the caller that started them may ask only after its own status write (its reconcile waits for
   * a worker first), by when a round for other waiters has seen them end; and a waiter for several operations
   * is timed by those still running. Either is answered from here, not by polling for an operation this lane no
   * longer tracks.
   */
  readonly finishedOps = new Map<string, { op: Operation; at: number }>();
  /** When the last poll round was sent (batches waits whose operations have ended). */
  lastRoundAt = Number.NEGATIVE_INFINITY;
  /** Something may be in flight that we do not know (after a 423 or an unknown outcome). */
  drainNeeded = false;
  gateBusy = false;
  /** Cancels the gate's drain wait when no mutation is left waiting for it. */
  gateAbort: AbortController | undefined;
  preferMutation = false;
  readonly opWaiters: OpWaiter[] = [];
  polling = false;
  /** Wakes the poll loop early (its batch window may end: the mutation queue emptied). */
  pollWake: AbortController | undefined;
  /** Calls inside `run` for this lane (queued, in flight or backing off). */
  active = 0;

  constructor(key: string, account: string, projectId: string | undefined) {
    this.key = key;
    this.account = account;
    this.projectId = projectId;
  }

  get gateOpen(): boolean {
    return !this.mutationActive && this.pendingOps.size === 0 && !this.drainNeeded && !this.gateBusy;
  }

  get hasQueued(): boolean {
    return this.reads.length > 0 || this.mutations.length > 0;
  }

  /** Nothing running, queued, waited for or remembered: the lane can be dropped and made anew later. */
  get forgettable(): boolean {
    return (
      this.active === 0 &&
      !this.hasQueued &&
      this.opWaiters.length === 0 &&
      !this.polling &&
      !this.gateBusy &&
      !this.mutationActive &&
      !this.drainNeeded &&
      this.pendingOps.size === 0 &&
      this.finishedOps.size === 0
    );
  }
}

interface AccountState {
  budget: RateBudget;
  source: OperationsSource | undefined;
}

const OPERATIONS_ROUTE = '/projects/{project_id}/operations';

/** Weight of the newest duration in an action's estimate: follows a change within a few operations. */
const DURATION_WEIGHT = 0.3;
/** How long an operation known to have ended is remembered for a caller that has not asked to wait for it yet. */
const ENDED_OPERATIONS_KEPT_MS = 60_000;
/**
 * How many later mutations of a project may be sent before a queued one (shorter expected operations first):
 * a change whose operations hold the project long waits for at most this many quick ones.
 */
const MAX_OVERTAKES = 8;

export class NeonScheduler {
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #limits: RateLimits;
  readonly #maxConcurrent: number;
  readonly #retry: RetryPolicy;
  readonly #poll: OperationPollPolicy;
  /** What every account's RateBudget is made with, besides its own clock and limits. */
  readonly #budgetTuning: Pick<RateBudgetOptions, 'slowdownFactor' | 'recoveryMs' | 'rampUpMs'>;
  readonly #logger: Logger | undefined;
  readonly #accounts = new Map<string, AccountState>();
  readonly #lanes = new Map<string, ProjectLane>();
  /** Expected duration in ms of an operation, by action, from those seen to finish. */
  readonly #operationDurations = new Map<string, number>();
  /** Actions whose estimate is still the prior (no operation of theirs seen to finish yet). */
  readonly #priorDurations = new Set<string>();
  /** The actions of the operations the last answer to each `METHOD route` mutation started. */
  readonly #callActions = new Map<string, string[]>();
  readonly #parkWhile: <T>(wait: Promise<T>) => Promise<T>;
  /** Lanes with queued calls, in round-robin order. */
  #ring: ProjectLane[] = [];
  #cursor = 0;
  #inFlight = 0;
  #queued = 0;
  #pumpScheduled = false;
  #timer: { at: number; abort: AbortController } | undefined;
  readonly #listeners = new Set<(event: SchedulerEvent) => void>();
  /** Aborted by `close()`: stops timers and poll loops. */
  readonly #closing = new AbortController();
  readonly #stats = {
    requests: new Map<string, RouteStats>(),
    rateLimited: 0,
    locked: 0,
    retries: 0,
    outcomeUnknown: 0,
    queueWait: { count: 0, totalMs: 0, maxMs: 0 },
    operationPollRounds: 0,
    operationListRequests: 0,
    operationsWaited: 0,
  };

  constructor(options: NeonSchedulerOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#limits = options.limits ?? neonRateLimits;
    this.#maxConcurrent = options.maxConcurrent ?? 16;
    this.#retry = {
      maxAttempts: 5,
      maxRateLimitedAttempts: 12,
      maxLockedAttempts: 12,
      backoff: { baseMs: 250, capMs: 10_000 },
      ...options.retry,
    };
    const poll = { initialMs: 500, maxMs: 5_000, factor: 1.5, batchMs: 5_000, busyBatchMs: 15_000, probe: true, pageSize: 50, maxPages: 4, ...options.operationPoll };
    // Past the expected end the operation is nearly done: look again soon, never later than an unknown one.
    this.#poll = { ...poll, overdueMs: options.operationPoll?.overdueMs ?? Math.min(100, poll.initialMs) };
    this.#budgetTuning = { slowdownFactor: options.slowdownFactor, recoveryMs: options.recoveryMs, rampUpMs: options.rampUpMs };
    this.#logger = options.logger;
    this.#parkWhile = options.parkWhile ?? ((wait) => wait);
    for (const [action, ms] of Object.entries(options.typicalOperationMs ?? TYPICAL_OPERATION_MS)) {
      this.#operationDurations.set(action, ms);
      this.#priorDurations.add(action);
    }
  }

  /**
   * Registers an account (budget key). Several clients may register the same account: they share its
   * budget; the last registered source is used to poll operations.
   */
  registerAccount(account: string, source?: OperationsSource): void {
    const state = this.#account(account);
    if (source) state.source = source;
  }

  /** The account's budget (for inspection in tests and metrics). */
  budget(account: string): RateBudget {
    return this.#account(account).budget;
  }

  /**
   * Stops the scheduler for shutdown: queued calls and operation waiters reject, timers and poll loops
   * stop, later calls reject at once. Requests already sent finish normally.
   */
  close(): void {
    if (this.#closing.signal.aborted) return;
    const reason = new Error('Neon scheduler closed');
    this.#closing.abort(reason);
    this.#timer?.abort.abort();
    this.#timer = undefined;
    for (const lane of this.#lanes.values()) {
      for (const w of lane.reads.splice(0)) w.reject(reason);
      for (const w of lane.mutations.splice(0)) w.reject(reason);
      for (const w of lane.opWaiters.splice(0)) w.reject(reason);
    }
    this.#queued = 0;
  }

  /** Subscribes to scheduler events; returns the unsubscribe function. */
  onEvent(listener: (event: SchedulerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  stats(): SchedulerStats {
    return {
      queued: this.#queued,
      inFlight: this.#inFlight,
      lanes: this.#lanes.size,
      requests: Object.fromEntries([...this.#stats.requests].map(([k, v]) => [k, { ...v }])),
      rateLimited: this.#stats.rateLimited,
      locked: this.#stats.locked,
      retries: this.#stats.retries,
      outcomeUnknown: this.#stats.outcomeUnknown,
      queueWait: { ...this.#stats.queueWait },
      operationPollRounds: this.#stats.operationPollRounds,
      operationListRequests: this.#stats.operationListRequests,
      operationsWaited: this.#stats.operationsWaited,
    };
  }

  /**
   * Runs one API call through the budget and the project's lane.
   *
   * Retries: 429 (always, after the account-wide pause), 423 (after the project's operations drain),
   * 503, failures before the request was sent, and for reads also other 5xx and transport failures.
   * A mutation that may have been applied (5xx other than 503, 524, reset, timeout, unreadable success
   * body) is never retried: it rejects with OutcomeUnknownError. Everything else rejects with its typed
   * error on the first occurrence.
   */
  async run<T>(spec: CallSpec<T>): Promise<T> {
    const lane = this.#lane(spec.account, spec.projectId);
    lane.active++;
    try {
      // Only a mutation lends out its worker while it waits: its turn in the project's lane can take seconds.
      // A read is never held by a lane, and is often one that other reconciles join (a project's list, an
      // operations poll): lent out, it could get no worker back while every worker waits for that very read.
      const attempts = this.#attempts(spec, lane);
      return await (spec.kind === 'mutation' ? this.#parkWhile(attempts) : attempts);
    } finally {
      lane.active--;
      this.#forgetIfIdle(lane);
    }
  }

  async #attempts<T>(spec: CallSpec<T>, lane: ProjectLane): Promise<T> {
    const account = this.#account(spec.account);
    for (let attempt = 1; ; attempt++) {
      const { slot, waitMs } = await this.#acquire(lane, spec);
      // A mutation sent while operations were expected to have ended (a probe): its acceptance says they did.
      const probed = spec.kind === 'mutation' ? [...lane.pendingOps.keys()] : [];
      const started = this.#clock.now();
      let result: AttemptResult<T> | undefined;
      let error: NeonApiError | undefined;
      try {
        result = await spec.attempt(attempt);
      } catch (e) {
        error = e instanceof NeonApiError ? e : transportFromUnknown(e, spec);
      }
      const durationMs = this.#clock.now() - started;
      slot.release({ answered: result !== undefined || (error?.status ?? 0) !== 0 });
      this.#inFlight--;

      if (result) {
        account.budget.onAnswered();
        if (spec.kind === 'mutation') lane.mutationActive = false;
        for (const id of probed) {
          lane.pendingOps.delete(id);
          lane.endedOps.set(id, this.#clock.now());
        }
        if (probed.length > 0) this.#pruneEnded(lane);
        const target = result.projectId !== undefined ? this.#lane(spec.account, result.projectId) : lane;
        if (target.projectId !== undefined) this.#track(target, result.operations ?? []);
        if (spec.kind === 'mutation' && result.operations) this.#callActions.set(`${spec.method} ${spec.route}`, result.operations.map((op) => op.action));
        if (target !== lane) this.#forgetIfIdle(target);
        this.#record(spec, result.status, durationMs, waitMs, attempt, result.requestId, 'ok');
        this.#kick();
        return result.value;
      }

      const err = error as NeonApiError;
      const decision = this.#decide(spec, err, attempt, started);
      if (spec.kind === 'mutation') {
        lane.mutationActive = false;
        // After a 423 or an unknown outcome, something we did not start (or did not hear about) may be in
        // flight on the project: the next mutation waits until the project's operations drain.
        if ((err instanceof LockedError || decision.outcome === 'outcome-unknown') && lane.projectId !== undefined) {
          lane.drainNeeded = true;
        }
      }
      if (!(err instanceof RateLimitedError)) account.budget.onAnswered();
      this.#record(spec, err.status, durationMs, waitMs, attempt, err.requestId, decision.outcome);
      this.#kick();

      if (decision.outcome === 'retry') {
        this.#stats.retries++;
        if (decision.delayMs > 0) {
          await this.#clock.sleep(decision.delayMs, spec.signal ? AbortSignal.any([spec.signal, this.#closing.signal]) : this.#closing.signal);
        }
        continue;
      }
      if (decision.outcome === 'outcome-unknown') {
        this.#stats.outcomeUnknown++;
        throw new OutcomeUnknownError(err);
      }
      throw err;
    }
  }

  #decide(
    spec: CallSpec<unknown>,
    err: NeonApiError,
    attempt: number,
    sentAt: number,
  ): { outcome: 'retry' | 'error' | 'outcome-unknown'; delayMs: number } {
    const backoff = () => fullJitterBackoff(attempt, this.#retry.backoff, this.#random);
    if (err instanceof RateLimitedError) {
      this.#stats.rateLimited++;
      const pauseMs = this.#account(spec.account).budget.onRateLimited(err.retryAfterMs, sentAt);
      this.#emit({ type: 'rate-limited', account: spec.account, route: spec.route, pauseMs, retryAfterMs: err.retryAfterMs });
      this.#logger?.warn({ route: spec.route, request_id: err.requestId, pause_ms: pauseMs }, 'Neon rate limit hit; slowing the account down');
      // The account-wide pause in the budget holds this call back too; no separate sleep.
      return { outcome: attempt < this.#retry.maxRateLimitedAttempts ? 'retry' : 'error', delayMs: 0 };
    }
    if (err instanceof LockedError) {
      this.#stats.locked++;
      this.#emit({ type: 'locked', account: spec.account, projectId: spec.projectId, route: spec.route });
      // The lane drains the project's operations first; the short backoff covers 423s that no listed
      // operation explains (an endpoint in a transitional state).
      return { outcome: attempt < this.#retry.maxLockedAttempts ? 'retry' : 'error', delayMs: backoff() };
    }
    const retryable =
      (err instanceof ServerError && err.status === 503) ||
      (err instanceof TransportError && !err.mayHaveApplied) ||
      (spec.kind === 'read' && (err instanceof ServerError || err instanceof TransportError));
    if (retryable) {
      return { outcome: attempt < this.#retry.maxAttempts ? 'retry' : 'error', delayMs: backoff() };
    }
    if (spec.kind === 'mutation' && err.mayHaveApplied) return { outcome: 'outcome-unknown', delayMs: 0 };
    return { outcome: 'error', delayMs: 0 };
  }

  /**
   * Waits until every listed operation of `projectId` has ended. One poll round (normally one
   * `GET /projects/{id}/operations`) serves all waiters of the project. Resolves with the operations'
   * final state; rejects with OperationFailedError when one ended `failed`, `error` or `cancelled`.
   */
  async waitForOperations(
    account: string,
    projectId: string,
    operations: ReadonlyArray<string | Operation>,
    signal?: AbortSignal,
  ): Promise<Operation[]> {
    const done: Operation[] = [];
    const ids = new Set<string>();
    const lane = this.#lane(account, projectId);
    this.#pruneEnded(lane);
    for (const given of operations) {
      const op = typeof given === 'string' ? lane.finishedOps.get(given)?.op : (lane.finishedOps.get(given.id)?.op ?? given);
      if (op !== undefined && !inFlightStatuses.has(op.status)) {
        lane.finishedOps.delete(op.id);
        if (!successStatuses.has(op.status)) throw new OperationFailedError(op);
        done.push(op);
      } else {
        ids.add(typeof given === 'string' ? given : given.id);
      }
    }
    if (ids.size === 0) {
      this.#forgetIfIdle(lane);
      return done;
    }
    const finished = await this.#addOpWaiter(
      lane,
      (resolve, reject) => ({ kind: 'ops', ids, resolve, reject, ignoreFailures: false }),
      signal,
    );
    return [...done, ...finished];
  }

  // ---- queue and dispatch -------------------------------------------------------------------------

  #account(account: string): AccountState {
    let state = this.#accounts.get(account);
    if (!state) {
      state = {
        budget: new RateBudget({
          limits: this.#limits,
          clock: this.#clock,
          random: this.#random,
          backoff: this.#retry.backoff,
          ...this.#budgetTuning,
        }),
        source: undefined,
      };
      this.#accounts.set(account, state);
    }
    return state;
  }

  #lane(account: string, projectId: string | undefined): ProjectLane {
    const key = `${account}\u0000${projectId ?? ''}`;
    let lane = this.#lanes.get(key);
    if (!lane) {
      lane = new ProjectLane(key, account, projectId);
      this.#lanes.set(key, lane);
    }
    return lane;
  }

  #acquire(lane: ProjectLane, spec: CallSpec<unknown>): Promise<{ slot: RateSlot; waitMs: number }> {
    return new Promise((resolve, reject) => {
      const signal = spec.signal;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      if (this.#closing.signal.aborted) {
        reject(this.#closing.signal.reason);
        return;
      }
      const queue = spec.kind === 'mutation' ? lane.mutations : lane.reads;
      const onAbort = () => {
        const i = queue.indexOf(waiter);
        if (i >= 0) {
          queue.splice(i, 1);
          this.#queued--;
        }
        if (lane.mutations.length === 0) lane.gateAbort?.abort();
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        route: spec.route,
        kind: spec.kind,
        call: `${spec.method} ${spec.route}`,
        enqueuedAt: this.#clock.now(),
        overtaken: 0,
        grant: (slot, waitMs) => {
          signal?.removeEventListener('abort', onAbort);
          resolve({ slot, waitMs });
        },
        reject,
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
      this.#queued++;
      if (!this.#ring.includes(lane)) this.#ring.push(lane);
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Grants as many queued calls as the budgets allow, one lane at a time in round-robin order. */
  #pump(): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (;;) {
      if (this.#inFlight >= this.#maxConcurrent) return;
      this.#ring = this.#ring.filter((l) => l.hasQueued);
      const n = this.#ring.length;
      if (n === 0) return;
      const now = this.#clock.now();
      let granted = false;
      earliest = Number.POSITIVE_INFINITY;
      for (let i = 0; i < n; i++) {
        const index = (this.#cursor + i) % n;
        const lane = this.#ring[index] as ProjectLane;
        const budget = this.#account(lane.account).budget;
        const pick = this.#pick(lane, budget, now);
        if (pick.waiter) {
          this.#grant(lane, pick.waiter, budget, now);
          this.#cursor = index + 1;
          granted = true;
          break;
        }
        earliest = Math.min(earliest, pick.at);
      }
      if (!granted) break;
    }
    if (Number.isFinite(earliest)) this.#wakeAt(earliest);
  }

  /** The call this lane may send now, or when it could. Alternates reads and mutations within a lane. */
  #pick(lane: ProjectLane, budget: RateBudget, now: number): { waiter?: Waiter; at: number } {
    const candidates: Waiter[] = [];
    const read = lane.reads[0];
    let mutation = this.#nextMutation(lane);
    let probeAt = Number.POSITIVE_INFINITY;
    if (mutation && !lane.gateOpen) {
      const expected = this.#probeAt(lane);
      if (expected !== undefined && expected > now) {
        // The project's operations should end by then: the mutation goes at that time, with no poll first.
        probeAt = expected;
        mutation = undefined;
      } else if (expected === undefined) {
        if (lane.projectId !== undefined && !lane.mutationActive && !lane.gateBusy) void this.#openGate(lane);
        mutation = undefined;
      }
    }
    if (lane.preferMutation) {
      if (mutation) candidates.push(mutation);
      if (read) candidates.push(read);
    } else {
      if (read) candidates.push(read);
      if (mutation) candidates.push(mutation);
    }
    let at = probeAt;
    for (const w of candidates) {
      const available = budget.availableAt(w.route, now);
      if (available <= now) return { waiter: w, at: now };
      at = Math.min(at, available);
    }
    return { at };
  }

  /**
   * The lane's next mutation: the one whose operations are expected to end soonest (learned per route from
   * earlier answers), first come first served among equals, unless the oldest has been
   * overtaken MAX_OVERTAKES times. Quick changes (a role, a database, a setting) then do not wait behind a queue
   * of branch creates that each hold the project for seconds, and the objects waiting for them get Ready sooner.
   */
  #nextMutation(lane: ProjectLane): Waiter | undefined {
    const oldest = lane.mutations[0];
    if (!oldest || oldest.overtaken >= MAX_OVERTAKES) return oldest;
    let best = oldest;
    let bestMs = this.#expectedCallMs(oldest.call);
    for (let i = 1; i < lane.mutations.length; i++) {
      const w = lane.mutations[i] as Waiter;
      const ms = this.#expectedCallMs(w.call);
      if (ms < bestMs) {
        best = w;
        bestMs = ms;
      }
    }
    return best;
  }

  /**
   * How long the operations a mutation of `call` starts are expected to hold its project: 0 for a call not seen
   * yet (it goes first once, and its answer tells), Infinity while an action it starts has no learned duration.
   */
  #expectedCallMs(call: string): number {
    const actions = this.#callActions.get(call);
    if (!actions) return 0;
    let ms = 0;
    for (const action of actions) ms += this.#operationDurations.get(action) ?? Number.POSITIVE_INFINITY;
    return ms;
  }

  #grant(lane: ProjectLane, waiter: Waiter, budget: RateBudget, now: number): void {
    const queue = waiter.kind === 'mutation' ? lane.mutations : lane.reads;
    const index = queue.indexOf(waiter);
    // Only the oldest counts what passes it: each queued mutation, once the oldest, waits for at most MAX_OVERTAKES.
    if (index > 0 && waiter.kind === 'mutation') (queue[0] as Waiter).overtaken++;
    queue.splice(index, 1);
    // The project is free of queued mutations: a poll round held back for them may be due now.
    if (waiter.kind === 'mutation' && queue.length === 0) lane.pollWake?.abort();
    this.#queued--;
    if (waiter.kind === 'mutation' && lane.projectId !== undefined) lane.mutationActive = true;
    lane.preferMutation = waiter.kind === 'read';
    this.#inFlight++;
    const waitMs = now - waiter.enqueuedAt;
    const qw = this.#stats.queueWait;
    qw.count++;
    qw.totalMs += waitMs;
    qw.maxMs = Math.max(qw.maxMs, waitMs);
    waiter.grant(budget.take(waiter.route), waitMs);
  }

  #wakeAt(at: number): void {
    if (this.#closing.signal.aborted) return;
    if (this.#timer && this.#timer.at <= at) return;
    this.#timer?.abort.abort();
    const abort = new AbortController();
    this.#timer = { at, abort };
    this.#clock
      .sleep(Math.max(0, at - this.#clock.now()), abort.signal)
      .then(
        () => {
          if (this.#timer?.abort === abort) this.#timer = undefined;
          this.#pump();
        },
        () => undefined,
      );
  }

  // ---- project lanes and operations ---------------------------------------------------------------

  #track(lane: ProjectLane, operations: readonly Operation[]): void {
    for (const op of operations) {
      if (inFlightStatuses.has(op.status)) {
        lane.pendingOps.set(op.id, { action: op.action, seenAt: this.#clock.now(), elapsedMs: op.total_duration_ms });
      }
    }
  }

  /** Waits for the lane's known operations and, if needed, for the project to drain; then reopens it. */
  async #openGate(lane: ProjectLane): Promise<void> {
    lane.gateBusy = true;
    const waited = [...lane.pendingOps.keys()];
    const abort = new AbortController();
    lane.gateAbort = abort;
    try {
      await this.#addOpWaiter(lane, (resolve, reject) => ({ kind: 'idle', resolve, reject, ignoreFailures: true }), abort.signal);
    } catch (e) {
      if (abort.signal.aborted) {
        // Nobody is waiting any more: keep what we know and let the next mutation start a new drain.
        lane.gateBusy = false;
        lane.gateAbort = undefined;
        this.#kick();
        return;
      }
      // The poll itself failed (after its own retries) or the project is gone: reopen anyway; a
      // mutation that then meets a 423 is retried, one that meets a 404 reports it to its caller.
      this.#logger?.debug({ project_id: lane.projectId, err: e instanceof Error ? e.message : String(e) }, 'operation drain ended with an error');
    }
    for (const id of waited) lane.pendingOps.delete(id);
    lane.drainNeeded = false;
    lane.gateBusy = false;
    lane.gateAbort = undefined;
    this.#kick();
  }

  #addOpWaiter(
    lane: ProjectLane,
    make: (resolve: (ops: Operation[]) => void, reject: (e: unknown) => void) => OpWaiter,
    signal?: AbortSignal,
  ): Promise<Operation[]> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      if (this.#closing.signal.aborted) {
        reject(this.#closing.signal.reason);
        return;
      }
      const waiter = make(
        (ops) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(ops);
        },
        (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
      const onAbort = () => {
        const i = lane.opWaiters.indexOf(waiter);
        if (i >= 0) lane.opWaiters.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      lane.opWaiters.push(waiter);
      // A mutation held until the project drains cannot wait for a batch window: the loop looks again.
      if (waiter.kind === 'idle') lane.pollWake?.abort();
      // The loop settles its waiters itself; it only throws when close() interrupts its sleep.
      if (!lane.polling) this.#pollLoop(lane).catch(() => undefined);
    });
  }

  /**
   * One loop per lane while it has waiters: sleep, one poll round for all waiters, settle, repeat. The
   * first round is timed for when the operations are expected to end (learned from earlier ones of the
   * same action), so the next mutation follows an operation's end closely and a poll is rarely wasted;
   * without an estimate, or past it, the delay grows from a start.
   */
  async #pollLoop(lane: ProjectLane): Promise<void> {
    lane.polling = true;
    /** The backoff's next delay, once polling without an expected end or past it. */
    let nextDelay: number | undefined;
    try {
      while (lane.opWaiters.length > 0) {
        const now = this.#clock.now();
        const expectedAt = this.#expectedIdleAt(lane);
        let sleepMs: number;
        const urgent = lane.opWaiters.some((w) => w.kind === 'idle');
        // Waits whose operations should be over are answered together, at most one round per batchMs, unless
        // a mutation is held until the project drains.
        const batchMs = lane.mutations.length > 0 ? this.#poll.busyBatchMs : this.#poll.batchMs;
        const batchedAt = urgent ? Number.NEGATIVE_INFINITY : lane.lastRoundAt + batchMs;
        if (expectedAt !== undefined && Math.max(expectedAt, batchedAt) > now) {
          sleepMs = Math.max(expectedAt, batchedAt) - now;
          nextDelay = undefined;
        } else {
          sleepMs = nextDelay ?? (expectedAt === undefined ? this.#poll.initialMs : this.#poll.overdueMs);
          nextDelay = Math.min(this.#poll.maxMs, sleepMs * this.#poll.factor);
        }
        const wake = new AbortController();
        lane.pollWake = wake;
        try {
          await this.#clock.sleep(sleepMs, AbortSignal.any([this.#closing.signal, wake.signal]));
        } catch (e) {
          if (!wake.signal.aborted || this.#closing.signal.aborted) throw e;
          // Woken early: the round's time is worked out again.
          continue;
        } finally {
          if (lane.pollWake === wake) lane.pollWake = undefined;
        }
        if (lane.opWaiters.length === 0) break;
        await this.#pollRound(lane);
      }
    } finally {
      lane.polling = false;
      this.#forgetIfIdle(lane);
    }
  }

  /**
   * When the lane's known operations should all have ended: Neon runs a project's operations one after
   * another, each taking about what the last of its action took. Undefined when something we did not
   * start may be running (after a 423 or a lost answer, or a wait for an operation this process did not
   * start), or an action has no estimate yet.
   */
  #expectedIdleAt(lane: ProjectLane): number | undefined {
    if (lane.drainNeeded) return undefined;
    const ends = this.#pendingEnds(lane);
    if (ends === undefined) return undefined;
    // The first waiter whose operations should have ended sets the round: a project that keeps getting new
    // operations (each mutation probing the end of the last) must not hold back the waits of earlier ones.
    let first = Number.POSITIVE_INFINITY;
    for (const w of lane.opWaiters) {
      let end = Number.NEGATIVE_INFINITY;
      if (w.kind === 'idle') {
        for (const at of ends.values()) end = Math.max(end, at);
      } else {
        for (const id of w.ids) {
          if (lane.endedOps.has(id) || lane.finishedOps.has(id)) continue;
          const at = ends.get(id);
          if (at === undefined) return undefined; // an operation this process did not see start
          end = Math.max(end, at);
        }
      }
      first = Math.min(first, end);
    }
    return first;
  }

  /** When each of the lane's pending operations should end: Neon runs them one after another. */
  #pendingEnds(lane: ProjectLane): Map<string, number> | undefined {
    const ends = new Map<string, number>();
    let end = Number.NEGATIVE_INFINITY;
    for (const [id, op] of lane.pendingOps) {
      const expectedMs = this.#operationDurations.get(op.action);
      if (expectedMs === undefined) return undefined;
      end = Math.max(end, op.seenAt) + Math.max(0, expectedMs - op.elapsedMs);
      ends.set(id, end);
    }
    return ends;
  }

  /** When the lane's pending operations should all have ended, from their actions' learned durations. */
  #pendingEndAt(lane: ProjectLane): number | undefined {
    const ends = this.#pendingEnds(lane);
    if (ends === undefined) return undefined;
    let end = Number.NEGATIVE_INFINITY;
    for (const at of ends.values()) end = Math.max(end, at);
    return end;
  }

  /**
   * When a mutation may be sent to the lane without polling first (see OperationPollPolicy.probe): when only
   * operations we started are in the way and all of them are expected to have ended. Undefined: poll first.
   */
  #probeAt(lane: ProjectLane): number | undefined {
    if (!this.#poll.probe || lane.projectId === undefined) return undefined;
    if (lane.mutationActive || lane.gateBusy || lane.drainNeeded || lane.pendingOps.size === 0) return undefined;
    // A typical duration times a poll, never a mutation: one too short would meet a 423.
    for (const op of lane.pendingOps.values()) if (this.#priorDurations.has(op.action)) return undefined;
    return this.#pendingEndAt(lane);
  }

  /** Keeps a running estimate of how long operations of each action take. */
  #learnDuration(op: Operation): void {
    const previous = this.#priorDurations.delete(op.action) ? undefined : this.#operationDurations.get(op.action);
    const took = op.total_duration_ms;
    this.#operationDurations.set(op.action, previous === undefined ? took : previous + (took - previous) * DURATION_WEIGHT);
  }

  #forgetIfIdle(lane: ProjectLane): void {
    this.#pruneEnded(lane);
    if (lane.forgettable && this.#lanes.get(lane.key) === lane) this.#lanes.delete(lane.key);
  }

  async #pollRound(lane: ProjectLane): Promise<void> {
    const projectId = lane.projectId as string;
    const source = this.#account(lane.account).source;
    const waiters = [...lane.opWaiters];
    if (!source) {
      const e = new Error(`no operations source registered for account ${lane.account}`);
      for (const w of waiters) this.#settle(lane, w, () => w.reject(e));
      return;
    }
    this.#stats.operationPollRounds++;
    lane.lastRoundAt = this.#clock.now();
    const seen = new Map<string, Operation>();
    let anyInFlight = false;
    let pages = 0;
    try {
      let cursor: string | undefined;
      for (;;) {
        pages++;
        this.#stats.operationListRequests++;
        const page = await source.listOperations(projectId, {
          limit: this.#poll.pageSize,
          ...(cursor !== undefined ? { cursor } : {}),
        });
        for (const op of page.operations) {
          seen.set(op.id, op);
          if (pages === 1 && inFlightStatuses.has(op.status)) anyInFlight = true;
        }
        const missing = waiters.some((w) => w.kind === 'ops' && [...w.ids].some((id) => !seen.has(id) && !lane.finishedOps.has(id)));
        cursor = page.pagination?.cursor;
        if (!missing || !cursor || page.operations.length < this.#poll.pageSize || pages >= this.#poll.maxPages) break;
      }
      // Operations older than the pages we read are fetched one by one (rare: an old id was waited on).
      for (const w of waiters) {
        if (w.kind !== 'ops') continue;
        for (const id of w.ids) {
          if (!seen.has(id) && !lane.finishedOps.has(id)) seen.set(id, await source.getOperation(projectId, id));
        }
      }
    } catch (e) {
      for (const w of waiters) this.#settle(lane, w, () => w.reject(e));
      return;
    }
    this.#emit({ type: 'operations-poll', account: lane.account, projectId, waiters: waiters.length, pages });
    // Whatever a round learns also clears the lane's own bookkeeping (an explicit wait spares the gate a poll).
    const polledAt = this.#clock.now();
    for (const op of seen.values()) {
      const pending = lane.pendingOps.get(op.id);
      if (pending && inFlightStatuses.has(op.status)) {
        // Its progress as of now: once the operations before it are gone from the lane, this is what times it.
        pending.seenAt = polledAt;
        pending.elapsedMs = op.total_duration_ms;
        continue;
      }
      if (inFlightStatuses.has(op.status) || !(pending || lane.endedOps.has(op.id))) continue;
      lane.pendingOps.delete(op.id);
      lane.endedOps.delete(op.id);
      // Kept even when a waiter wants it: that waiter may still wait for a later operation, whose expected end
      // then times the next round (an id the lane knows nothing of would make it poll blind).
      lane.finishedOps.set(op.id, { op, at: polledAt });
      if (successStatuses.has(op.status)) this.#learnDuration(op);
    }

    for (const w of waiters) {
      if (w.kind === 'idle') {
        const pendingDone = [...lane.pendingOps.keys()].every((id) => {
          const op = seen.get(id);
          return op === undefined || !inFlightStatuses.has(op.status);
        });
        if (!anyInFlight && pendingDone) this.#settle(lane, w, () => w.resolve([]));
        continue;
      }
      const ops = [...w.ids].map((id) => (seen.get(id) ?? lane.finishedOps.get(id)?.op) as Operation);
      if (ops.some((op) => inFlightStatuses.has(op.status))) continue;
      this.#stats.operationsWaited += ops.length;
      // Answered: their final states need not be kept for a later caller, unless another waiter wants them too.
      for (const op of ops) if (!wanted(lane, op.id, w)) lane.finishedOps.delete(op.id);
      const failed = ops.find((op) => !successStatuses.has(op.status));
      if (failed && !w.ignoreFailures) this.#settle(lane, w, () => w.reject(new OperationFailedError(failed)));
      else this.#settle(lane, w, () => w.resolve(ops));
    }
  }

  /** Ended operations nobody waits for are forgotten after a while (a later waiter then polls for them). */
  #pruneEnded(lane: ProjectLane): void {
    const stale = this.#clock.now() - ENDED_OPERATIONS_KEPT_MS;
    for (const [id, at] of lane.endedOps) if (at < stale && !wanted(lane, id)) lane.endedOps.delete(id);
    for (const [id, { at }] of lane.finishedOps) if (at < stale && !wanted(lane, id)) lane.finishedOps.delete(id);
  }

  #settle(lane: ProjectLane, waiter: OpWaiter, settle: () => void): void {
    const i = lane.opWaiters.indexOf(waiter);
    if (i >= 0) lane.opWaiters.splice(i, 1);
    // An ended operation nobody waits for any more need not be read.
    this.#pruneEnded(lane);
    settle();
  }

  // ---- observability ------------------------------------------------------------------------------

  #record(
    spec: CallSpec<unknown>,
    status: number,
    durationMs: number,
    queueWaitMs: number,
    attempt: number,
    requestId: string,
    outcome: 'ok' | 'retry' | 'error' | 'outcome-unknown',
  ): void {
    const key = `${spec.method} ${spec.route} ${status}`;
    let s = this.#stats.requests.get(key);
    if (!s) {
      s = { count: 0, totalMs: 0, maxMs: 0 };
      this.#stats.requests.set(key, s);
    }
    s.count++;
    s.totalMs += durationMs;
    s.maxMs = Math.max(s.maxMs, durationMs);
    this.#emit({
      type: 'request',
      account: spec.account,
      projectId: spec.projectId,
      method: spec.method,
      route: spec.route,
      status,
      durationMs,
      queueWaitMs,
      attempt,
      requestId,
      outcome,
    });
  }

  #emit(event: SchedulerEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (e) {
        this.#logger?.warn({ err: e instanceof Error ? e.message : String(e) }, 'scheduler event listener threw');
      }
    }
  }
}

/** Whether a waiter of the lane (other than `except`) waits for operation `id`. */
function wanted(lane: ProjectLane, id: string, except?: OpWaiter): boolean {
  return lane.opWaiters.some((w) => w !== except && w.kind === 'ops' && w.ids.has(id));
}

function transportFromUnknown(e: unknown, spec: CallSpec<unknown>): NeonApiError {
  return new TransportError({
    status: 0,
    code: '',
    neonMessage: e instanceof Error ? e.message : String(e),
    requestId: '',
    method: spec.method,
    route: spec.route,
    mayHaveApplied: spec.kind === 'mutation',
    cause: e,
  });
}

export { OPERATIONS_ROUTE };
