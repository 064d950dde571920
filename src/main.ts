/**
 * `npm start`: the operator against the current kubeconfig (or in-cluster) and the Neon API. See
 * `npm start -- --help` for flags and environment variables.
 */
import { applyV8Settings, loadKubeConfigWithoutGeneratedApis } from './operator/process-setup.ts';

// Before anything else is loaded: the process may replace itself to start with the operator's V8 flags.
applyV8Settings();
loadKubeConfigWithoutGeneratedApis();
const { LeadershipLostError, installSignalHandlers } = await import('./runtime/index.ts');
const { ConfigError, helpText, parseConfig } = await import('./operator/config.ts');
const { startOperator } = await import('./operator/run.ts');

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseConfig>;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`neon-operator: ${err.message}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  const operator = await startOperator(parsed.config);
  installSignalHandlers(operator.manager);

  try {
    await operator.done;
  } catch (err) {
    if (err instanceof LeadershipLostError) {
      operator.log.error('lost the leader lease; exiting so a restart can campaign again');
      return 1;
    }
    throw err;
  } finally {
    await operator.observability?.close();
    await operator.accounts.close();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`neon-operator: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
