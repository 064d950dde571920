import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { ConfigError, helpText, LONGEST_DURATION_MS, parseConfig, type OperatorConfig } from './config.ts';

function config(argv: string[], env: Record<string, string> = { NEON_API_KEY: 'k' }): OperatorConfig {
  const parsed = parseConfig(argv, env);
  if (parsed.help) throw new Error('unexpected help');
  return parsed.config;
}

describe('operator configuration', () => {
  it('has defaults for everything but the API key', () => {
    const c = config([]);
    expect(c).toMatchObject({
      namespaces: [],
      resyncPeriodMs: 600_000,
      neonViewMaxAgeMs: 540_000,
      resyncJitter: 0.1,
      logLevel: 'info',
      neonApiUrl: 'https://console.neon.tech/api/v2',
      neonApiKey: 'k',
      concurrency: 16,
      leaderElection: { enabled: false, namespace: 'default', name: 'neon-operator-leader' },
      metricsPort: 8080,
    });
    expect(c.kubeconfig).toBeUndefined();
  });

  it('reads the allowed projects as namespace/projectId pairs with wildcards', () => {
    const c = config([], { NEON_API_KEY: 'k', ALLOWED_PROJECTS: 'team-a/proj-1, preview-*/shared-2,*/*' });
    expect(c.allowedProjects).toEqual([
      { namespace: 'team-a', projectId: 'proj-1' },
      { namespace: 'preview-*', projectId: 'shared-2' },
      { namespace: '*', projectId: '*' },
    ]);
  });

  it('reads flags (both --flag=value and --flag value) over the environment', () => {
    const c = config(
      ['--namespaces=a, b', '--resync-period', '90s', '--log-level=debug', '--neon-api-url=http://127.0.0.1:9/api/v2/', '--leader-elect', '--concurrency=8'],
      { NEON_API_KEY: 'k', RESYNC_PERIOD: '1h', WATCH_NAMESPACES: 'x', POD_NAMESPACE: 'ops' },
    );
    expect(c.namespaces).toEqual(['a', 'b']);
    expect(c.resyncPeriodMs).toBe(90_000);
    expect(c.logLevel).toBe('debug');
    expect(c.neonApiUrl).toBe('http://127.0.0.1:9/api/v2');
    expect(c.leaderElection).toEqual({ enabled: true, namespace: 'ops', name: 'neon-operator-leader' });
    expect(c.concurrency).toBe(8);
    expect(config(['--no-leader-elect'], { NEON_API_KEY: 'k', LEADER_ELECT: 'true' }).leaderElection.enabled).toBe(false);
  });

  it('takes the API key from a Secret reference instead of NEON_API_KEY', () => {
    expect(config(['--api-key-secret=ops/neon'], {}).apiKeySecret).toEqual({ namespace: 'ops', name: 'neon', key: 'api-key' });
    expect(config(['--api-key-secret=ops/neon:token'], {}).apiKeySecret).toEqual({ namespace: 'ops', name: 'neon', key: 'token' });
  });

  it('names the flag and its environment variable in errors', () => {
    expect(() => config(['--resync-period=soon'])).toThrow(/--resync-period \(env RESYNC_PERIOD\): must be a duration/);
    expect(() => config([], { NEON_API_KEY: 'k', LOG_LEVEL: 'loud' })).toThrow(/--log-level \(env LOG_LEVEL\)/);
    expect(() => config(['--concurrency=0'])).toThrow(/--concurrency/);
    expect(() => config(['--namespaces=Bad_NS'])).toThrow(/--namespaces/);
    expect(() => config(['--allowed-projects=team-a'])).toThrow(/--allowed-projects \(env ALLOWED_PROJECTS\): "team-a" is not namespace\/projectId/);
    expect(() => config(['--api-key-secret=just-a-name'], {})).toThrow(/--api-key-secret/);
    expect(() => config(['--frobnicate'])).toThrow(ConfigError);
    expect(() => config(['--log-level'])).toThrow(/--log-level needs a value/);
    expect(() => config([], {})).toThrow(/no Neon API key/);
  });

  it('reads every boolean and argv form it always took, with the same messages', () => {
    expect(config(['--leader-elect=false'], { NEON_API_KEY: 'k', LEADER_ELECT: 'true' }).leaderElection.enabled).toBe(false);
    expect(config(['--leader-elect=yes']).leaderElection.enabled).toBe(true);
    expect(config(['--no-leader-elect', '--leader-elect']).leaderElection.enabled).toBe(true);
    expect(config(['--concurrency=2', '--concurrency', '3']).concurrency).toBe(3);
    expect(() => config(['--leader-elect=maybe'])).toThrow(/--leader-elect \(env LEADER_ELECT\)/);
    expect(() => config(['--frobnicate'])).toThrow('unknown flag --frobnicate (see --help)');
    expect(() => config(['--no-namespaces'])).toThrow('unknown flag --no-namespaces (see --help)');
    expect(() => config(['-x'])).toThrow('unknown flag -x (see --help)');
    expect(() => config(['debug'])).toThrow('unexpected argument "debug" (flags start with --; see --help)');
    expect(() => config(['--log-level', '--concurrency=2'])).toThrow('--log-level needs a value');
    expect(() => config(['--resync-period='])).toThrow(/--resync-period \(env RESYNC_PERIOD\): must be a duration/);
    expect(parseConfig(['-h'], {})).toEqual({ help: true });
  });

  it('answers --help with every flag', () => {
    expect(parseConfig(['--help'], {})).toEqual({ help: true });
    const text = helpText();
    for (const flag of ['--kubeconfig', '--namespaces', '--resync-period', '--log-level', '--neon-api-url', '--api-key-secret', '--concurrency', '--[no-]leader-elect', '--metrics-port', 'NEON_API_KEY']) {
      expect(text).toContain(flag);
    }
  });
});

// The chart's values.schema.json checks durations before the pod starts; a duration it lets through that the
// operator then refused would crash-loop the pod. Both follow Go's time.ParseDuration, positive values only.
describe('durations: the operator and the chart\'s values schema accept the same strings', () => {
  const schema: unknown = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'charts', 'neon-operator', 'values.schema.json'), 'utf8'));
  const schemaAccepts = new Ajv({ strict: false, validateSchema: false }).compile(schema as object);
  const operatorMs = (value: string): number | Error => {
    try {
      return config([`--resync-period=${value}`]).resyncPeriodMs;
    } catch (err) {
      return err as Error;
    }
  };

  it('reads every form the schema allows, as Go does', () => {
    const forms: [string, number][] = [
      ['10m', 600_000],
      ['1h30m', 5_400_000],
      ['2h45m30.5s', 9_930_500],
      ['1.5h', 5_400_000],
      ['.5s', 500],
      ['5.s', 5_000],
      ['+30s', 30_000],
      ['300ms', 300],
      ['1500us', 2],
      ['1500\u00b5s', 2],
      ['1500\u03bcs', 2],
      ['1ns', 1],
      ['0h90s', 90_000],
      ['1m1m', 120_000],
      ['0.25m', 15_000],
      ['100000h', LONGEST_DURATION_MS],
    ];
    for (const [value, ms] of forms) {
      expect(schemaAccepts({ resyncPeriod: value }), value).toBe(true);
      expect(operatorMs(value), value).toBe(ms);
    }
  });

  it('both refuse what is not a positive Go duration, the operator naming the flag', () => {
    for (const value of ['', '0', '0s', '0h0m', '-5m', '10', '1d', '1 h', 'h', '.s', '1.2.3s', '1H', 'ten minutes', '1h-30m']) {
      expect(schemaAccepts({ resyncPeriod: value }), value).toBe(false);
      expect(String(operatorMs(value)), value).toMatch(/^ConfigError: --resync-period \(env RESYNC_PERIOD\): must be/);
    }
  });

  it('agree on thousands of strings made of duration characters', () => {
    // A fixed seed: the same strings on every run, so a disagreement is reproducible.
    let seed = 20_261_202;
    const next = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return (seed >>> 8) % n;
    };
    const pieces = ['0', '1', '25', '.', '.5', '5.', '+', '-', 'h', 'm', 's', 'ms', 'ns', 'us', '\u00b5s', '\u03bcs', 'd', ' ', 'H'];
    let accepted = 0;
    for (let i = 0; i < 3_000; i++) {
      const value = Array.from({ length: 1 + next(6) }, () => pieces[next(pieces.length)]).join('');
      const schemaOk = schemaAccepts({ resyncPeriod: value });
      const operatorOk = typeof operatorMs(value) === 'number';
      expect(operatorOk, JSON.stringify(value)).toBe(schemaOk);
      if (schemaOk) accepted++;
    }
    // The strings must exercise both answers, or the comparison says little.
    expect(accepted).toBeGreaterThan(40);
  });
});
