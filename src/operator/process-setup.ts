/**
 * What `node src/main.ts` does to its Node process before the operator's own modules load. Everything that
 * starts the operator goes through `src/main.ts` (the image's ENTRYPOINT, so the chart and deploy/ manifests;
 * `npm start`; the benchmarks and the process tests), so what is measured is what users run. Only `node:`
 * modules are imported here. README, "Memory", says what each setting saves.
 */
import { registerHooks } from 'node:module';

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
