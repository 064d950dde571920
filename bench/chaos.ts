/**
 * `npm run chaos`: the operator (`node src/main.ts`) through what clusters go through, against the Neon
 * emulator at Neon's real limits with injected faults. It starts its own etcd + kube-apiserver +
 * kube-controller-manager (so the API server can be killed and restarted on the same data), applies the
 * fleet all at once in a shuffled order (as a GitOps tool does), SIGKILLs the operator every 20 s and starts
 * it again, kills kube-apiserver once for ~17 s, prints the share of Ready objects over time and the time to
 * 100 %, then deletes everything while still killing the operator, and reports what the run lost:
 * duplicates, orphans, Secrets whose password is not Neon's, secret values in logs/Events/status, stuck
 * finalizers. Exits 1 when any loss is above 0 or 100 % Ready was not reached within the target.
 *
 *   npm run chaos [-- --seed 7 --objects 200 --projects 5]      the full run (~10–20 min)
 *   npm run chaos -- --quick                                    a short one (~2 min), as CI runs it
 *
 * `--help` lists every flag.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { API_GROUP, API_VERSION } from '../src/api/index.ts';
import { resourceTypes } from '../src/controllers/index.ts';
import { coreResources, httpTransport, KubeApiError, KubeClient, type KubeObject, type ResourceType, type SecretObject } from '../src/runtime/index.ts';
import { startControlPlane, type ControlPlane } from '../test/controlplane/harness.ts';
import { freePort, httpGet, OperatorProcess } from '../test/e2e/shipping/operator-process.ts';
import { CHAOS_FAULTS } from '../test/emulator/faults.ts';
import { SeededRandom } from '../test/emulator/random.ts';
import { readySecretLogins } from '../test/e2e/operator/logins.ts';
import type { Suite } from '../test/e2e/operator/fixture.ts';
import { startEmulator, type EmulatorHandle, type FaultConfig, type ProjectRecord, type RequestLogEntry } from '../test/emulator/server.ts';
import {
  createsBeyondObjects,
  duplicatesInNeon,
  keptButGone,
  orphansInNeon,
  passwordMismatches,
  passwordsInNeon,
  secretLeaks,
  secretsInAnswer,
  type Finding,
  type RoleSecret,
} from './chaos-loss.ts';
import { callTarget, pacing, readyTargets } from './chaos-calls.ts';
import { groupObjects, inPool, isReady, machineLine, manifest, pad, projectName, projectObjects, routeTable, sumOfMetric, type Manifest } from './fleet.ts';

const repoRoot = resolve(import.meta.dirname, '..');

const usage = `Usage: npm run chaos [-- options]

Starts its own control plane (etcd, kube-apiserver, kube-controller-manager), the Neon emulator at Neon's
real limits (700 calls/min per account, 40/s per route) and default operation durations with the fault mix
below, and the operator (node src/main.ts). Applies the fleet at once in a shuffled order; SIGKILLs the
operator every --kill-every seconds and starts it again; kills kube-apiserver once; prints % Ready over time
and the time to 100 %; deletes everything while still killing the operator; prints the loss figures.
Exit code 0 only when every loss figure is 0 and 100 % Ready came within --target-minutes.

Fault mix (per request; a failed mutation of 500, 524 or reset was applied anyway half of the time):
  10 % 429, 3 % 500, 2 % 503, 1 % 524, 1 % connection reset; 3 % of Neon operations end in error.

Options:
  --seed N                 seeds the emulator (IDs, passwords, faults) and the apply order (default 1)
  --objects N              objects in all: --projects NeonProjects, then branch groups of 4 (NeonBranch,
                           read_write NeonEndpoint, NeonRole with Secret, NeonDatabase), the rest lone
                           NeonBranches (default 200; 22 with --quick)
  --groups N               instead of --objects: this many branch groups (objects = projects + 4 × groups)
  --projects N             NeonProjects the groups are spread over, round-robin (default 5; 2 with --quick)
  --target-minutes N       100 % Ready must come within this, from the apply (default 10; 3 with --quick)
  --timeout-minutes N      how long to wait for 100 % Ready before deleting anyway (default 20; the target
                           with --quick)
  --delete-minutes N       how long the deletion may take before the finalizers left count as stuck
                           (default 5; 2 with --quick)
  --kill-every N           seconds between operator SIGKILLs (default 20; 15 with --quick); 0 = never
  --apiserver-kill-at N    seconds after the apply at which kube-apiserver is SIGKILLed (default 90;
                           25 with --quick); -1 = never
  --apiserver-down N       seconds it stays down before it is started again (default 17; 10 with --quick)
  --report-every N         seconds between progress lines (default 15; 10 with --quick)
  --no-faults              the emulator's limits only, no injected faults (a baseline)
  --postgres               a real Postgres behind the emulator: at 100 % Ready every Secret whose object is Ready
                           must log in with each of its URIs (a loss figure)
  --operator-arg ARG       an extra flag for the operator, repeatable (e.g. --operator-arg=--concurrency=8)
  --log-level LEVEL        the operator's log level (default info)
  --json FILE              also write the results as JSON
  --keep                   keep the operator logs (they are kept anyway when something was lost)
  --quick                  the short variant: fewer objects, shorter intervals (the defaults above)
  -h, --help               this help
`;

// ---- flags -----------------------------------------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    objects: { type: 'string' },
    groups: { type: 'string' },
    projects: { type: 'string' },
    'target-minutes': { type: 'string' },
    'timeout-minutes': { type: 'string' },
    'delete-minutes': { type: 'string' },
    'kill-every': { type: 'string' },
    'apiserver-kill-at': { type: 'string' },
    'apiserver-down': { type: 'string' },
    'report-every': { type: 'string' },
    'no-faults': { type: 'boolean', default: false },
    postgres: { type: 'boolean', default: false },
    'operator-arg': { type: 'string', multiple: true, default: [] },
    'log-level': { type: 'string', default: 'info' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(usage);
  process.exit(0);
}

function number(flag: string, raw: string | undefined, min: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min) {
    process.stderr.write(`chaos: --${flag} expects a number ≥ ${String(min)}, got "${raw}"\n`);
    process.exit(2);
  }
  return v;
}

const QUICK = flags.quick;
const SEED = Math.trunc(number('seed', flags.seed, 0, 1));
const PROJECTS = Math.trunc(number('projects', flags.projects, 1, QUICK ? 2 : 5));
const GROUPS_FLAG = flags.groups === undefined ? undefined : Math.trunc(number('groups', flags.groups, 1, 1));
const OBJECTS = GROUPS_FLAG === undefined ? Math.trunc(number('objects', flags.objects, PROJECTS + 4, QUICK ? 22 : 200)) : PROJECTS + 4 * GROUPS_FLAG;
const GROUPS = GROUPS_FLAG ?? Math.floor((OBJECTS - PROJECTS) / 4);
const LONE_BRANCHES = OBJECTS - PROJECTS - 4 * GROUPS;
const TARGET_MS = number('target-minutes', flags['target-minutes'], 0.1, QUICK ? 3 : 10) * 60_000;
const TIMEOUT_MS = Math.max(TARGET_MS, number('timeout-minutes', flags['timeout-minutes'], 0.1, QUICK ? TARGET_MS / 60_000 : 20) * 60_000);
const DELETE_MS = number('delete-minutes', flags['delete-minutes'], 0.1, QUICK ? 2 : 5) * 60_000;
const KILL_EVERY_MS = number('kill-every', flags['kill-every'], 0, QUICK ? 15 : 20) * 1000;
const APISERVER_KILL_AT_MS = number('apiserver-kill-at', flags['apiserver-kill-at'], -1, QUICK ? 25 : 90) * 1000;
const APISERVER_DOWN_MS = number('apiserver-down', flags['apiserver-down'], 1, QUICK ? 10 : 17) * 1000;
const REPORT_EVERY_MS = number('report-every', flags['report-every'], 1, QUICK ? 10 : 15) * 1000;

const FAULTS: FaultConfig = flags['no-faults'] ? {} : { ...CHAOS_FAULTS };

/** Neon project names of the fleet start with this; anything else in the account is not the fleet's. */
const NEON_PREFIX = 'chaos-';
const API_KEY = 'chaos-operator-key-0123456789';

// ---- output ----------------------------------------------------------------------------------------------

const say = (line = ''): void => void process.stdout.write(`${line}\n`);
const progress = (line: string): void => void process.stderr.write(`[chaos] ${line}\n`);
const s = (ms: number): string => `${(ms / 1000).toFixed(0)} s`;
const pct = (a: number, b: number): string => `${b === 0 ? '0' : ((a / b) * 100).toFixed(1)} %`;

// ---- the fleet -------------------------------------------------------------------------------------------

const KINDS = ['project', 'branch', 'endpoint', 'role', 'database'] as const satisfies ReadonlyArray<keyof typeof resourceTypes>;
type Kind = (typeof KINDS)[number];

interface Item {
  kind: Kind;
  type: ResourceType;
  obj: Manifest;
}

function fleet(): Item[] {
  const w = { groups: GROUPS, projects: PROJECTS, withDatabase: true, createsProjects: true };
  const projects = projectObjects(w, NEON_PREFIX.slice(0, -1));
  // NeonProjects keep their Neon project by default (Retain); the last one says Delete, so both paths are run.
  const last = projects.at(-1);
  if (PROJECTS > 1 && last) last.obj.spec['deletionPolicy'] = 'Delete';
  const out = [...projects, ...groupObjects(w)];
  for (let i = 0; i < LONE_BRANCHES; i++) out.push(manifest('branch', `x-${pad(i, 4)}`, { projectRef: { name: projectName(i % PROJECTS) } }));
  const kindOf = new Map(KINDS.map((k) => [resourceTypes[k], k]));
  const items = out.map(({ type, obj }) => ({ kind: kindOf.get(type) ?? 'project', type, obj }));
  // Any order, as a GitOps tool applies a folder: dependents often come before what they reference.
  const rng = new SeededRandom(SEED * 7919 + 17);
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j] as Item, items[i] as Item];
  }
  return items;
}

interface NeonObject extends KubeObject {
  spec?: Record<string, unknown>;
  status?: {
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string; observedGeneration?: number }>;
    [k: string]: unknown;
  };
}

// ---- the operator, killed and started again --------------------------------------------------------------

interface Life {
  n: number;
  startedAt: number;
  endedAt?: number;
  end?: 'SIGKILL' | 'SIGTERM' | string;
  /** Scraped from /metrics just before the kill (undefined when it did not answer in time). */
  metrics?: { reconciles: number; neonRequests: number; rateLimited: number; workqueueDepth: number; schedulerQueue: number };
  logFile: string;
}

class Operator {
  readonly lives: Life[] = [];
  #current: { proc: OperatorProcess; life: Life; metricsUrl: string } | undefined;
  #stopping = false;
  #busy = false;
  /** Exits the operator made by itself (not killed by this script). */
  readonly selfExits: Array<{ life: number; how: string; lastWords: string[] }> = [];

  readonly cp: ControlPlane;
  readonly namespace: string;
  readonly emulatorUrl: string;
  readonly workDir: string;

  constructor(cp: ControlPlane, namespace: string, emulatorUrl: string, workDir: string) {
    this.cp = cp;
    this.namespace = namespace;
    this.emulatorUrl = emulatorUrl;
    this.workDir = workDir;
  }

  async start(): Promise<void> {
    const port = await freePort();
    const life: Life = { n: this.lives.length + 1, startedAt: Date.now(), logFile: join(this.workDir, `operator-${pad(this.lives.length + 1, 3)}.log`) };
    const proc = new OperatorProcess({
      cwd: repoRoot,
      node: process.execPath,
      args: [
        '--kubeconfig', this.cp.kubeconfigPath,
        '--neon-api-url', this.emulatorUrl,
        '--namespaces', this.namespace,
        '--metrics-port', String(port),
        '--log-level', flags['log-level'] ?? 'info',
        ...(flags['operator-arg'] ?? []),
      ],
      env: { ...process.env, NEON_API_KEY: API_KEY },
      logFile: life.logFile,
    });
    this.lives.push(life);
    const current = { proc, life, metricsUrl: `http://127.0.0.1:${String(port)}/metrics` };
    this.#current = current;
    void proc.exited.then(({ code, signal }) => {
      life.endedAt ??= Date.now();
      if (life.end !== undefined) return;
      // It stopped by itself: note how, and start another (a Deployment would).
      life.end = signal ?? `exit ${String(code)}`;
      this.selfExits.push({ life: life.n, how: life.end, lastWords: proc.rawOutput.slice(-3) });
      progress(`operator life ${String(life.n)} ended by itself (${life.end}); starting another`);
      if (this.#current === current) this.#current = undefined;
      if (!this.#stopping) void sleep(1_000).then(() => (this.#stopping || this.#current ? undefined : this.start()));
    });
  }

  async #scrape(url: string): Promise<Life['metrics']> {
    const res = await httpGet(url);
    if (res?.status !== 200) return undefined;
    return {
      reconciles: sumOfMetric(res.body, 'neon_operator_reconcile_total'),
      neonRequests: sumOfMetric(res.body, 'neon_operator_neon_api_requests_total'),
      rateLimited: sumOfMetric(res.body, 'neon_operator_neon_api_rate_limited_total'),
      workqueueDepth: sumOfMetric(res.body, 'neon_operator_workqueue_depth'),
      schedulerQueue: sumOfMetric(res.body, 'neon_operator_neon_scheduler_queue_depth'),
    };
  }

  /** SIGKILL (after a quick look at its metrics) and start the next one. Skipped while one is in progress. */
  async killAndRestart(): Promise<void> {
    if (this.#busy || this.#stopping) return;
    this.#busy = true;
    try {
      const current = this.#current;
      if (current) {
        current.life.metrics = await Promise.race([this.#scrape(current.metricsUrl), sleep(1_500).then(() => undefined)]);
        current.life.end = 'SIGKILL';
        current.life.endedAt = Date.now();
        this.#current = undefined;
        await current.proc.stop('SIGKILL');
      }
      if (!this.#stopping) await this.start();
    } finally {
      this.#busy = false;
    }
  }

  /** The last one gets SIGTERM, as at the end of a rollout. */
  async stop(): Promise<void> {
    this.#stopping = true;
    while (this.#busy) await sleep(100);
    const current = this.#current;
    this.#current = undefined;
    if (!current) return;
    current.life.metrics = await Promise.race([this.#scrape(current.metricsUrl), sleep(1_500).then(() => undefined)]);
    current.life.end = 'SIGTERM';
    const result = await current.proc.stop('SIGTERM');
    current.life.endedAt = Date.now();
    // A process that has not installed its handlers yet dies of the signal itself: said, not counted as a fault.
    this.finalStop = `life ${String(current.life.n)}, ${s(current.life.endedAt - current.life.startedAt)} after its start: ${result.signal ? `ended by the signal (${result.signal})` : `exit ${String(result.code)}`}`;
  }

  /** How the last life answered the final SIGTERM. */
  finalStop: string | undefined;

  get lifeNumber(): number {
    return this.lives.length;
  }
}

// ---- readiness over time ---------------------------------------------------------------------------------

interface Census {
  at: number;
  ready: number;
  total: number;
  byKind: Record<Kind, { ready: number; total: number }>;
  objects: Array<{ kind: Kind; obj: NeonObject }>;
}

async function census(kube: KubeClient, namespace: string): Promise<Census | undefined> {
  try {
    const lists = await Promise.all(KINDS.map(async (kind) => ({ kind, items: (await kube.list<NeonObject>(resourceTypes[kind], namespace)).items })));
    const byKind = Object.fromEntries(KINDS.map((k) => [k, { ready: 0, total: 0 }])) as Census['byKind'];
    const objects: Census['objects'] = [];
    for (const { kind, items } of lists) {
      for (const obj of items) {
        objects.push({ kind, obj });
        byKind[kind].total++;
        if (isReady(obj)) byKind[kind].ready++;
      }
    }
    const ready = KINDS.reduce((a, k) => a + byKind[k].ready, 0);
    return { at: Date.now(), ready, total: objects.length, byKind, objects };
  } catch {
    // The API server is down (or restarting): no census this time.
    return undefined;
  }
}

/** Calls of the account in [from, to): all, real rate-limit 429s, injected 429s, other failures. */
function callsIn(requests: readonly RequestLogEntry[], account: string, from: number, to: number): { all: number; limit429: number; injected429: number; failed: number } {
  const out = { all: 0, limit429: 0, injected429: 0, failed: 0 };
  // The log is in time order: walk back from the end while inside the window.
  for (let i = requests.length - 1; i >= 0; i--) {
    const r = requests[i] as RequestLogEntry;
    if (r.time < from) break;
    if (r.time >= to || r.account !== account) continue;
    out.all++;
    if (r.fault === 'rate-limit') out.limit429++;
    else if (r.fault === '429') out.injected429++;
    else if (r.status === 0 || r.status >= 500) out.failed++;
  }
  return out;
}

const KIND_LABEL: Record<Kind, string> = { project: 'projects', branch: 'branches', endpoint: 'endpoints', role: 'roles', database: 'databases' };

function censusLine(c: Census, t0: number, expected: number): string {
  const kinds = KINDS.map((k) => `${KIND_LABEL[k]} ${String(c.byKind[k].ready)}/${String(c.byKind[k].total)}`).join('  ');
  return `+${s(c.at - t0).padStart(6)}  Ready ${String(c.ready).padStart(4)}/${String(expected)} ${pct(c.ready, expected).padStart(7)}   ${kinds}`;
}

/** Not-Ready objects grouped by kind, reason and message (numbers in names folded), most first. */
function waitingGroups(c: Census): Array<{ count: number; label: string; example: string }> {
  const groups = new Map<string, { count: number; example: string }>();
  for (const { kind, obj } of c.objects) {
    if (isReady(obj)) continue;
    const ready = obj.status?.conditions?.find((x) => x.type === 'Ready');
    const stale = ready && ready.observedGeneration !== obj.metadata?.generation ? ' (not yet observed at this generation)' : '';
    const message = ready ? `${ready.status} ${ready.reason ?? ''}: ${ready.message ?? ''}${stale}` : 'no Ready condition yet';
    const label = `${resourceTypes[kind].kind} ${message.replace(/\b([a-z]+)-\d+\b/g, '$1-#')}`;
    const g = groups.get(label) ?? { count: 0, example: `${obj.metadata?.name ?? '?'}: ${message}` };
    g.count++;
    groups.set(label, g);
  }
  return [...groups].map(([label, g]) => ({ label, ...g })).sort((a, b) => b.count - a.count);
}

/** Runs `read` (Kubernetes reads only), again every second while the API server does not answer, for up to 2 min. */
async function whenApiServerAnswers<T>(read: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      return await read();
    } catch (err) {
      const unanswered = err instanceof TypeError || (err instanceof KubeApiError && err.statusCode >= 500);
      if (!unanswered || Date.now() > deadline) throw err;
      await sleep(1_000);
    }
  }
}

// ---- loss ------------------------------------------------------------------------------------------------

async function roleSecrets(kube: KubeClient, namespace: string, roles: readonly NeonObject[]): Promise<RoleSecret[]> {
  return Promise.all(
    roles.map(async (r) => {
      const secretName = (r.status?.['secretName'] as string | undefined) ?? ((r.spec?.['secret'] as { name?: string } | undefined)?.name);
      const secret = secretName ? await kube.get<SecretObject>(coreResources.secret, { namespace, name: secretName }) : undefined;
      const data = secret?.data ? Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) : undefined;
      return {
        object: `NeonRole ${r.metadata?.name ?? '?'}`,
        branchId: r.status?.['branchId'] as string | undefined,
        roleName: r.status?.['roleName'] as string | undefined,
        data,
      };
    }),
  );
}

/** What a project untouched by the operator looks like (compared before and after; never printed). */
function fingerprint(p: ProjectRecord): string {
  return JSON.stringify({
    id: p.id,
    name: p.name,
    branches: [...p.branches.values()].map((b) => [b.id, b.name, [...b.roles.values()].map((r) => [r.name, r.password]), [...b.databases.keys()]]),
    endpoints: [...p.endpoints.values()].map((e) => [e.id, e.branchId, e.type]),
  });
}

// ---- the run ---------------------------------------------------------------------------------------------

interface Results {
  seed: number;
  objects: number;
  projects: number;
  groups: number;
  faults: FaultConfig;
  targetMs: number;
  readyMs: number | null;
  timeline: Array<{ t: number; ready: number; total: number }>;
  apiServerDownMs: number | null;
  operatorLives: number;
  operatorSelfExits: number;
  calls: { total: number; perMinute: number; limit429: number; injected429: number; failed: number; aboutReadyObjects: number };
  deleteMs: number | null;
  losses: Record<string, number>;
  findings: Record<string, string[]>;
  ok: boolean;
}

async function main(): Promise<Results> {
  if (process.env['E2E_USE_EXISTING_CLUSTER'] === '1') throw new Error('chaos kills kube-apiserver, so it starts its own control plane: unset E2E_USE_EXISTING_CLUSTER');
  const workDir = mkdtempSync(join(tmpdir(), 'neon-operator-chaos-'));
  let cp: ControlPlane | undefined;
  let emulator: EmulatorHandle | undefined;
  let operator: Operator | undefined;
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  let keepLogs = flags.keep;
  try {
    progress('starting the control plane');
    cp = await startControlPlane({ log: (line) => progress(line) });
    await cp.installCrds(join(repoRoot, 'crds'));
    const kube = new KubeClient(httpTransport(cp.kubeconfig, { userAgent: 'neon-operator-chaos' }));

    // Every secret value the operator could have seen: the API key and each password in an answer.
    const secrets = new Set<string>([API_KEY]);
    emulator = await startEmulator({
      seed: SEED,
      faults: FAULTS,
      validateResponses: false,
      maxLogEntries: 10_000_000,
      onResponse: (info) => secretsInAnswer(info.body, secrets),
      ...(flags.postgres ? { postgres: true } : {}),
    });
    const em = emulator;
    const account = em.accountOf(API_KEY);
    // A project the operator was never told about, in the same account: it must come through untouched.
    const bystander = em.state.createProject(account, { name: 'bystander' }).project;
    const bystanderBefore = fingerprint(bystander);

    const namespace = `chaos-${String(SEED)}`;
    await kube.create(coreResources.namespace, { metadata: { name: namespace } });
    const items = fleet();
    const expected = items.length;
    const perKind = Object.fromEntries(KINDS.map((k) => [resourceTypes[k].kind, items.filter((i) => i.kind === k).length]));

    say(`neon-operator chaos (${API_GROUP}/${API_VERSION}), seed ${String(SEED)}${QUICK ? ', quick' : ''}`);
    say(machineLine());
    say(`fleet: ${String(expected)} objects = ${String(PROJECTS)} NeonProjects + ${String(GROUPS)} groups (NeonBranch, NeonEndpoint read_write, NeonRole with Secret, NeonDatabase)` +
      (LONE_BRANCHES > 0 ? ` + ${String(LONE_BRANCHES)} lone NeonBranches` : '') + ', applied at once in a shuffled order');
    say(`Neon emulator: 700 calls/min per account, 40/s per route, default operation durations; faults ${flags['no-faults'] ? 'none' : JSON.stringify(FAULTS)}`);
    say(`chaos: operator SIGKILL every ${KILL_EVERY_MS > 0 ? s(KILL_EVERY_MS) : 'never'}; kube-apiserver SIGKILL at ${APISERVER_KILL_AT_MS >= 0 ? `+${s(APISERVER_KILL_AT_MS)} for ${s(APISERVER_DOWN_MS)}` : 'never'}; target 100 % Ready within ${s(TARGET_MS)}`);
    say();

    operator = new Operator(cp, namespace, em.url, workDir);
    const op = operator;
    const t0 = Date.now();
    await op.start();

    // -- chaos: the operator killed on a fixed beat, the API server once ---------------------------------------
    if (KILL_EVERY_MS > 0) {
      const beat = setInterval(() => void op.killAndRestart(), KILL_EVERY_MS);
      timers.push(beat);
    }
    let apiDown: { from: number; to?: number } | undefined;
    const cpRef = cp;
    if (APISERVER_KILL_AT_MS >= 0) {
      timers.push(
        setTimeout(() => {
          void (async () => {
            apiDown = { from: Date.now() };
            say(`+${s(Date.now() - t0).padStart(6)}  kube-apiserver SIGKILLed`);
            await cpRef.kill('kube-apiserver');
            await sleep(APISERVER_DOWN_MS);
            await cpRef.restart('kube-apiserver');
            apiDown.to = Date.now();
            say(`+${s(Date.now() - t0).padStart(6)}  kube-apiserver back after ${s(apiDown.to - apiDown.from)} (same etcd data, port and certificates)`);
            if (!cpRef.isRunning('kube-controller-manager')) {
              say(`+${s(Date.now() - t0).padStart(6)}  kube-controller-manager had stopped; started again`);
              await cpRef.restart('kube-controller-manager');
            }
          })().catch((err: unknown) => progress(`restarting kube-apiserver failed: ${String(err)}`));
        }, APISERVER_KILL_AT_MS),
      );
    }

    // -- apply: everything at once, retried through the API server's outage (as a GitOps tool retries) -------
    const applying = inPool(items, 16, async ({ type, obj }) => {
      for (;;) {
        try {
          await kube.create(type, { ...obj, metadata: { ...obj.metadata, namespace } });
          return;
        } catch (err) {
          // Created by an attempt whose answer the outage swallowed: done. Another refusal will not pass later.
          if (err instanceof KubeApiError && err.statusCode === 409) return;
          if (err instanceof KubeApiError && err.statusCode >= 400 && err.statusCode < 500 && err.statusCode !== 429) throw err;
          await sleep(1_000);
        }
      }
    });

    // -- wait for 100 % Ready, printing the share over time ----------------------------------------------------
    const timeline: Results['timeline'] = [];
    let lastReport = 0;
    let lastCensus: Census | undefined;
    let readyAt: number | undefined;
    let lastCallsMark = t0;
    // When each object was first seen Ready, by the key of the Neon calls about it (census time: a little late).
    const firstReady = new Map<string, number>();
    const report = (c: Census | undefined): void => {
      const now = Date.now();
      const calls = callsIn(em.requests, account, lastCallsMark, now);
      const perMin = (x: number): string => ((x * 60_000) / Math.max(1, now - lastCallsMark)).toFixed(0);
      const neon = `Neon ${perMin(calls.all)}/min (429 limit ${perMin(calls.limit429)}, injected ${perMin(calls.injected429)})`;
      const line = c ? censusLine(c, t0, expected) : `+${s(now - t0).padStart(6)}  (kube-apiserver down: no census)`;
      say(`${line}   operator life ${String(op.lifeNumber)}   ${neon}`);
      lastCallsMark = now;
      lastReport = now;
    };
    for (;;) {
      const c = await census(kube, namespace);
      if (c) {
        lastCensus = c;
        timeline.push({ t: c.at - t0, ready: c.ready, total: c.total });
        for (const key of readyTargets(c.objects.map(({ kind, obj }) => ({ kind, status: obj.status, ready: isReady(obj) })))) {
          if (!firstReady.has(key)) firstReady.set(key, c.at);
        }
        for (const p of passwordsInNeon(em.state, account)) secrets.add(p);
        if (c.ready >= expected) {
          readyAt = c.at;
          report(c);
          break;
        }
      }
      if (Date.now() - lastReport >= REPORT_EVERY_MS) report(c);
      if (Date.now() - t0 > TIMEOUT_MS) break;
      await sleep(2_000);
    }
    await applying;
    say();
    say(readyAt !== undefined
      ? `100 % Ready after ${s(readyAt - t0)} (target ${s(TARGET_MS)}): ${readyAt - t0 <= TARGET_MS ? 'met' : 'MISSED'}`
      : `100 % Ready NOT reached within ${s(TIMEOUT_MS)}: ${lastCensus ? `${String(lastCensus.ready)}/${String(expected)} (${pct(lastCensus.ready, expected)})` : 'no census'}`);

    // -- why not (when not): what the objects still wait on, and what the account spent ------------------------
    const readyPhaseEnd = Date.now();
    const diagnosis: string[] = [];
    const atEnd = (await census(kube, namespace)) ?? lastCensus;
    if (atEnd && atEnd.ready < expected) {
      diagnosis.push(`objects not Ready at +${s(atEnd.at - t0)}, by kind and Ready condition (numbers in names folded to #):`);
      for (const g of waitingGroups(atEnd).slice(0, 15)) diagnosis.push(`  ${String(g.count).padStart(4)}  ${g.label}\n        e.g. ${g.example}`);
    }
    for (const line of diagnosis) say(line);

    // -- loss at Ready: duplicates, passwords ------------------------------------------------------------------
    const objectsAtReady = atEnd?.objects ?? [];
    const statusOf = (kind: Kind, field: string): Set<string> =>
      new Set(objectsAtReady.filter((o) => o.kind === kind).map((o) => o.obj.status?.[field]).filter((x): x is string => typeof x === 'string'));
    const duplicates = duplicatesInNeon(em.state, account, NEON_PREFIX, {
      projectIds: statusOf('project', 'projectId'),
      branchIds: statusOf('branch', 'branchId'),
      endpointIds: statusOf('endpoint', 'endpointId'),
    });
    const readyRoles = objectsAtReady.filter((o) => o.kind === 'role' && isReady(o.obj)).map((o) => o.obj);
    const mismatches = passwordMismatches(em.state, await roleSecrets(kube, namespace, readyRoles));
    // With a real Postgres: what applications would see. Every Secret of a Ready object logs in, each URI.
    let loginFailures: Finding[] = [];
    if (flags.postgres) {
      // Read through the API server, which may be down now (its kill can fall right after 100 % Ready).
      const logins = await whenApiServerAnswers(() => readySecretLogins({ namespace, kube, emulator: em } as Suite));
      loginFailures = logins.failures.map((what) => ({ what }));
      say(`logins: ${String(logins.checked.length)} Secrets of Ready objects tried with uri, pooled-uri and DATABASE_URL; ${String(logins.failures.length)} failed`);
    }
    for (const p of passwordsInNeon(em.state, account)) secrets.add(p);
    const statusTexts = objectsAtReady.map((o) => ({
      where: `${resourceTypes[o.kind].kind} ${o.obj.metadata?.name ?? '?'} status/annotations`,
      text: JSON.stringify([o.obj.status ?? {}, o.obj.metadata?.annotations ?? {}]),
    }));

    // -- delete everything, still killing the operator ---------------------------------------------------------
    say();
    say(`deleting all ${String(expected)} objects at once (the operator is still SIGKILLed every ${KILL_EVERY_MS > 0 ? s(KILL_EVERY_MS) : 'never'})`);
    const deleteFrom = Date.now();
    await inPool(items, 16, async ({ type, obj }) => {
      for (let attempt = 0; ; attempt++) {
        try {
          await kube.delete(type, { namespace, name: obj.metadata?.name ?? '' });
          return;
        } catch (err) {
          if (attempt > 60 || (err instanceof KubeApiError && err.statusCode >= 400 && err.statusCode < 500 && err.statusCode !== 429)) throw err;
          await sleep(1_000);
        }
      }
    });
    let remaining: Census | undefined;
    let deletedAt: number | undefined;
    lastReport = 0;
    for (;;) {
      const c = await census(kube, namespace);
      if (c) {
        remaining = c;
        for (const o of c.objects) statusTexts.push({ where: `${resourceTypes[o.kind].kind} ${o.obj.metadata?.name ?? '?'} status/annotations`, text: JSON.stringify([o.obj.status ?? {}, o.obj.metadata?.annotations ?? {}]) });
        if (c.total === 0) {
          deletedAt = c.at;
          break;
        }
      }
      if (Date.now() - lastReport >= REPORT_EVERY_MS) {
        say(`+${s(Date.now() - t0).padStart(6)}  ${c ? `${String(c.total)} objects left` : '(no census)'}   operator life ${String(op.lifeNumber)}`);
        lastReport = Date.now();
      }
      if (Date.now() - deleteFrom > DELETE_MS) break;
      await sleep(2_000);
    }
    say(deletedAt !== undefined ? `all objects gone after ${s(deletedAt - deleteFrom)}` : `${String(remaining?.total ?? '?')} objects still there after ${s(DELETE_MS)}`);
    for (const t of timers) clearInterval(t);
    await op.stop();
    // Neon's operations of the last deletes may still run; orphans are what is left once they are over.
    await sleep(3_000);

    // -- loss after delete: orphans, stuck finalizers, leaks, the bystander -------------------------------------
    const neonNameOf = (i: Item): string => String(i.obj.spec['name']);
    const projectItems = items.filter((i) => i.kind === 'project');
    const deletedProjects = new Set(projectItems.filter((i) => i.obj.spec['deletionPolicy'] === 'Delete').map(neonNameOf));
    const keptProjects = new Set(projectItems.filter((i) => i.obj.spec['deletionPolicy'] !== 'Delete').map(neonNameOf));
    const orphans = orphansInNeon(em.state, account, NEON_PREFIX, deletedProjects);
    const stuck: Finding[] = (remaining?.objects ?? []).map(({ kind, obj }) => {
      const ready = obj.status?.conditions?.find((x) => x.type === 'Ready');
      return { what: `${resourceTypes[kind].kind} ${obj.metadata?.name ?? '?'} finalizers ${JSON.stringify(obj.metadata?.finalizers ?? [])}: ${ready?.reason ?? ''} ${ready?.message ?? ''}` };
    });
    const createsBeyond = createsBeyondObjects(em.requests, account, perKind);
    let events: KubeObject[] = [];
    try {
      events = (await kube.list<KubeObject>(coreResources.event, namespace)).items;
    } catch (err) {
      progress(`listing Events failed: ${String(err)}`);
    }
    const logSources = readdirSync(workDir)
      .filter((f) => f.startsWith('operator-') && f.endsWith('.log'))
      .map((f) => ({ where: `operator log ${f}`, text: readFileSync(join(workDir, f), 'utf8') }));
    const leaks = [
      ...secretLeaks(secrets, logSources),
      ...secretLeaks(secrets, events.map((e) => ({ where: `Event ${e.metadata?.name ?? '?'}`, text: JSON.stringify(e) }))),
      ...secretLeaks(secrets, statusTexts),
    ];
    const bystanderNow = em.state.project(account, bystander.id);
    const bystanderLoss: Finding[] = [
      ...(bystanderNow && fingerprint(bystanderNow) === bystanderBefore ? [] : [{ what: 'the bystander project was changed or deleted' }]),
      ...keptButGone(em.state, account, keptProjects),
    ];

    // -- the figures -------------------------------------------------------------------------------------------
    const calls = callsIn(em.requests, account, t0, Date.now() + 1);
    const minutes = (readyPhaseEnd - t0) / 60_000;
    const callsReadyPhase = callsIn(em.requests, account, t0, readyPhaseEnd);
    const losses: Record<string, Finding[]> = {
      'duplicates in Neon (at Ready)': duplicates,
      'creates applied beyond one per object': createsBeyond,
      'orphans in Neon (after delete)': orphans,
      'Secret passwords differing from Neon': mismatches,
      ...(flags.postgres ? { 'Secrets of Ready objects that do not log in': loginFailures } : {}),
      'secret values in logs/Events/status': leaks,
      'stuck finalizers': stuck,
      'kept resources removed (Retain, bystander)': bystanderLoss,
    };
    say();
    say('== loss');
    for (const [what, found] of Object.entries(losses)) {
      say(`${what.padEnd(42)} ${String(found.length)}`);
      for (const f of found.slice(0, 10)) say(`    ${f.what}`);
      if (found.length > 10) say(`    … and ${String(found.length - 10)} more`);
    }
    const lossTotal = Object.values(losses).reduce((a, f) => a + f.length, 0);
    const readyMs = readyAt === undefined ? null : readyAt - t0;
    const metTarget = readyMs !== null && readyMs <= TARGET_MS;
    const ok = lossTotal === 0 && metTarget;

    say();
    say('== the run');
    say(`time to 100 % Ready               ${readyMs === null ? `not reached in ${s(TIMEOUT_MS)}` : s(readyMs)} (target ${s(TARGET_MS)})`);
    say(`time to delete everything         ${deletedAt === undefined ? `not done in ${s(DELETE_MS)}` : s(deletedAt - deleteFrom)}`);
    say(`kube-apiserver down               ${apiDown?.to !== undefined ? s(apiDown.to - apiDown.from) : apiDown ? 'did not come back' : 'never'}`);
    say(`operator lives                    ${String(op.lives.length)} (${String(op.lives.filter((l) => l.end === 'SIGKILL').length)} SIGKILLed, ${String(op.selfExits.length)} ended by themselves)`);
    for (const x of op.selfExits.slice(0, 5)) say(`    life ${String(x.life)}: ${x.how}${x.lastWords.length > 0 ? ` — ${x.lastWords.join(' | ').slice(0, 300)}` : ''}`);
    if (op.finalStop) say(`    the last one stopped with SIGTERM (${op.finalStop})`);
    say(`Neon calls until Ready/timeout    ${callsReadyPhase.all.toLocaleString('en-US')} (${(callsReadyPhase.all / Math.max(minutes, 1 / 60)).toFixed(0)}/min); 429: ${String(callsReadyPhase.limit429)} from the rate limit, ${String(callsReadyPhase.injected429)} injected; 5xx/reset ${String(callsReadyPhase.failed)}`);
    say(`Neon calls in all                 ${calls.all.toLocaleString('en-US')}`);
    const scraped = op.lives.filter((l) => l.metrics);
    if (scraped.length > 0) {
      const avg = (f: (m: NonNullable<Life['metrics']>) => number): string => (scraped.reduce((a, l) => a + f(l.metrics as NonNullable<Life['metrics']>), 0) / scraped.length).toFixed(0);
      say(`per operator life (mean of ${String(scraped.length)} scraped before their end): ${avg((m) => m.reconciles)} reconciles, ${avg((m) => m.neonRequests)} Neon requests, ${avg((m) => m.rateLimited)} of them 429, work queue depth ${avg((m) => m.workqueueDepth)}, Neon scheduler queue ${avg((m) => m.schedulerQueue)} at the end`);
    }
    const readyPhaseCalls = em.requests.filter((r) => r.account === account && r.time >= t0 && r.time < readyPhaseEnd);
    const onReady = readyPhaseCalls.filter((r) => {
      const key = callTarget(r.path, r.method);
      const since = key === undefined ? undefined : firstReady.get(key);
      return since !== undefined && since <= r.time;
    });
    const onReadyByRoute = [...Map.groupBy(onReady, (r) => r.route ?? r.method)].map(([route, rs]) => `${route.replace(/\{(\w)\w*\}/g, '{$1}')} ${String(rs.length)}`);
    say(`calls addressing an object already Ready, or listing the roles/databases of a branch whose NeonRoles/NeonDatabases all were (made for them or for a dependent; until Ready/timeout): ${String(onReady.length)} of ${String(readyPhaseCalls.length)} (${pct(onReady.length, readyPhaseCalls.length)})${onReadyByRoute.length > 0 ? `: ${onReadyByRoute.join(', ')}` : ''}`);
    say('  (project-wide lists, operation polls and creates are not in this count; Ready as seen by the census, every ~2 s)');
    const paced = pacing(readyPhaseCalls, t0, readyPhaseEnd);
    say(`pacing: ${paced.perSecond.toFixed(1)} calls/s on average (Neon allows 11.7); ${String(paced.silentSeconds)} of ${String(paced.seconds)} s without any call; ` +
      `${paced.perSecondAfter429 === undefined ? 'no 429' : `${paced.perSecondAfter429.toFixed(1)} calls in the second after a 429`}`);
    say();
    say(routeTable(readyPhaseCalls));
    say();
    say(ok ? 'RESULT: ok (100 % Ready within the target, every loss figure 0)' : `RESULT: FAILED (${metTarget ? '' : '100 % Ready not within the target; '}${String(lossTotal)} losses)`);
    if (!ok) keepLogs = true;
    if (keepLogs) say(`operator logs: ${workDir}; control-plane logs: ${cp.logsDir}`);

    return {
      seed: SEED,
      objects: expected,
      projects: PROJECTS,
      groups: GROUPS,
      faults: FAULTS,
      targetMs: TARGET_MS,
      readyMs,
      timeline,
      apiServerDownMs: apiDown?.to !== undefined ? apiDown.to - apiDown.from : null,
      operatorLives: op.lives.length,
      operatorSelfExits: op.selfExits.length,
      calls: { total: calls.all, perMinute: callsReadyPhase.all / Math.max(minutes, 1 / 60), limit429: callsReadyPhase.limit429, injected429: callsReadyPhase.injected429, failed: callsReadyPhase.failed, aboutReadyObjects: onReady.length },
      deleteMs: deletedAt === undefined ? null : deletedAt - deleteFrom,
      losses: Object.fromEntries(Object.entries(losses).map(([k, f]) => [k, f.length])),
      findings: Object.fromEntries(Object.entries(losses).map(([k, f]) => [k, f.map((x) => x.what)])),
      ok,
    };
  } finally {
    for (const t of timers) clearInterval(t);
    await operator?.stop().catch(() => undefined);
    await emulator?.stop().catch(() => undefined);
    await cp?.stop();
    if (!keepLogs) rmSync(workDir, { recursive: true, force: true });
  }
}

try {
  const results = await main();
  if (flags.json) writeFileSync(flags.json, JSON.stringify(results, null, 1));
  process.exit(results.ok ? 0 : 1);
} catch (err) {
  process.stderr.write(`chaos failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(3);
}
