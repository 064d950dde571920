/**
 * `npm run demo`: the operator end to end on one machine, with nothing but Node and (for the first run) Go.
 *
 *   1. builds or reuses the local control plane (etcd, kube-apiserver, kube-controller-manager),
 *   2. starts it, installs the CRDs, starts the Neon API emulator (operations take a second or two),
 *   3. runs the operator as a child process (`node src/main.ts`) against both,
 *   4. applies examples/basic/ all at once, prints progress as `kubectl get neon` shows it until every
 *      object is Ready,
 *   5. prints what an application sees: the connection Secrets' keys and values, passwords masked,
 *   6. logs in as the application does, with its Secret's uri (the emulator has a real Postgres behind
 *      every branch), and prints the answer to `select current_user, current_database(), version()`,
 *   7. stops everything (no stray processes, no temp folders), or with --keep waits for Ctrl-C.
 *
 * With KUBECONFIG and NEON_API_KEY both set, it uses that cluster and that Neon account instead (nothing is
 * started but the operator; NEON_API_URL overrides the Neon API URL) and deletes what it created at the end.
 * The login then goes where the Secret says, as libpq would: PGHOSTADDR and PGSSLROOTCERT are honoured.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { z } from 'zod';
import { allKinds } from '../src/api/index.ts';
import { API_GROUP, API_VERSION } from '../src/api/index.ts';
import { DEFAULT_NEON_BASE_URL } from '../src/neon/index.ts';
import type { ComputeAccess } from '../test/emulator/server.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const NAMESPACE = 'neon-demo';
const FIELD_MANAGER = 'neon-operator-demo';
/** The emulator treats every API key as its own account; the operator and neonctl must use the same one. */
const EMULATOR_API_KEY = 'neon-demo-api-key';
/** Realistic, shortened Neon operation durations (ms): a project takes ~2 s, a branch compute ~1.5 s. */
const EMULATOR_DURATIONS = {
  create_timeline: 1_200,
  create_branch: 300,
  start_compute: 1_000,
  suspend_compute: 300,
  apply_config: 150,
  delete_timeline: 300,
};

const usage = `Usage: npm run demo [-- options]

Runs the operator end to end: a local Kubernetes control plane, the Neon API emulator, the operator,
and the manifests of examples/basic/, until everything is Ready; then prints the connection Secrets
(passwords masked) and stops everything.

Options:
  --keep              keep everything running until Ctrl-C (prints the kubeconfig for kubectl and the
                      emulator URL for neonctl)
  --examples DIR      manifests to apply (default examples/basic)
  --timeout SECONDS   how long to wait for Ready (default 180; 900 against the real Neon API)
  -h, --help          this help

Environment:
  KUBECONFIG + NEON_API_KEY   both set: use this cluster (current context) and this Neon API key instead
                              of the local control plane and the emulator; the demo's objects are deleted
                              at the end (the example project has deletionPolicy: Delete)
  NEON_API_URL                the Neon API the operator calls in that mode (default: Neon's)
  PGHOSTADDR, PGSSLROOTCERT   in that mode, where the final login connects and which CA it trusts
                              (as for libpq; default: the Secret's host and the system's CAs)
`;

// ---- output ---------------------------------------------------------------------------------------------

const started = Date.now();
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;
const elapsed = (): string => seconds(Date.now() - started);
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const step = (line: string): void => say(`\n==> ${line}`);

// ---- cleanup: everything started registers how to stop it; stopped in reverse order, once ------------------

type Cleanup = { name: string; run: () => Promise<void> | void };
const cleanups: Cleanup[] = [];
let shuttingDown: Promise<void> | undefined;

function shutdown(): Promise<void> {
  shuttingDown ??= (async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c.run();
      } catch (err) {
        process.stderr.write(`demo: stopping ${c.name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  })();
  return shuttingDown;
}

// Sync safety net: if the process exits any other way, no operator process is left behind.
const childGroups = new Set<number>();
process.on('exit', () => {
  for (const pgid of childGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

let interrupted: (() => void) | undefined;
const interruptedPromise = new Promise<void>((r) => (interrupted = r));
let signals = 0;
function onSignal(signal: NodeJS.Signals): void {
  signals++;
  if (signals > 1) {
    process.stderr.write(`\ndemo: second ${signal}, exiting now\n`);
    process.exit(130);
  }
  // Stop the operator first (synchronously): the control-plane harness's own handler, which runs right
  // after this one, kills the control plane at once.
  for (const pgid of childGroups) {
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  say(`\n${signal} received: stopping`);
  interrupted?.();
}
// Prepended so it runs before the harness's handlers (installed later, when the control plane starts).
process.prependListener('SIGINT', onSignal);
process.prependListener('SIGTERM', onSignal);

// ---- the Kubernetes API, as the demo needs it ----------------------------------------------------------------

interface Kube {
  kubeconfig: KubeConfig;
  request(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, options?: { accept?: string; body?: unknown; contentType?: string; query?: Record<string, string> }): Promise<{ status: number; body: unknown }>;
}

function kubeFor(kubeconfigPath: string | undefined): Kube {
  const kubeconfig = new KubeConfig();
  if (kubeconfigPath) kubeconfig.loadFromFile(kubeconfigPath);
  else kubeconfig.loadFromDefault();
  const cluster = kubeconfig.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  return {
    kubeconfig,
    async request(method, path, options = {}) {
      const url = new URL(cluster.server.replace(/\/$/, '') + path);
      for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
      const ctx = new RequestContext(url.toString(), method as HttpMethod);
      await kubeconfig.applySecurityAuthentication(ctx);
      const headers: Record<string, string> = { ...ctx.getHeaders(), accept: options.accept ?? 'application/json' };
      if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
      const dispatcher = ctx.getDispatcher();
      const res = await fetch(url, {
        method,
        headers,
        ...(dispatcher ? { dispatcher } : {}),
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      return { status: res.status, body };
    },
  };
}

async function kubeOk(kube: Kube, ...args: Parameters<Kube['request']>): Promise<unknown> {
  const res = await kube.request(...args);
  if (res.status >= 300) {
    const message = z.object({ message: z.string() }).safeParse(res.body);
    throw new Error(`${args[0]} ${args[1]}: HTTP ${String(res.status)}${message.success ? `: ${message.data.message}` : ''}`);
  }
  return res.body;
}

const kinds = allKinds.map((k) => ({ kind: k.kind, plural: k.plural }));
const collectionPath = (plural: string, namespace: string): string =>
  `/apis/${API_GROUP}/${API_VERSION}/namespaces/${namespace}/${plural}`;

// ---- steps ------------------------------------------------------------------------------------------------------

/** Builds the control-plane binaries when Go is available (a no-op when up to date), else reuses what exists. */
async function ensureControlPlaneBinaries(): Promise<void> {
  const hasGo = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
  const { binaryPath } = await import('../test/controlplane/binaries.ts');
  const names = ['etcd', 'kube-apiserver', 'kube-controller-manager'] as const;
  if (hasGo) {
    step('Control plane binaries (built once from pinned Go modules, then reused from .cache/controlplane)');
    const build = spawnSync('bash', [join(repoRoot, 'test/controlplane/build.sh'), '--only', names.join(',')], {
      cwd: repoRoot,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (build.status !== 0) throw new Error('building the control plane failed (see above)');
    return;
  }
  try {
    const paths = names.map((n) => binaryPath(n));
    step(`Control plane binaries: reusing ${paths.map((p) => relative(repoRoot, p)).join(', ')} (no Go toolchain found)`);
  } catch (err) {
    throw new Error(
      `the control plane binaries are missing and Go is not installed: install Go (see README) or set KUBEBUILDER_ASSETS.\n${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolvePort(port));
    });
  });
}

interface OperatorProcess {
  readonly pid: number;
  readonly logFile: string;
  readonly metricsUrl: string;
  /** Resolves with how it ended, if it ends. */
  readonly exited: Promise<string>;
  exitStatus(): string | undefined;
  stop(): Promise<void>;
}

/** Runs `node src/main.ts` in its own process group, output to a log file. */
async function startOperator(opts: { kubeconfigPath: string | undefined; neonApiUrl: string | undefined; apiKey: string; workDir: string }): Promise<OperatorProcess> {
  const logFile = join(opts.workDir, 'operator.log');
  const metricsPort = await freePort();
  const args = [
    join(repoRoot, 'src/main.ts'),
    ...(opts.kubeconfigPath ? ['--kubeconfig', opts.kubeconfigPath] : []),
    ...(opts.neonApiUrl ? ['--neon-api-url', opts.neonApiUrl] : []),
    '--namespaces',
    NAMESPACE,
    '--metrics-port',
    String(metricsPort),
    // Resync fast enough that a change made in the emulator behind the operator's back is repaired while you watch.
    '--resync-period',
    '60s',
    '--log-level',
    'info',
  ];
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, args, {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, NEON_API_KEY: opts.apiKey, ...(opts.kubeconfigPath ? { KUBECONFIG: opts.kubeconfigPath } : {}) },
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the operator');
  childGroups.add(pid);
  let status: string | undefined;
  const exited = new Promise<string>((resolveExit) => {
    child.once('exit', (code, signal) => {
      status = signal ? `signal ${signal}` : `exit code ${String(code)}`;
      childGroups.delete(pid);
      resolveExit(status);
    });
  });
  return {
    pid,
    logFile,
    metricsUrl: `http://127.0.0.1:${String(metricsPort)}/metrics`,
    exited,
    exitStatus: () => status,
    async stop() {
      if (status !== undefined) return;
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        return;
      }
      // The operator drains in-flight reconciles (20 s at most) and releases its lease on SIGTERM.
      const timer = new AbortController();
      const done = await Promise.race([
        exited.then(() => true),
        sleep(25_000, false, { signal: timer.signal }).catch(() => false),
      ]);
      timer.abort();
      if (!done) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
        await exited;
      }
    },
  };
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const manifestSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({ name: z.string() }),
});
type Manifest = z.infer<typeof manifestSchema>;

async function readExamples(dir: string): Promise<Manifest[]> {
  const { readManifests } = await import('../test/controlplane/kube-access.ts');
  const objects = await readManifests(dir);
  return objects.map((o) => manifestSchema.parse(o));
}

/** Server-side applies every object at once (the operator must converge whatever the order). */
async function applyAll(kube: Kube, objects: readonly Manifest[]): Promise<void> {
  await Promise.all(
    objects.map(async (obj) => {
      const kind = kinds.find((k) => k.kind === obj.kind);
      if (!kind) throw new Error(`${obj.kind}/${obj.metadata.name}: not a kind of this operator`);
      const body = { ...obj, metadata: { ...obj.metadata, namespace: NAMESPACE } };
      await kubeOk(kube, 'PATCH', `${collectionPath(kind.plural, NAMESPACE)}/${obj.metadata.name}`, {
        body,
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: FIELD_MANAGER, force: 'true' },
      });
      say(`  ${obj.kind.toLowerCase()}.${API_GROUP}/${obj.metadata.name} applied`);
    }),
  );
}

async function ensureNamespace(kube: Kube): Promise<boolean> {
  const res = await kube.request('GET', `/api/v1/namespaces/${NAMESPACE}`);
  if (res.status === 200) return false;
  await kubeOk(kube, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } } });
  return true;
}

// The server renders the CRDs' printer columns itself when asked for a Table: exactly what kubectl prints.
const tableSchema = z.object({
  columnDefinitions: z.array(z.object({ name: z.string(), type: z.string(), priority: z.number().optional() })),
  rows: z.array(z.object({ cells: z.array(z.unknown()) })).nullish(),
});
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

function age(timestamp: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${String(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${String(m)}m${String(s % 60)}s` : `${String(Math.floor(m / 60))}h${String(m % 60)}m`;
}

interface Rendered {
  kind: string;
  /** kubectl's columns (priority 0). */
  header: string[];
  rows: Array<{
    name: string;
    /** kubectl's cells, the name qualified by kind as `kubectl get neon` prints it. */
    cells: string[];
    /** Every column but Name and Age, including the wide ones (Reason): what the progress lines show. */
    fields: Array<[string, string]>;
  }>;
}

async function renderTables(kube: Kube): Promise<Rendered[]> {
  const out: Rendered[] = [];
  for (const { kind, plural } of kinds) {
    const table = tableSchema.parse(
      await kubeOk(kube, 'GET', collectionPath(plural, NAMESPACE), { accept: TABLE_ACCEPT, query: { includeObject: 'None' } }),
    );
    const columns = table.columnDefinitions.map((c, i) => ({ ...c, i }));
    const cellOf = (cells: unknown[], c: (typeof columns)[number]): string => {
      const v = cells[c.i];
      if (v === null || v === undefined || v === '') return '<none>';
      if (c.type === 'date' && typeof v === 'string' && !Number.isNaN(Date.parse(v))) return age(v);
      return typeof v === 'string' ? v : JSON.stringify(v);
    };
    const shown = columns.filter((c) => (c.priority ?? 0) === 0);
    const rows = (table.rows ?? []).map((r) => {
      const name = `${kind.toLowerCase()}.${API_GROUP}/${cellOf(r.cells, columns[0] ?? { name: 'Name', type: 'string', i: 0 })}`;
      const cells = shown.map((c) => cellOf(r.cells, c));
      const fields = columns
        .slice(1)
        .filter((c) => c.type !== 'date')
        .map((c): [string, string] => [c.name, cellOf(r.cells, c)])
        .filter(([, v]) => v !== '<none>');
      return { name, cells: [name, ...cells.slice(1)], fields };
    });
    out.push({ kind, header: shown.map((c) => c.name.toUpperCase()), rows });
  }
  return out;
}

function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const readySchema = z.object({
  metadata: z.object({ name: z.string(), generation: z.number().optional() }),
  status: z
    .looseObject({
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string(), reason: z.string().optional(), observedGeneration: z.number().optional() })).optional(),
    })
    .optional(),
});

/** Lists objects that are not Ready yet (Ready=True observed at their current generation counts as Ready). */
async function notReady(kube: Kube): Promise<string[]> {
  const pending: string[] = [];
  for (const { kind, plural } of kinds) {
    const list = z.object({ items: z.array(readySchema) }).parse(await kubeOk(kube, 'GET', collectionPath(plural, NAMESPACE)));
    for (const item of list.items) {
      const ready = item.status?.conditions?.find((c) => c.type === 'Ready');
      const current = ready?.observedGeneration === undefined || item.metadata.generation === undefined || ready.observedGeneration >= item.metadata.generation;
      if (ready?.status !== 'True' || !current) pending.push(`${kind}/${item.metadata.name}`);
    }
  }
  return pending;
}

/** Polls until every applied object is Ready, printing rows as they change (like `kubectl get neon -w`). */
async function waitForReady(kube: Kube, expected: number, timeoutMs: number, operator: OperatorProcess): Promise<Rendered[]> {
  const since = Date.now();
  const deadline = since + timeoutMs;
  const seen = new Map<string, string>();
  for (;;) {
    // Readiness first, the tables after: the tables returned are never older than the check that all are Ready.
    const pending = await notReady(kube);
    const tables = await renderTables(kube);
    const rows = tables.flatMap((t) => t.rows);
    for (const r of rows) {
      const line = r.fields.map(([k, v]) => `${k}=${v}`).join('  ') || '(no status yet)';
      if (seen.get(r.name) === line) continue;
      seen.set(r.name, line);
      say(`  +${seconds(Date.now() - since).padEnd(6)} ${r.name.padEnd(40)} ${line}`);
    }
    if (rows.length >= expected && pending.length === 0) return tables;
    const exit = operator.exitStatus();
    if (exit !== undefined) throw new Error(`the operator stopped (${exit}) before everything was Ready`);
    if (Date.now() > deadline) throw new Error(`timed out after ${String(Math.round(timeoutMs / 1000))} s; not Ready: ${pending.join(', ')}`);
    await Promise.race([sleep(1_000), interruptedPromise]);
    if (signals > 0) throw new Error('interrupted');
  }
}

const secretSchema = z.object({
  metadata: z.looseObject({
    name: z.string(),
    ownerReferences: z.array(z.object({ apiVersion: z.string(), kind: z.string(), name: z.string() })).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  data: z.record(z.string(), z.string()).optional(),
});

/** Every occurrence of the password (raw or URL-encoded) replaced by ****. */
function maskPassword(value: string, password: string): string {
  if (!password) return value;
  let out = value;
  for (const form of new Set([password, encodeURIComponent(password)])) out = out.split(form).join('****');
  return out;
}

/**
 * Logs in as the application: with the `uri` of the Secret a NeonRole wrote (the app's), through the
 * emulator's computes when `access` is given, else where the URI says (PGHOSTADDR and PGSSLROOTCERT
 * honoured, as libpq does). Prints the query and its answer, the password masked. Returns success.
 */
async function loginWithAppSecret(kube: Kube, access: ComputeAccess | undefined): Promise<boolean> {
  const list = z.object({ items: z.array(secretSchema) }).parse(await kubeOk(kube, 'GET', `/api/v1/namespaces/${NAMESPACE}/secrets`));
  const secret = list.items
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .find((s) => s.metadata.ownerReferences?.some((o) => o.kind === 'NeonRole' && o.apiVersion.startsWith(`${API_GROUP}/`)));
  if (!secret) {
    process.stderr.write('demo: no connection Secret written by a NeonRole to log in with\n');
    return false;
  }
  const value = (key: string): string => Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8');
  const uri = value('uri');
  const password = value('password');
  const query = 'select current_user, current_database(), version()';
  step(`Logging in as the application does, with Secret ${NAMESPACE}/${secret.metadata.name} (key uri)`);
  say(`  ${maskPassword(uri, password)}`);
  say(`  > ${query}`);
  const pg = (await import('pg')).default;
  const { clientConfig, computeClientConfig } = await import('../test/emulator/compute/client.ts');
  const hostaddr = process.env['PGHOSTADDR'];
  const rootCert = process.env['PGSSLROOTCERT'];
  const config = access
    ? computeClientConfig(access, uri)
    : clientConfig(uri, {
        ...(rootCert ? { caPem: readFileSync(rootCert, 'utf8') } : {}),
        ...(hostaddr ? { resolve: (_host: string, port: number) => ({ host: hostaddr, port }) } : {}),
      });
  const client = new pg.Client({ ...config, connectionTimeoutMillis: 30_000 });
  try {
    await client.connect();
    const res = await client.query<Record<string, unknown>>(query);
    const header = res.fields.map((f) => f.name);
    const rows = res.rows.map((r) => header.map((h) => maskPassword(String(r[h] ?? ''), password)));
    say(formatTable(header, rows).replace(/^/gm, '  '));
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    process.stderr.write(`demo: could not log in with Secret ${secret.metadata.name}: ${code ? `${code} ` : ''}${maskPassword(err instanceof Error ? err.message : String(err), password)}\n`);
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Prints the connection Secrets the operator wrote, as a Pod with `envFrom` would see them; never a password. */
async function printSecrets(kube: Kube): Promise<number> {
  const list = z.object({ items: z.array(secretSchema) }).parse(await kubeOk(kube, 'GET', `/api/v1/namespaces/${NAMESPACE}/secrets`));
  const ours = list.items.filter((s) => s.metadata.ownerReferences?.some((o) => o.apiVersion.startsWith(`${API_GROUP}/`)));
  for (const secret of ours.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const data = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    const password = data['password'] ?? '';
    const owner = secret.metadata.ownerReferences?.find((o) => o.apiVersion.startsWith(`${API_GROUP}/`));
    say(`\n  Secret ${NAMESPACE}/${secret.metadata.name}  (written by ${owner?.kind ?? '?'} ${owner?.name ?? '?'})`);
    say(`    keys: ${Object.keys(data).sort().join(', ')}`);
    for (const key of ['host', 'pooled-host', 'port', 'dbname', 'username', 'password', 'uri', 'pooled-uri', 'jdbc-uri', 'DATABASE_URL']) {
      const value = data[key];
      if (value === undefined) continue;
      say(`    ${key.padEnd(13)}${key === 'password' ? `**** (${String(value.length)} characters)` : maskPassword(value, password)}`);
    }
  }
  if (ours.length > 0) {
    const first = ours.find((s) => s.data?.['DATABASE_URL'] !== undefined) ?? ours[0];
    say(`\n  A Pod gets these as environment variables with:`);
    say(`    envFrom: [{ secretRef: { name: ${first?.metadata.name ?? '…'} } }]`);
  }
  return ours.length;
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;

/** A few numbers from the operator's /metrics, to show where to look in production. */
async function printMetricsSummary(url: string): Promise<void> {
  let text: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (res.status !== 200) return;
    text = await res.text();
  } catch {
    return;
  }
  const sum = (name: string, filter: (labels: string) => boolean = () => true): number => {
    let total = 0;
    for (const line of text.split('\n')) {
      const m = sampleLine.exec(line);
      if (m?.[1] === name && filter(m[2] ?? '')) total += Number(m[3]);
    }
    return total;
  };
  const status = (code: string) => (labels: string) => labels.includes(`status="${code}"`);
  step(`Operator metrics (${url})`);
  say(`  neon_operator_reconcile_total                 ${String(sum('neon_operator_reconcile_total'))}`);
  say(`  neon_operator_neon_api_requests_total         ${String(sum('neon_operator_neon_api_requests_total'))}  (429: ${String(sum('neon_operator_neon_api_requests_total', status('429')))}, 423: ${String(sum('neon_operator_neon_api_requests_total', status('423')))})`);
  say(`  neon_operator_resources{ready="True"}         ${String(sum('neon_operator_resources', (l) => l.includes('ready="True"')))}`);
}

async function deleteDemoObjects(kube: Kube, objects: readonly Manifest[], createdNamespace: boolean): Promise<void> {
  step(`Deleting the demo's objects (the operator removes what they created in Neon)`);
  for (const obj of objects) {
    const kind = kinds.find((k) => k.kind === obj.kind);
    if (kind) await kube.request('DELETE', `${collectionPath(kind.plural, NAMESPACE)}/${obj.metadata.name}`);
  }
  const deadline = Date.now() + 300_000;
  for (;;) {
    let left = 0;
    for (const { plural } of kinds) {
      const list = z.object({ items: z.array(z.unknown()) }).safeParse((await kube.request('GET', collectionPath(plural, NAMESPACE))).body);
      left += list.success ? list.data.items.length : 0;
    }
    if (left === 0) break;
    if (Date.now() > deadline) {
      say(`  ${String(left)} objects still being deleted; check them with kubectl -n ${NAMESPACE} get neon`);
      return;
    }
    await sleep(1_000);
  }
  say('  deleted');
  if (createdNamespace) await kube.request('DELETE', `/api/v1/namespaces/${NAMESPACE}`);
}

// ---- main ------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      keep: { type: 'boolean', default: false },
      examples: { type: 'string', default: 'examples/basic' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const external = Boolean(process.env['KUBECONFIG'] && process.env['NEON_API_KEY']);
  const timeoutSeconds = Number(values.timeout ?? (external ? 900 : 180));
  if (!(timeoutSeconds > 0)) throw new Error(`--timeout expects a positive number of seconds, got ${values.timeout ?? ''}`);
  const examplesDir = resolve(repoRoot, values.examples);
  const objects = await readExamples(examplesDir);

  const workDir = mkdtempSync(join(tmpdir(), 'neon-operator-demo-'));
  cleanups.push({ name: 'the demo folder', run: () => rmSync(workDir, { recursive: true, force: true }) });

  let kubeconfigPath: string | undefined;
  let neonApiUrl: string | undefined;
  let apiKey: string;
  let emulatorUrl: string | undefined;
  let computeAccess: ComputeAccess | undefined;
  if (external) {
    step(`Using KUBECONFIG (context ${new KubeConfig().getCurrentContext() || '?'}) and NEON_API_KEY from the environment`);
    kubeconfigPath = undefined;
    neonApiUrl = process.env['NEON_API_URL'];
    apiKey = process.env['NEON_API_KEY'] ?? '';
    say(`  Neon API: ${neonApiUrl ?? DEFAULT_NEON_BASE_URL}`);
  } else {
    await ensureControlPlaneBinaries();
    step('Starting the local control plane (etcd, kube-apiserver, kube-controller-manager)');
    const { startControlPlane } = await import('../test/controlplane/harness.ts');
    const cp = await startControlPlane({ log: (line) => say(`  ${line}`) });
    cleanups.push({ name: 'the control plane', run: () => cp.stop() });
    kubeconfigPath = cp.kubeconfigPath;

    step('Installing the CRDs (crds/)');
    const crds = await cp.installCrds(join(repoRoot, 'crds'));
    say(`  ${crds.join(', ')}`);

    step('Starting the Neon API emulator');
    const { startEmulator } = await import('../test/emulator/server.ts');
    // Every branch gets a real Postgres server, reached on the computes' host names: the last step logs in.
    const emulator = await startEmulator({ port: 0, seed: Date.now() % 100_000, durations: EMULATOR_DURATIONS, postgres: true });
    cleanups.push({ name: 'the emulator', run: () => emulator.stop() });
    neonApiUrl = emulator.url;
    emulatorUrl = emulator.url;
    apiKey = EMULATOR_API_KEY;
    computeAccess = emulator.compute?.access;
    say(`  ${emulator.url} (Neon operations take 0.2 to 1.2 s here)`);
    if (computeAccess) say(`  Postgres computes: *.${computeAccess.regionHost} on ${computeAccess.address}:${String(computeAccess.port)} (TLS, a CA of the demo's own)`);
  }
  const kube = kubeFor(kubeconfigPath);
  if (external) {
    const crd = await kube.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/neonprojects.${API_GROUP}`);
    if (crd.status !== 200) {
      step('Installing the CRDs (crds/)');
      const { installCrds } = await import('../test/controlplane/kube-access.ts');
      say(`  ${(await installCrds(kube.kubeconfig, join(repoRoot, 'crds'))).join(', ')}`);
    }
  }

  step('Starting the operator (node src/main.ts)');
  const operator = await startOperator({ kubeconfigPath, neonApiUrl, apiKey, workDir });
  // Registered after the control plane and emulator: stopped before them.
  cleanups.push({ name: 'the operator', run: () => operator.stop() });
  say(`  pid ${String(operator.pid)}, log: ${operator.logFile}`);

  const createdNamespace = await ensureNamespace(kube);
  if (external) cleanups.push({ name: "the demo's objects", run: () => deleteDemoObjects(kube, objects, createdNamespace) });
  step(`Applying ${relative(repoRoot, examplesDir)}/ to namespace ${NAMESPACE}: ${String(objects.length)} objects at once`);
  await applyAll(kube, objects);

  step(`Waiting until all are Ready (what kubectl -n ${NAMESPACE} get neon shows; time since apply)`);
  let tables: Rendered[];
  const appliedAt = Date.now();
  try {
    tables = await waitForReady(kube, objects.length, timeoutSeconds * 1000, operator);
  } catch (err) {
    if (signals > 0) return 130;
    process.stderr.write(`\ndemo: ${err instanceof Error ? err.message : String(err)}\n--- operator log (last 30 lines) ---\n${tail(operator.logFile, 30)}\n`);
    return 1;
  }
  step(`All ${String(objects.length)} Ready ${seconds(Date.now() - appliedAt)} after apply:`);
  for (const t of tables) {
    if (t.rows.length > 0) say(`${formatTable(t.header, t.rows.map((r) => r.cells)).replace(/^/gm, '  ')}\n`);
  }

  step('What an application sees: the connection Secrets (passwords masked)');
  const secrets = await printSecrets(kube);
  if (secrets === 0) {
    process.stderr.write('demo: every object is Ready but no connection Secret was found\n');
    return 1;
  }
  await printMetricsSummary(operator.metricsUrl);
  if (!(await loginWithAppSecret(kube, computeAccess))) return 1;

  if (values.keep) {
    step('Running until Ctrl-C. Meanwhile:');
    if (kubeconfigPath) say(`  kubectl --kubeconfig ${kubeconfigPath} -n ${NAMESPACE} get neon`);
    else say(`  kubectl -n ${NAMESPACE} get neon`);
    if (emulatorUrl) say(`  NEON_API_HOST=${emulatorUrl} npx neonctl --api-key ${EMULATOR_API_KEY} --no-analytics projects list`);
    if (computeAccess) say(`  PGHOSTADDR=${computeAccess.address} PGSSLROOTCERT=${computeAccess.caFile} psql "<uri from a Secret>"`);
    say(`  curl -s ${operator.metricsUrl}`);
    say(`  tail -f ${operator.logFile}`);
    await Promise.race([interruptedPromise, operator.exited]);
    if (signals === 0) say(`\nthe operator stopped by itself (${operator.exitStatus() ?? '?'})`);
  }
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  code = 1;
} finally {
  step('Stopping everything');
  await shutdown();
  say(`  done (${elapsed()})`);
}
// Exit explicitly: an idle keep-alive socket or timer of a library must not hold the terminal.
process.exit(code);
