// vitest globalSetup of the e2e project: one control plane for the whole run, stopped at the end. Test files
// reach it with `useControlPlane()` from ./e2e.ts (vitest provide/inject); the kubeconfig path is also in the
// environment variable E2E_KUBECONFIG for tools and child processes that tests start.
import type { TestProject } from 'vitest/node';
import { startControlPlane, type ControlPlaneInfo } from './harness.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ControlPlaneInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cp = await startControlPlane();
  const info: ControlPlaneInfo = {
    kubeconfigPath: cp.kubeconfigPath,
    server: cp.server,
    logsDir: cp.logsDir,
    workDir: cp.workDir,
    external: cp.external,
  };
  project.provide('controlPlane', info);
  process.env['E2E_KUBECONFIG'] = cp.kubeconfigPath;
  return async () => {
    await cp.stop();
  };
}
