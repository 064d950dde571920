// For e2e test files (the vitest project `e2e`): the control plane the global setup started for this run.
import { inject } from 'vitest';
import { connectControlPlane, type ControlPlaneClient } from './harness.ts';

let client: ControlPlaneClient | undefined;

/** The run's shared control plane (admin KubeConfig, installCrds, mintServiceAccountKubeconfig, logTails). */
export function useControlPlane(): ControlPlaneClient {
  client ??= connectControlPlane(inject('controlPlane'));
  return client;
}
