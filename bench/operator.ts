/**
 * `npm run bench:operator`: the whole operator (`node src/main.ts`) on the local control plane against the Neon
 * emulator at Neon's real limits (700 calls/min per account, 40/s per route) and its default operation
 * durations. A measurement, not a test: it prints numbers and fails only when the run itself breaks.
 *
 *   npm run bench:operator [-- --groups 500 --projects 10]     apply → Ready, restart, one resync round
 *   npm run bench:operator -- --apply-only                      apply → Ready only (a few minutes, not ~35)
 *   npm run bench:operator -- --cli-peer [--groups 100]         the same branches through a neonctl shell loop
 *
 * `--help` lists every flag. With E2E_USE_EXISTING_CLUSTER=1 and KUBECONFIG it uses that cluster instead of
 * starting one (its namespace is left behind for a look).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { API_GROUP, API_VERSION } from '../src/api/index.ts';
import { resourceTypes } from '../src/controllers/index.ts';
import { httpTransport, KubeClient, type KubeObject } from '../src/runtime/index.ts';
import { startControlPlane, type ControlPlane } from '../test/controlplane/harness.ts';
import { freePort, httpGet, OperatorProcess } from '../test/e2e/shipping/operator-process.ts';
import { DEFAULT_DURATIONS, startEmulator, type EmulatorHandle, type RequestLogEntry } from '../test/emulator/server.ts';
import {
  applyAll,
  groupObjects,
  machineLine,
  newNamespace,
  pad,
  projectName,
  routeTable,
  projectObjects,
  isReady,
  sumOfMetric,
  type Cluster,
  type ReadyObject,
} from './fleet.ts';
import {
  callsPerHourAtDefaultPeriod,
  classifyRoute,
  formatTable,
  NEON_CALLS_PER_SECOND,
  physicalBound,
  ratio,
  type Workload,
} from './operator-bound.ts';

const repoRoot = resolve(import.meta.dirname, '..');

const usage = `Usage: npm run bench:operator [-- options]

Starts the local control plane, the Neon emulator at Neon's real limits and default operation durations, and
the operator (node src/main.ts); applies branch groups (NeonBranch + read_write NeonEndpoint + NeonRole with
its Secret + NeonDatabase) over NeonProjects and prints, as tables: apply → all Ready against the physical
bound, Neon calls by route against the necessary minimum, 429s, the operator's RSS and reconciles; then the
calls of the first minute after a restart, the time until a changed object is served, and one resync round.

Options:
  --groups N              branch groups (default 500; 100 with --cli-peer)
  --projects N            NeonProjects the groups are spread over, round-robin (default 10)
  --resync-seconds N      --resync-period of the restarted operator, whose second round is the measured
                          resync (default: time for 3 Neon calls per object at 11.67/s, at least 30)
  --startup-window N      seconds after the restart whose Neon calls are counted (default 60)
  --timeout N             seconds to wait for all Ready per phase (default 3600)
  --operator-arg ARG      an extra flag for the operator, repeatable (e.g. --operator-arg=--concurrency=8)
  --apply-only            stop after the apply → all Ready tables (no restart, no resync round): a quick look
                          at wall time, calls and the operator's memory
  --keep-logs             keep the operator's logs (their directory is printed) even when the run succeeds, with
                          every request Neon saw and every operation it ran (neon-requests.jsonl,
                          neon-operations.jsonl) for a look at the timeline
  --cli-peer              instead: the same branches with computes and roles created by a shell loop over the
                          official neonctl, over --projects projects and over one, against the operator
  -h, --help              this help
`;

// ---- flags -----------------------------------------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    groups: { type: 'string' },
    projects: { type: 'string', default: '10' },
    'resync-seconds': { type: 'string' },
    'startup-window': { type: 'string', default: '60' },
    timeout: { type: 'string', default: '3600' },
    'operator-arg': { type: 'string', multiple: true, default: [] },
    'cli-peer': { type: 'boolean', default: false },
    'apply-only': { type: 'boolean', default: false },
    'keep-logs': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(usage);
  process.exit(0);
}

function wholeNumber(flag: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`bench: --${flag} expects a whole number ≥ ${String(min)}, got "${raw}"\n`);
    process.exit(2);
  }
  return n;
}

const CLI_PEER = flags['cli-peer'];
const GROUPS = wholeNumber('groups', flags.groups, 1) ?? (CLI_PEER ? 100 : 500);
const PROJECTS = wholeNumber('projects', flags.projects, 1) ?? 10;
const STARTUP_WINDOW_MS = (wholeNumber('startup-window', flags['startup-window'], 1) ?? 60) * 1000;
const TIMEOUT_MS = (wholeNumber('timeout', flags.timeout, 1) ?? 3600) * 1000;
const RESYNC_SECONDS = wholeNumber('resync-seconds', flags['resync-seconds'], 5);
if (PROJECTS > GROUPS) {
  process.stderr.write(`bench: --projects (${String(PROJECTS)}) must not exceed --groups (${String(GROUPS)})\n`);
  process.exit(2);
}

// ---- output ----------------------------------------------------------------------------------------------

const say = (line = ''): void => void process.stdout.write(`${line}\n`);
/** Progress goes to stderr, so stdout holds only the tables. */
const progress = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);
const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const n = (x: number): string => Math.round(x).toLocaleString('en-US');
const mb = (kb: number): string => `${n(kb / 1024)} MB`;


/** Ready at its current generation, by kind, until all `expected` are; resolves with the time it saw that. */
async function waitAllReady(cluster: Cluster, namespace: string, expected: number, operator: OperatorProcess, what: string): Promise<number> {
  const deadline = Date.now() + TIMEOUT_MS;
  let lastReport = 0;
  for (;;) {
    let ready = 0;
    for (const type of Object.values(resourceTypes)) {
      const list = await cluster.kube.list<ReadyObject>(type, namespace);
      ready += list.items.filter(isReady).length;
    }
    if (ready >= expected) return Date.now();
    if (operator.child.exitCode !== null || operator.child.signalCode !== null) throw new Error(`the operator stopped before ${what} was Ready`);
    if (Date.now() > deadline) throw new Error(`timed out: ${String(ready)} of ${String(expected)} objects Ready (${what})`);
    if (Date.now() - lastReport > 30_000) {
      lastReport = Date.now();
      progress(`${what}: ${String(ready)}/${String(expected)} Ready`);
    }
    await sleep(2_000);
  }
}

// ---- the operator ----------------------------------------------------------------------------------------

interface RunningOperator {
  process: OperatorProcess;
  metricsUrl: string;
  startedAt: number;
  /** From the spawn until /readyz answered 200 (informers synced). */
  readyMs: number;
  /** Highest VmRSS seen by sampling every second (kB). */
  peakRssKb: () => number;
  stop: () => Promise<number>;
}

function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
    return Number(m?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function startOperator(cluster: Cluster, opts: { namespace: string; emulator: EmulatorHandle; apiKey: string; workDir: string; extraArgs?: string[] }): Promise<RunningOperator> {
  const port = await freePort();
  const child = new OperatorProcess({
    cwd: repoRoot,
    node: process.execPath,
    args: [
      '--kubeconfig', cluster.cp.kubeconfigPath,
      '--neon-api-url', opts.emulator.url,
      '--namespaces', opts.namespace,
      '--metrics-port', String(port),
      '--log-level', 'warn',
      ...(opts.extraArgs ?? []),
      ...(flags['operator-arg'] ?? []),
    ],
    env: { ...process.env, NEON_API_KEY: opts.apiKey },
    logFile: join(opts.workDir, `operator-${opts.namespace}.log`),
  });
  const startedAt = Date.now();
  const base = `http://127.0.0.1:${String(port)}`;
  // Measured from when the operator is ready (informers synced), so start-up is not counted as work.
  const deadline = Date.now() + 120_000;
  while ((await httpGet(`${base}/readyz`))?.status !== 200) {
    if (child.child.exitCode !== null) throw new Error(`the operator exited at start: ${child.rawOutput.slice(-5).join('\n')}`);
    if (Date.now() > deadline) throw new Error('the operator did not become ready within 120 s');
    await sleep(200);
  }
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, procStatusKb(child.pid, 'VmRSS'))), 1_000);
  return {
    process: child,
    metricsUrl: `${base}/metrics`,
    startedAt,
    readyMs: Date.now() - startedAt,
    peakRssKb: () => Math.max(peak, procStatusKb(child.pid, 'VmRSS')),
    async stop() {
      clearInterval(sampler);
      const t = Date.now();
      await child.stop('SIGTERM');
      return Date.now() - t;
    },
  };
}

/** Sum of a counter over its labels on the operator's /metrics. */
async function metricSum(op: RunningOperator, name: string): Promise<number> {
  const res = await httpGet(op.metricsUrl);
  if (res?.status !== 200) throw new Error(`the operator's /metrics did not answer (${String(res?.status ?? 'no answer')})`);
  return sumOfMetric(res.body, name);
}

const reconciles = (op: RunningOperator): Promise<number> => metricSum(op, 'neon_operator_reconcile_total');

// ---- Neon's side -----------------------------------------------------------------------------------------

/** The emulator's log of one account, from index `from`. */
function callsOf(emulator: EmulatorHandle, account: string, from = 0, until = Number.POSITIVE_INFINITY): RequestLogEntry[] {
  return emulator.requests.slice(from).filter((r) => r.account === account && r.time < until);
}

function callSummary(calls: readonly RequestLogEntry[]): { total: number; reads: number; polls: number; mutations: number; throttled: number } {
  const out = { total: calls.length, reads: 0, polls: 0, mutations: 0, throttled: 0 };
  for (const c of calls) {
    const cls = classifyRoute(c.route ?? `${c.method} ?`);
    if (cls === 'mutation') out.mutations++;
    else {
      out.reads++;
      if (cls === 'operation poll') out.polls++;
    }
    if (c.status === 429) out.throttled++;
  }
  return out;
}

/** The moment the last operation Neon ran for the account ends (ms), or 0. */
function lastOperationEnd(emulator: EmulatorHandle, account: string): number {
  let end = 0;
  for (const project of emulator.state.projectsOf(account)) for (const op of project.operations) end = Math.max(end, op.endAt);
  return end;
}

/** Waits until no call of the account reached Neon for `quietMs`; resolves with the time of the last call. */
async function quietSince(emulator: EmulatorHandle, account: string, from: number, quietMs: number, deadline: number): Promise<number> {
  for (;;) {
    const last = callsOf(emulator, account, from).at(-1)?.time ?? 0;
    if (Date.now() - last >= quietMs || Date.now() > deadline) return last;
    await sleep(500);
  }
}

function boundLines(w: Workload): { text: string; boundMs: number; necessary: number } {
  const b = physicalBound(w, DEFAULT_DURATIONS);
  const d = DEFAULT_DURATIONS;
  const perGroup = `create_branch ${String(d.create_branch)} + start_compute ${String(d.start_compute)} + ${w.withDatabase ? '2 × ' : ''}apply_config ${String(d.apply_config)}`;
  const text = [
    `  = max(${n(b.necessaryCalls)} necessary calls ÷ ${NEON_CALLS_PER_SECOND.toFixed(2)}/s = ${s(b.rateBoundMs)},`,
    `        busiest project's serialized Neon operations ${s(b.serializedMs)}: ${String(b.busiestGroups)} groups × (${perGroup}) ms` +
      (w.createsProjects ? ` + project create_timeline ${String(d.create_timeline)} + start_compute ${String(d.start_compute)} ms)` : ')'),
    `  necessary calls: per group one branch create carrying its read_write compute (endpoints[]), one role create` +
      (w.withDatabase ? ', one database create' : ''),
    `  ${w.createsProjects ? '+ one create per project; ' : ''}no reads: every answer needed comes with the mutation, and one operations list per`,
    `  project can answer all its waiters, so unavoidable polls tend to zero per object (see bench/operator-bound.ts)`,
  ].join('\n');
  return { text, boundMs: b.boundMs, necessary: b.necessaryCalls };
}

// ---- the phases ------------------------------------------------------------------------------------------

const ACCOUNT_KEY = 'bench-operator-key-0123456789';

async function benchFleet(cluster: Cluster, emulator: EmulatorHandle, workDir: string): Promise<void> {
  const w: Workload = { groups: GROUPS, projects: PROJECTS, withDatabase: true, createsProjects: true };
  const account = emulator.accountOf(ACCOUNT_KEY);
  const namespace = await newNamespace(cluster, 'bench');
  const objects = [...projectObjects(w), ...groupObjects(w)];
  const objectCount = objects.length;

  progress(`namespace ${namespace}: starting the operator`);
  const first = await startOperator(cluster, { namespace, emulator, apiKey: ACCOUNT_KEY, workDir });
  say(machineLine());
  const from = emulator.requests.length;
  const appliedAt = Date.now();
  progress(`applying ${String(objectCount)} objects`);
  await applyAll(cluster, namespace, objects);
  const applyMs = Date.now() - appliedAt;
  const readyAt = await waitAllReady(cluster, namespace, objectCount, first.process, 'the fleet');
  const wallMs = readyAt - appliedAt;
  const calls = callsOf(emulator, account, from, readyAt);
  const sum = callSummary(calls);
  const reconcileCount = await reconciles(first);
  const rssKb = procStatusKb(first.process.pid, 'VmRSS');
  const hwmKb = procStatusKb(first.process.pid, 'VmHWM');
  const bound = boundLines(w);

  say();
  say(`== ${n(GROUPS)} branch groups (NeonBranch + NeonEndpoint read_write + NeonRole with Secret + NeonDatabase) over ${n(PROJECTS)} NeonProjects: ${n(objectCount)} objects, applied at once`);
  say(formatTable([
    ['apply → all Ready', s(wallMs), `(the apply itself took ${s(applyMs)})`],
    ['physical bound', s(bound.boundMs), ''],
    ['wall ÷ bound', ratio(wallMs, bound.boundMs), ''],
    ['Neon calls', n(sum.total), `reads ${n(sum.reads)} (operation polls ${n(sum.polls)}), mutations ${n(sum.mutations)}`],
    ['necessary calls', n(bound.necessary), ''],
    ['calls ÷ necessary', ratio(sum.total, bound.necessary), `(mutations ÷ necessary ${ratio(sum.mutations, bound.necessary)})`],
    ['429 answers', n(sum.throttled), ''],
    ['operator RSS / HWM', `${mb(rssKb)} / ${mb(hwmKb)}`, `(/proc/<pid>/status VmRSS at all Ready / VmHWM; sampled peak ${mb(first.peakRssKb())})`],
    ['reconciles', n(reconcileCount), `(${(reconcileCount / objectCount).toFixed(1)} per object; neon_operator_reconcile_total)`],
  ], 'lrl'));
  say(bound.text);
  say();
  say(routeTable(calls));
  if (flags['apply-only']) {
    await first.stop();
    return;
  }

  // -- restart: stop, change one object the operator must act on, start again --------------------------------
  const stopMs = await first.stop();
  // The last group alphabetically: an operator that re-observes everything in order serves it last.
  const changed = `b-${pad(GROUPS - 1, 4)}`;
  const patched = await cluster.kube.patch<KubeObject>(resourceTypes.branch, { namespace, name: changed }, { spec: { protected: true } }, { type: 'merge' });
  const generation = patched.metadata?.generation;
  const resyncSeconds = RESYNC_SECONDS ?? Math.max(30, Math.ceil((3 * objectCount) / NEON_CALLS_PER_SECOND));
  progress(`restarting the operator with --resync-period ${String(resyncSeconds)}s --resync-jitter 0`);
  const restartFrom = emulator.requests.length;
  const second = await startOperator(cluster, {
    namespace,
    emulator,
    apiKey: ACCOUNT_KEY,
    workDir,
    extraArgs: ['--resync-period', `${String(resyncSeconds)}s`, '--resync-jitter', '0'],
  });
  // Counted from readiness (informers synced), so how long Node takes to load on a busy machine is not in it.
  const t0 = second.startedAt + second.readyMs;
  let servedMs: number | undefined;
  const servedDeadline = Date.now() + TIMEOUT_MS;
  while (servedMs === undefined && Date.now() < servedDeadline) {
    const obj = await cluster.kube.get<ReadyObject>(resourceTypes.branch, { namespace, name: changed });
    const ready = obj?.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True' && ready.observedGeneration === generation) servedMs = Date.now() - t0;
    else await sleep(250);
  }
  const reconcilesAtServed = await reconciles(second);
  if (Date.now() < t0 + STARTUP_WINDOW_MS) await sleep(t0 + STARTUP_WINDOW_MS - Date.now());
  const startupCalls = callsOf(emulator, account, restartFrom, t0 + STARTUP_WINDOW_MS);
  const startup = callSummary(startupCalls);

  // The start round is every object reconciled once; it is over when that count is reached and Neon is quiet.
  const resyncMs = resyncSeconds * 1000;
  const roundDeadline = t0 + resyncMs;
  while ((await reconciles(second)) < objectCount && Date.now() < roundDeadline) await sleep(1_000);
  const roundEnd = await quietSince(emulator, account, restartFrom, 3_000, roundDeadline);
  const startRound = callSummary(callsOf(emulator, account, restartFrom, roundEnd + 1));
  const startRoundMs = roundEnd - t0;

  // With jitter 0 each object is reconciled again exactly one period after its start-round reconcile, so a
  // window of one period that begins when the start round is over holds each object's resync exactly once,
  // as long as the start round was shorter than the period (checked and printed below).
  const windowStart = roundEnd + 1;
  const grace = Math.max(0, Math.min(15_000, (resyncMs - startRoundMs) / 2));
  const windowEnd = windowStart + resyncMs + grace;
  const reconcilesBefore = await reconciles(second);
  progress(`start round over after ${s(startRoundMs)}; measuring one resync round until ${new Date(windowEnd).toISOString()}`);
  await sleep(windowEnd - Date.now());
  const resyncCalls = callsOf(emulator, account, restartFrom, windowEnd).filter((c) => c.time >= windowStart);
  const resync = callSummary(resyncCalls);
  const resyncReconciles = (await reconciles(second)) - reconcilesBefore;
  const rss2 = procStatusKb(second.process.pid, 'VmRSS');
  const hwm2 = procStatusKb(second.process.pid, 'VmHWM');
  await second.stop();

  say();
  say(`== Restart of the Ready fleet: SIGTERM (exit after ${s(stopMs)}), NeonBranch ${changed} spec changed (protected: true) while stopped, started again`);
  say("   right away, so Neon's per-minute window still holds the calls of the operator's last minute before the stop");
  say(formatTable([
    ['operator ready (/readyz)', `${s(second.readyMs)} after spawn`, '(the times below count from ready)'],
    [`Neon calls in the first ${s(STARTUP_WINDOW_MS)}`, n(startup.total), `reads ${n(startup.reads)}, 429s ${n(startup.throttled)}`],
    [`changed ${changed} served (Ready at generation ${String(generation ?? '?')})`, servedMs === undefined ? 'never' : s(servedMs), `(${n(reconcilesAtServed)} reconciles by then)`],
    ['start round: every object reconciled once', `${s(startRoundMs)}`, `${n(startRound.total)} calls (${(startRound.total / objectCount).toFixed(2)} per object)`],
  ], 'lrl'));
  if (startup.total > 0) {
    say();
    say(routeTable(startupCalls));
  }
  say();
  say(`== One resync round of the Ready fleet: operator run with --resync-period ${String(resyncSeconds)}s --resync-jitter 0; calls counted in`);
  say(`   one period (+${s(grace)} grace) starting once the start round is over, so each object's resync falls in it once`);
  say(formatTable([
    ['Neon calls in one round', n(resync.total), `reads ${n(resync.reads)} (operation polls ${n(resync.polls)}), mutations ${n(resync.mutations)}, ${(resync.total / objectCount).toFixed(2)} per object`],
    ['reconciles in the window', n(resyncReconciles), `(${n(objectCount)} objects${startRoundMs >= resyncMs ? '; WARNING: the start round outlasted the period, raise --resync-seconds' : ''})`],
    ['calls/hour at the default 10 min', n(callsPerHourAtDefaultPeriod(resync.total)), '(6 rounds an hour)'],
    ['operator RSS / HWM', `${mb(rss2)} / ${mb(hwm2)}`, '(after the round)'],
  ], 'lrl'));
  if (resync.total > 0) {
    say();
    say(routeTable(resyncCalls));
  }
}

// ---- --cli-peer: a shell loop over neonctl against the operator --------------------------------------------

/** The loop a user would write: per branch, create it (with its read_write compute, neonctl's default) and a role. */
const CLI_LOOP = `set -u
fails=0
while read -r project branch role; do
  "$NODE" "$NEONCTL" --no-analytics --output json --config-dir "$CONFIG_DIR" branches create --project-id "$project" --name "$branch" >/dev/null 2>>"$ERRORS" || fails=$((fails+1))
  "$NODE" "$NEONCTL" --no-analytics --output json --config-dir "$CONFIG_DIR" roles create --project-id "$project" --branch "$branch" --name "$role" >/dev/null 2>>"$ERRORS" || fails=$((fails+1))
done < "$PLAN"
echo "$fails"
`;

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.once('error', reject);
    child.once('exit', (code) => resolveRun({ code, stdout }));
  });
}

const createdProjectSchema = z.object({ project: z.object({ id: z.string().regex(/^[a-z0-9-]+$/) }) });

interface PeerResult {
  ms: number;
  calls: number;
  failed: number;
}

async function cliRun(emulator: EmulatorHandle, w: Workload, workDir: string): Promise<PeerResult> {
  const key = `bench-cli-${String(w.projects)}-0123456789`;
  const account = emulator.accountOf(key);
  const dir = mkdtempSync(join(workDir, 'cli-'));
  const env = {
    ...process.env,
    NEON_API_HOST: emulator.url,
    NEON_API_KEY: key,
    // The CLI's own script run by this Node: \`node\` on PATH may be another version.
    NODE: process.execPath,
    NEONCTL: join(repoRoot, 'node_modules', 'neonctl', 'bin', 'cli.js'),
    CONFIG_DIR: dir,
    ERRORS: join(dir, 'errors.log'),
    PLAN: join(dir, 'plan'),
  };
  // Projects exist before the timed loop, as the operator's NeonProjects are Ready before its timed apply.
  const ids: string[] = [];
  for (let p = 0; p < w.projects; p++) {
    const created = await run(env.NODE, [env.NEONCTL, '--no-analytics', '--output', 'json', '--config-dir', dir, 'projects', 'create', '--name', `cli-${projectName(p)}`, '--region-id', 'aws-us-east-2'], env);
    let parsed: ReturnType<typeof createdProjectSchema.safeParse> | undefined;
    try {
      parsed = createdProjectSchema.safeParse(JSON.parse(created.stdout));
    } catch {
      parsed = undefined;
    }
    if (created.code !== 0 || !parsed?.success) throw new Error(`neonctl projects create failed (exit ${String(created.code)})`);
    ids.push(parsed.data.project.id);
  }
  while (lastOperationEnd(emulator, account) > Date.now()) await sleep(200);
  writeFileSync(env.PLAN, Array.from({ length: w.groups }, (_, i) => `${ids[i % w.projects] ?? ''} b-${pad(i, 4)} r_${pad(i, 4)}`).join('\n') + '\n');
  const from = emulator.requests.length;
  const t0 = Date.now();
  const loop = await run('bash', ['-c', CLI_LOOP], env);
  const loopEnd = Date.now();
  // Done when Neon has finished what the loop started (computes running), as the operator's Ready means.
  const done = Math.max(loopEnd, lastOperationEnd(emulator, account));
  if (done > Date.now()) await sleep(done - Date.now());
  const failed = Number(loop.stdout.trim() || '0');
  if (failed > 0) progress(`neonctl gave up ${String(failed)} times; its last words: ${readFileSync(env.ERRORS, 'utf8').trim().split('\n').at(-1) ?? ''}`);
  return { ms: done - t0, calls: callsOf(emulator, account, from).length, failed };
}

async function operatorRun(cluster: Cluster, emulator: EmulatorHandle, w: Workload, workDir: string): Promise<PeerResult> {
  const key = `bench-op-${String(w.projects)}-0123456789`;
  const account = emulator.accountOf(key);
  const namespace = await newNamespace(cluster, `bench-peer-${String(w.projects)}`);
  const op = await startOperator(cluster, { namespace, emulator, apiKey: key, workDir });
  try {
    await applyAll(cluster, namespace, projectObjects(w));
    await waitAllReady(cluster, namespace, w.projects, op.process, 'the projects');
    const groups = groupObjects(w);
    const from = emulator.requests.length;
    const t0 = Date.now();
    await applyAll(cluster, namespace, groups);
    const readyAt = await waitAllReady(cluster, namespace, w.projects + groups.length, op.process, 'the branches');
    const calls = callsOf(emulator, account, from, readyAt);
    return { ms: readyAt - t0, calls: calls.length, failed: calls.filter((c) => c.status === 0 || c.status >= 400).length };
  } finally {
    await op.stop();
  }
}

async function benchCliPeer(cluster: Cluster, emulator: EmulatorHandle, workDir: string): Promise<void> {
  say(machineLine());
  const rows: string[][] = [['workload', 'CLI loop', 'operator', 'bound', 'CLI ÷ operator', 'operator ÷ bound', 'calls CLI', 'calls operator', 'failed CLI/op']];
  const spreads = [...new Set([PROJECTS, 1])];
  for (const projects of spreads) {
    const w: Workload = { groups: GROUPS, projects, withDatabase: false, createsProjects: false };
    progress(`${String(GROUPS)} branches over ${String(projects)} projects: neonctl loop`);
    const cli = await cliRun(emulator, w, workDir);
    progress(`${String(GROUPS)} branches over ${String(projects)} projects: operator`);
    const op = await operatorRun(cluster, emulator, w, workDir);
    const b = physicalBound(w, DEFAULT_DURATIONS);
    rows.push([
      `${n(GROUPS)} branches / ${n(projects)} project${projects === 1 ? '' : 's'}`,
      s(cli.ms),
      s(op.ms),
      s(b.boundMs),
      ratio(cli.ms, op.ms),
      ratio(op.ms, b.boundMs),
      n(cli.calls),
      n(op.calls),
      `${n(cli.failed)}/${n(op.failed)}`,
    ]);
  }
  say();
  say(`== ${n(GROUPS)} branches with a read_write compute and a role each (the operator: NeonBranch + NeonEndpoint + NeonRole with Secret),`);
  say('   projects created beforehand; the CLI: a bash loop, per branch `neonctl branches create` (compute included) and `neonctl roles create`');
  say(formatTable(rows));
  say('   times run until Neon finished the operations (CLI) or all objects are Ready (operator); bound = max(2 necessary calls per branch ÷ 11.67/s,');
  say(`   busiest project's serialized operations: create_branch + start_compute + apply_config per branch); failed = CLI commands that gave up / non-2xx answers to the operator`);
}

function writeNeonLog(emulator: EmulatorHandle, workDir: string): void {
  const lines = emulator.requests.map((r) => JSON.stringify({ t: r.time, account: r.account, method: r.method, route: r.route, status: r.status, path: r.path }));
  writeFileSync(join(workDir, 'neon-requests.jsonl'), lines.join('\n') + '\n');
  const ops: string[] = [];
  const accounts = new Set(emulator.requests.map((r) => r.account).filter((a) => a !== undefined));
  for (const account of accounts) {
    for (const project of emulator.state.projectsOf(account)) {
      for (const op of project.operations) {
        ops.push(JSON.stringify({ account, project: project.id, id: op.id, action: op.action, branch: op.branchId, createdAt: op.createdAt, startAt: op.startAt, endAt: op.endAt }));
      }
    }
  }
  writeFileSync(join(workDir, 'neon-operations.jsonl'), ops.join('\n') + '\n');
}

// ---- main ------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), 'neon-operator-bench-'));
  let cp: ControlPlane | undefined;
  let emulator: EmulatorHandle | undefined;
  let finished = false;
  try {
    progress('starting the control plane');
    cp = await startControlPlane({ log: (line) => progress(line) });
    await cp.installCrds(join(repoRoot, 'crds'));
    const cluster: Cluster = { cp, kube: new KubeClient(httpTransport(cp.kubeconfig, { userAgent: 'neon-operator-bench' })) };
    // Neon's real limits and operation durations (the emulator's defaults); no response validation, so the
    // emulator costs as little CPU as it can on a machine the operator shares.
    emulator = await startEmulator({ seed: 8, validateResponses: false, maxLogEntries: 10_000_000 });
    say(`neon-operator benchmark (${API_GROUP}/${API_VERSION}), emulator at 700 calls/min and 40/s per route, default operation durations`);
    if (CLI_PEER) await benchCliPeer(cluster, emulator, workDir);
    else await benchFleet(cluster, emulator, workDir);
    finished = true;
  } finally {
    // For a closer look at the timeline: every request Neon saw and every operation it ran, one JSON per line.
    if (emulator && flags['keep-logs']) writeNeonLog(emulator, workDir);
    await emulator?.stop();
    await cp?.stop();
    // The operator's logs stay when something broke: they say why.
    if (finished && !flags['keep-logs']) rmSync(workDir, { recursive: true, force: true });
    else progress(`operator logs kept in ${workDir}`);
  }
}

try {
  await main();
  process.exit(0);
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
