import { parseArgs } from 'node:util';
import { startEmulator, type EmulatorOptions } from './server.ts';
import type { FaultConfig } from './faults.ts';

/**
 * Standalone Neon API emulator for demos and for pointing the Neon CLI at:
 *   npm run emulator -- --port 8080 [--seed N] [--api-key K ...] [--fault-503 0.1] [--no-limits] [--postgres]
 * Then: NEON_API_HOST=<printed url> neonctl --api-key K --no-analytics projects list
 */
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    seed: { type: 'string' },
    'api-key': { type: 'string', multiple: true },
    'no-limits': { type: 'boolean', default: false },
    'no-retry-after': { type: 'boolean', default: false },
    'per-minute': { type: 'string' },
    'per-route-per-second': { type: 'string' },
    'no-store-passwords': { type: 'boolean', default: false },
    'region-host': { type: 'string' },
    'fault-429': { type: 'string' },
    'fault-500': { type: 'string' },
    'fault-503': { type: 'string' },
    'fault-524': { type: 'string' },
    'fault-reset': { type: 'string' },
    'fault-applied': { type: 'string' },
    'latency-ms': { type: 'string' },
    'operation-failure-rate': { type: 'string' },
    duration: { type: 'string', multiple: true },
    'validate-responses': { type: 'boolean', default: false },
    'validate-requests': { type: 'boolean', default: false },
    'log-requests': { type: 'boolean', default: false },
    postgres: { type: 'boolean', default: false },
    'postgres-address': { type: 'string' },
    'postgres-port': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    [
      'Usage: npm run emulator -- [options]',
      '  --port N (8080; 0 = any)   --host H (127.0.0.1)   --seed N',
      '  --api-key K (repeatable; default: any key is its own account)',
      '  --no-limits | --per-minute N --per-route-per-second N --no-retry-after',
      '  --fault-429 P --fault-500 P --fault-503 P --fault-524 P --fault-reset P --fault-applied P',
      '  --latency-ms N --operation-failure-rate P',
      '  --duration action=ms (repeatable, e.g. start_compute=200)',
      '  --no-store-passwords --region-host H --validate-responses --validate-requests',
      '  --log-requests (one line per request: method, path, status; never keys or bodies)',
      '  --postgres: a real Postgres server behind every branch, reached on the endpoints\' hosts',
      '    --postgres-address A (a random 127.x.y.z)   --postgres-port N (5432)',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

function num(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) {
    process.stderr.write(`--${name} expects a number, got ${raw}\n`);
    process.exit(2);
  }
  return n;
}

const faults: FaultConfig = {};
const setFault = (key: keyof FaultConfig, flag: string, raw: string | undefined): void => {
  const n = num(flag, raw);
  if (n !== undefined) (faults as Record<string, unknown>)[key] = n;
};
setFault('rate429', 'fault-429', values['fault-429']);
setFault('rate500', 'fault-500', values['fault-500']);
setFault('rate503', 'fault-503', values['fault-503']);
setFault('rate524', 'fault-524', values['fault-524']);
setFault('resetRate', 'fault-reset', values['fault-reset']);
setFault('appliedBeforeFailure', 'fault-applied', values['fault-applied']);
setFault('latencyMs', 'latency-ms', values['latency-ms']);
setFault('operationFailureRate', 'operation-failure-rate', values['operation-failure-rate']);

const durations: Record<string, number> = {};
for (const d of values.duration ?? []) {
  const [action, ms] = d.split('=');
  const n = num('duration', ms);
  if (!action || n === undefined) {
    process.stderr.write(`--duration expects action=ms, got ${d}\n`);
    process.exit(2);
  }
  durations[action] = n;
}

const opts: EmulatorOptions = {
  port: num('port', values.port) ?? 8080,
  host: values.host ?? '127.0.0.1',
  faults,
  durations,
  storePasswords: !values['no-store-passwords'],
  validateResponses: values['validate-responses'] ?? false,
  validateRequests: values['validate-requests'] ?? false,
  limits: values['no-limits']
    ? false
    : {
        perMinute: num('per-minute', values['per-minute']) ?? 700,
        perRoutePerSecond: num('per-route-per-second', values['per-route-per-second']) ?? 40,
        retryAfter: !values['no-retry-after'],
      },
};
if (values['log-requests']) {
  opts.onResponse = (r) => process.stdout.write(`${r.method} ${r.path} ${r.status === 0 ? 'reset' : r.status}\n`);
}
const seed = num('seed', values.seed);
if (seed !== undefined) opts.seed = seed;
if (values['api-key'] && values['api-key'].length > 0) opts.apiKeys = values['api-key'];
if (values['region-host']) opts.regionHost = values['region-host'];
if (values.postgres) {
  const port = num('postgres-port', values['postgres-port']);
  opts.postgres = {
    ...(values['postgres-address'] ? { address: values['postgres-address'] } : {}),
    ...(port !== undefined ? { port } : {}),
  };
}

const emulator = await startEmulator(opts);
process.stdout.write(`Neon API emulator listening on ${emulator.url}\n`);
const keyHint = opts.apiKeys ? '<one of the --api-key values>' : '<any non-empty key>';
process.stdout.write(`  neonctl: NEON_API_HOST=${emulator.url} npx neonctl --api-key ${keyHint} --no-analytics projects list\n`);
if (emulator.compute) {
  const a = emulator.compute.access;
  process.stdout.write(
    [
      `Postgres computes: *.${a.regionHost} on ${a.address}:${String(a.port)} (TLS, CA ${a.caFile})`,
      `  the host names resolve nowhere: tell the client the address, e.g.`,
      `  PGHOSTADDR=${a.address} PGSSLROOTCERT=${a.caFile} psql "<connection uri>"`,
      '',
    ].join('\n'),
  );
}

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  const c = emulator.counters();
  process.stdout.write(`${signal}: stopping after ${c.total} requests\n`);
  if (opts.validateResponses || opts.validateRequests) {
    const v = emulator.specViolations();
    process.stdout.write(`spec violations: ${v.length}\n`);
    for (const x of v.slice(0, 20)) process.stdout.write(`  ${x.kind} ${x.method} ${x.path}: ${x.errors.join('; ')}\n`);
  }
  emulator.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
