/**
 * The operator's configuration from command-line flags and environment variables. Each setting is parsed
 * once, here, with zod; an invalid value fails start-up with a message that names the flag (and its
 * environment variable). Flags win over the environment.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseAllowedProjects, type AllowedProject } from '../controllers/shared/tenancy.ts';
import { DEFAULT_NEON_BASE_URL } from '../neon/index.ts';

export interface OperatorConfig {
  /** Path of a kubeconfig; undefined: KUBECONFIG, ~/.kube/config or the in-cluster service account. */
  kubeconfig: string | undefined;
  /** Namespaces to watch; empty: all. */
  namespaces: string[];
  resyncPeriodMs: number;
  resyncJitter: number;
  /** How long a project's lists read from Neon serve reconciles (see ProjectView); capped at half the resync period. */
  neonViewMaxAgeMs: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  neonApiUrl: string;
  /** The operator's own Neon API key (NEON_API_KEY); never logged. */
  neonApiKey: string | undefined;
  /** Where to read the operator's own key from instead: a Secret key. */
  apiKeySecret: { namespace: string; name: string; key: string } | undefined;
  concurrency: number;
  /** Projects a namespace may reach with the operator's own key besides those its NeonProjects created. */
  allowedProjects: AllowedProject[];
  leaderElection: { enabled: boolean; namespace: string; name: string };
  /** Port of the metrics and health server; 0 disables it. */
  metricsPort: number;
  /** Safety requeue of objects waiting for a dependency. */
  waitingRequeueMs: number;
  shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Go's time.ParseDuration syntax (the chart's values use it, as Kubernetes tooling does): an optional sign,
 * then one or more decimal numbers each with a unit, e.g. `1h30m`, `1.5h`, `.5s`, `300ms`, `2h45m30.5s`;
 * `0` alone is the one form without a unit.
 */
const GO_DURATION = /^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$/;
const GO_DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, '\u00b5s': 1e-3, '\u03bcs': 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
/**
 * Node keeps a timer of at most 2^31-1 ms and fires one that is longer at once, and the resync period may be
 * jittered up by half: a longer duration would turn into a busy loop, so it counts as this much (14 days).
 */
export const LONGEST_DURATION_MS = 14 * 24 * 3_600_000;

/** A Go duration → milliseconds: at least 1 (timers have no finer grain), at most LONGEST_DURATION_MS. */
const durationSchema = z
  .string()
  .refine((s) => s === '0' || s === '+0' || s === '-0' || GO_DURATION.test(s), 'must be a duration such as 30s, 10m, 1h or 1h30m')
  .transform((s) => {
    let ms = 0;
    for (const [, amount, unit] of s.matchAll(GO_DURATION_PART)) ms += Number(amount) * (UNIT_MS[unit as string] as number);
    return s.startsWith('-') ? -ms : ms;
  })
  .refine((ms) => ms > 0, 'must be greater than zero')
  .transform((ms) => Math.min(LONGEST_DURATION_MS, Math.max(1, Math.round(ms))));

const boolSchema = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((s) => s === 'true' || s === '1' || s === 'yes');
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface FlagSpec {
  flag: string;
  env?: string;
  help: string;
  default?: string;
  boolean?: boolean;
}

const FLAGS = {
  kubeconfig: { flag: 'kubeconfig', help: 'Path of the kubeconfig. Default: $KUBECONFIG (may list several files), ~/.kube/config, or in-cluster.' },
  namespaces: { flag: 'namespaces', env: 'WATCH_NAMESPACES', help: 'Comma-separated namespaces to watch. Default: all namespaces.' },
  resyncPeriod: { flag: 'resync-period', env: 'RESYNC_PERIOD', default: '10m', help: 'How often every object is compared with Neon to repair drift (jittered ±10%).' },
  neonViewMaxAge: {
    flag: 'neon-view-max-age',
    env: 'NEON_VIEW_MAX_AGE',
    default: '9m',
    help:
      "How often a project's lists of branches and computes, and its operations, are read from Neon again; between " +
      "reads they serve reconciles, with the operator's own changes applied as Neon answers. Role and database lists " +
      'are read again only when an operation shows a change the operator did not make. Capped at 9/10 of the resync period.',
  },
  resyncJitter: { flag: 'resync-jitter', env: 'RESYNC_JITTER', default: '0.1', help: 'Spread of the resync period, as a fraction (0 to 0.5).' },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', default: 'info', help: 'trace, debug, info, warn, error or fatal.' },
  neonApiUrl: { flag: 'neon-api-url', env: 'NEON_API_URL', default: DEFAULT_NEON_BASE_URL, help: 'Base URL of the Neon API v2.' },
  apiKeySecret: {
    flag: 'api-key-secret',
    env: 'NEON_API_KEY_SECRET',
    help: 'Read the operator\'s Neon API key from a Secret: namespace/name[:key] (key default api-key). Otherwise NEON_API_KEY.',
  },
  allowedProjects: {
    flag: 'allowed-projects',
    env: 'ALLOWED_PROJECTS',
    help:
      "Comma-separated namespace/projectId pairs that may reach an existing Neon project by ID with the operator's own key " +
      '(a namespace may end with *, * alone means any; the project ID may be *). Default: none; a namespace reaches only ' +
      'the projects its NeonProjects created, or any project of an account it names with apiKeySecretRef.',
  },
  concurrency: {
    flag: 'concurrency',
    env: 'CONCURRENCY',
    default: '16',
    help: 'Objects of one kind reconciled at once. A pass waiting for its turn at Neon (a project runs one change at a time) does not count: it takes a worker back, before any queued object, once Neon has answered.',
  },
  leaderElect: { flag: 'leader-elect', env: 'LEADER_ELECT', default: 'false', boolean: true, help: 'Run controllers only while holding a Lease (for several replicas).' },
  leaderElectionNamespace: {
    flag: 'leader-election-namespace',
    env: 'POD_NAMESPACE',
    default: 'default',
    help: 'Namespace of the leader election Lease. Default: POD_NAMESPACE, else default.',
  },
  leaderElectionName: { flag: 'leader-election-name', env: 'LEADER_ELECTION_NAME', default: 'neon-operator-leader', help: 'Name of the leader election Lease.' },
  metricsPort: { flag: 'metrics-port', env: 'METRICS_PORT', default: '8080', help: 'Port of the metrics and health endpoints; 0 disables them.' },
  waitingRequeue: { flag: 'waiting-requeue', env: 'WAITING_REQUEUE', default: '60s', help: 'Safety recheck of an object waiting for one it references.' },
  shutdownTimeout: { flag: 'shutdown-timeout', env: 'SHUTDOWN_TIMEOUT', default: '20s', help: 'How long in-flight reconciles may run after SIGTERM.' },
} as const satisfies Record<string, FlagSpec>;

type FlagName = keyof typeof FLAGS;

/** The --help text. */
export function helpText(): string {
  const lines = [
    'neon-operator: reconciles NeonProject, NeonBranch, NeonEndpoint, NeonRole and NeonDatabase objects against the Neon API.',
    '',
    'Usage: npm start -- [flags]      (flags win over environment variables)',
    '',
  ];
  for (const spec of Object.values(FLAGS) as FlagSpec[]) {
    const name = spec.boolean ? `--[no-]${spec.flag}` : `--${spec.flag}=VALUE`;
    const env = spec.env ? ` [env ${spec.env}]` : '';
    const def = spec.default !== undefined ? ` (default ${spec.default})` : '';
    lines.push(`  ${name}${env}`, `      ${spec.help}${def}`);
  }
  lines.push('  NEON_API_KEY (environment only)', '      The operator\'s own Neon API key; objects may name another with apiKeySecretRef.');
  lines.push('  --help', '      Print this help.');
  lines.push('', 'Durations use Go\'s syntax (30s, 10m, 1h30m, 1.5h, 500ms); longer than 14 days counts as 14 days.');
  return lines.join('\n');
}

/**
 * Reads argv with node:util parseArgs: `--flag value`, `--flag=value`, `--flag` and `--no-flag` for booleans
 * (which also take `--flag=false`, as before). parseArgs runs lenient so that every mistake gets this
 * module's message naming the flag rather than Node's.
 */
function readArgv(argv: readonly string[]): { values: Map<string, string>; help: boolean } {
  const byFlag = new Map((Object.values(FLAGS) as FlagSpec[]).map((s) => [s.flag, s]));
  const options = Object.fromEntries([
    ...[...byFlag.values()].map((s) => [s.flag, { type: s.boolean ? ('boolean' as const) : ('string' as const) }]),
    ['help', { type: 'boolean' as const, short: 'h' }],
  ]);
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, allowNegative: true, tokens: true });
  const values = new Map<string, string>();
  let help = false;
  for (const token of tokens) {
    if (token.kind === 'positional') throw new ConfigError(`unexpected argument "${token.value}" (flags start with --; see --help)`);
    if (token.kind === 'option-terminator') throw new ConfigError('unexpected argument "--" (see --help)');
    if (token.name === 'help') {
      help = true;
      continue;
    }
    const spec = byFlag.get(token.name);
    // allowNegative also strips `no-` from a string flag; only booleans have a --no- form.
    if (!spec || (!spec.boolean && token.rawName.startsWith('--no-'))) throw new ConfigError(`unknown flag ${token.rawName} (see --help)`);
    if (spec.boolean) {
      values.set(spec.flag, token.rawName.startsWith('--no-') ? 'false' : (token.value ?? 'true'));
      continue;
    }
    // Lenient parseArgs takes the next flag as the value (`--log-level --concurrency=2`): that is a missing value.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) throw new ConfigError(`--${spec.flag} needs a value`);
    values.set(spec.flag, token.value);
  }
  return { values, help };
}

/**
 * Parses flags and environment. Returns `{ help: true }` when --help was asked for. Throws ConfigError
 * naming the flag and its environment variable when a value is invalid.
 */
export function parseConfig(argv: readonly string[], env: Record<string, string | undefined>): { help: true } | { help: false; config: OperatorConfig } {
  const { values, help } = readArgv(argv);
  if (help) return { help: true };

  const raw = (name: FlagName): string | undefined => {
    const spec: FlagSpec = FLAGS[name];
    const fromEnv = spec.env ? env[spec.env] : undefined;
    return values.get(spec.flag) ?? (fromEnv === '' ? undefined : fromEnv) ?? spec.default;
  };
  function field<S extends z.ZodType>(name: FlagName, schema: S): z.output<S> {
    const spec: FlagSpec = FLAGS[name];
    const result = schema.safeParse(raw(name));
    if (result.success) return result.data;
    const where = `--${spec.flag}${spec.env ? ` (env ${spec.env})` : ''}`;
    throw new ConfigError(`${where}: ${result.error.issues.map((i) => i.message).join('; ')}`);
  }

  const apiKeySecret = field(
    'apiKeySecret',
    z
      .string()
      .regex(/^[a-z0-9-]+\/[a-z0-9.-]+(:[-._a-zA-Z0-9]+)?$/, 'must be namespace/name or namespace/name:key')
      .transform((s) => {
        const [ref, key] = s.split(':') as [string, string | undefined];
        const [namespace, name] = ref.split('/') as [string, string];
        return { namespace, name, key: key ?? 'api-key' };
      })
      .optional(),
  );
  const neonApiKey = env['NEON_API_KEY']?.trim() || undefined;
  const config: OperatorConfig = {
    kubeconfig: field('kubeconfig', z.string().min(1).optional()),
    namespaces: field(
      'namespaces',
      z
        .string()
        .optional()
        .transform((s) => (s ?? '').split(',').map((n) => n.trim()).filter((n) => n !== ''))
        .refine((list) => list.every((n) => dnsLabel.test(n)), 'must be a comma-separated list of namespace names'),
    ),
    resyncPeriodMs: field('resyncPeriod', durationSchema),
    resyncJitter: field('resyncJitter', z.coerce.number().min(0).max(0.5)),
    neonViewMaxAgeMs: field('neonViewMaxAge', durationSchema),
    logLevel: field('logLevel', z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])),
    neonApiUrl: field('neonApiUrl', z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''))),
    neonApiKey,
    apiKeySecret,
    allowedProjects: field(
      'allowedProjects',
      z
        .string()
        .optional()
        .transform((s, ctx) => {
          try {
            return parseAllowedProjects((s ?? '').split(',').map((e) => e.trim()).filter((e) => e !== ''));
          } catch (err) {
            ctx.addIssue({ code: 'custom', message: (err as Error).message });
            return z.NEVER;
          }
        }),
    ),
    concurrency: field('concurrency', z.coerce.number().int().min(1).max(64)),
    leaderElection: {
      enabled: field('leaderElect', boolSchema),
      namespace: field('leaderElectionNamespace', z.string().regex(dnsLabel, 'must be a namespace name')),
      name: field('leaderElectionName', z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Lease name')),
    },
    metricsPort: field('metricsPort', z.coerce.number().int().min(0).max(65535)),
    waitingRequeueMs: field('waitingRequeue', durationSchema),
    shutdownTimeoutMs: field('shutdownTimeout', durationSchema),
  };
  if (!config.neonApiKey && !config.apiKeySecret) {
    throw new ConfigError('no Neon API key: set NEON_API_KEY or --api-key-secret=namespace/name[:key]');
  }
  return { help: false, config };
}
