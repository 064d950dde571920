// A minimal operator process for the SIGTERM end-to-end test: one controller whose reconcile takes a while,
// so the test can send SIGTERM while it is in flight and check that it finishes before the lease is released.
// Usage: node sigterm-operator.ts <kubeconfig> <namespace>
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { httpTransport, installSignalHandlers, KubeClient, Manager, writeStatus, type KubeObject, type ResourceType } from '../index.ts';

const [kubeconfigPath, namespace] = process.argv.slice(2);
if (!kubeconfigPath || !namespace) throw new Error('usage: sigterm-operator.ts <kubeconfig> <namespace>');
const gadgets: ResourceType = { group: 'runtime.example.test', version: 'v1', plural: 'gadgets', kind: 'Gadget', namespaced: true };
const kc = new KubeConfig();
kc.loadFromFile(kubeconfigPath);
const client = new KubeClient(httpTransport(kc));
const manager = new Manager({
  client,
  log: pino({ level: 'warn' }, pino.destination(2)),
  namespaces: [namespace],
  leaderElection: { namespace, name: 'sigterm-lock', identity: 'sigterm-operator', leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 },
  shutdownDeadlineMs: 10_000,
});
const controller = manager.addController<KubeObject & { status?: { done?: boolean } }>({
  name: 'gadget',
  resource: gadgets,
  reconciler: async (key, { signal }) => {
    const obj = controller.informer.get(key);
    if (!obj || obj.status?.done) return;
    process.stdout.write(`reconcile started ${key.name}\n`);
    await sleep(1_500, undefined, { signal }); // the slow part a SIGTERM arrives in the middle of
    await writeStatus(client, gadgets, obj, { done: true }, { signal });
    process.stdout.write(`reconcile finished ${key.name}\n`);
  },
});
installSignalHandlers(manager);
await manager.run();
process.stdout.write('exited cleanly\n');
