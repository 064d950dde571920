// A control plane of its own (not the run's shared one), whose kube-apiserver is SIGKILLed and started again
// on the same etcd data, port and certificates: what a crashed API server does to an operator. Objects written
// before the kill are there after it, and the same kubeconfig reaches the restarted server.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { coreResources, httpTransport, KubeClient, type KubeObject } from '../../src/runtime/index.ts';
import { startControlPlane, type ControlPlane } from './harness.ts';

describe('test control plane: kill and restart', () => {
  let cp: ControlPlane | undefined;
  afterAll(async () => {
    await cp?.stop();
  });

  it('restarts kube-apiserver on the same data, port and certificates', async () => {
    if (process.env['E2E_USE_EXISTING_CLUSTER'] === '1') return;
    cp = await startControlPlane({ log: () => undefined });
    const kube = new KubeClient(httpTransport(cp.kubeconfig, { userAgent: 'controlplane-restart-test' }));
    const name = `restart-${randomBytes(3).toString('hex')}`;
    await kube.create(coreResources.configMap, { metadata: { name, namespace: 'default' }, data: { written: 'before the kill' } });

    await cp.kill('kube-apiserver');
    expect(cp.isRunning('kube-apiserver')).toBe(false);
    expect(cp.isRunning('etcd')).toBe(true);
    await expect(kube.get<KubeObject>(coreResources.configMap, { namespace: 'default', name })).rejects.toThrow();

    await cp.restart('kube-apiserver');
    expect(cp.isRunning('kube-apiserver')).toBe(true);
    const again = await kube.get<KubeObject>(coreResources.configMap, { namespace: 'default', name });
    expect(again?.metadata?.name).toBe(name);
  }, 180_000);
});
