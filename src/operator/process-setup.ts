/**
 * What `node src/main.ts` does to its Node process before the operator's own modules load: the V8 heap flags
 * the operator is sized and measured with, and a lean load of client-node's KubeConfig. Everything that starts
 * the operator goes through `src/main.ts` (the image's ENTRYPOINT, so the chart and deploy/ manifests; `npm
 * start`; the benchmarks and the process tests), so what is measured is what users run. Only `node:` modules are
 * imported here: a relaunch costs a bare Node start. README, "Memory", says what each setting saves.
 */
import { registerHooks } from 'node:module';
import { setFlagsFromString } from 'node:v8';

/**
 * The operator's V8 flags that are fixed when V8 starts, so they must be on the command line. The young
 * generation (where each request's short-lived objects are born) grows to 2 × 64 MB by default under load,
 * nearly all of it resident although it holds little; capped at 2 × 4 MB it is scavenged more often, at a
 * cost too small to see in an operator bound by Neon's rate limit.
 */
export const OPERATOR_V8_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/**
 * V8 flags read as the heap runs, set in-process (a flag this V8 does not know is reported and ignored, never
 * a failed start). The old generation may grow to 1.5 × what survived the last full GC before the next one,
 * instead of up to 4 × by default: pages V8 once used stay resident, so the peak is what counts.
 */
export const OPERATOR_RUNTIME_V8_FLAGS: readonly string[] = ['--heap-growing-percent=50'];

/** `--max_semi_space_size=8` and `--max-semi-space-size 8` name the same flag. */
function flagName(arg: string): string {
  return (arg.split('=', 1)[0] ?? '').replaceAll('_', '-');
}

/** The flags of `wanted` that neither the command line (`execArgv`) nor NODE_OPTIONS sets already. */
export function missingV8Flags(execArgv: readonly string[], nodeOptions: string | undefined, wanted: readonly string[] = OPERATOR_V8_FLAGS): string[] {
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName));
  return wanted.filter((flag) => !given.has(flagName(flag)));
}

/** Set in the relaunched process, so that a relaunch can never repeat itself. */
const RELAUNCHED = 'NEON_OPERATOR_RELAUNCHED';

/**
 * Applies the operator's V8 settings. Heap sizes are fixed when V8 starts, so a process started without
 * `OPERATOR_V8_FLAGS` replaces itself (`process.execve`: same PID, same stdio, same signals) with the same
 * command plus those flags; where `process.execve` does not exist (Windows) it goes on with Node's defaults.
 * Then the runtime flags are set. A flag the user gave (command line or NODE_OPTIONS, any value) is kept.
 */
export function applyV8Settings(): void {
  const missing = missingV8Flags(process.execArgv, process.env['NODE_OPTIONS']);
  if (missing.length > 0 && process.env[RELAUNCHED] === undefined && typeof process.execve === 'function') {
    process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)], {
      ...process.env,
      [RELAUNCHED]: '1',
    });
  }
  for (const flag of missingV8Flags(process.execArgv, process.env['NODE_OPTIONS'], OPERATOR_RUNTIME_V8_FLAGS)) setFlagsFromString(flag);
}

/** The module client-node's `dist/config.js` gets instead of its generated API index. */
export const KUBECONFIG_GEN_SHIM = new URL('./client-node-gen-shim.ts', import.meta.url).href;

/**
 * client-node's KubeConfig (`dist/config.js`) imports the package's generated API index, every API class and
 * model (about 40 MB of resident memory once loaded), for one method, `makeApiClient`, which uses two of its
 * names. This hook gives `dist/config.js` a module that re-exports just those two from the files that define
 * them, so KubeConfig works exactly as before (the same classes, `makeApiClient` included) without loading the
 * rest. Modules that import the package's index still get all of it.
 */
export function loadKubeConfigWithoutGeneratedApis(): void {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier === './gen/index.js' && context.parentURL?.endsWith('/@kubernetes/client-node/dist/config.js')) {
        return { url: KUBECONFIG_GEN_SHIM, format: 'module', shortCircuit: true };
      }
      return nextResolve(specifier, context);
    },
  });
}
