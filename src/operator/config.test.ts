import { describe, expect, it } from 'vitest';
import { ConfigError, helpText, parseConfig, type OperatorConfig } from './config.ts';

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
      resyncJitter: 0.1,
      logLevel: 'info',
      neonApiUrl: 'https://console.neon.tech/api/v2',
      neonApiKey: 'k',
      concurrency: 4,
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

  it('answers --help with every flag', () => {
    expect(parseConfig(['--help'], {})).toEqual({ help: true });
    const text = helpText();
    for (const flag of ['--kubeconfig', '--namespaces', '--resync-period', '--log-level', '--neon-api-url', '--api-key-secret', '--concurrency', '--[no-]leader-elect', '--metrics-port', 'NEON_API_KEY']) {
      expect(text).toContain(flag);
    }
  });
});
