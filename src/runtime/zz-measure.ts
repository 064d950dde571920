import { startControlPlane } from '../../test/controlplane/harness.ts';
import { httpTransport, coreResources } from './index.ts';
const cp = await startControlPlane({ log: () => undefined });
try {
  const t = httpTransport(cp.kubeconfig);
  const list = (await t.request({ method: 'GET', path: '/api/v1/namespaces/default/configmaps' })) as { metadata: { resourceVersion: string } };
  const start = Date.now();
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(), 200_000);
  try {
    for await (const ev of t.watch('/api/v1/namespaces/default/configmaps', { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 600 }, ctl.signal)) {
      console.log(((Date.now() - start) / 1000).toFixed(1), (ev as { type: string }).type);
    }
  } catch (e) { console.log('ended', String(e)); }
  void coreResources;
} finally { await cp.stop(); }
