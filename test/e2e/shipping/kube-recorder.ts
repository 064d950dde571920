// A recording proxy between an operator process and the kube-apiserver: the operator gets a kubeconfig that
// points at the proxy (plain HTTP on loopback, same token), the proxy forwards every request over TLS and
// notes what was asked: method, path, query and the Accept header, which the API server's audit log cannot
// show (and the Accept header is what makes a list or watch "metadata only"). Responses are streamed through
// untouched, so watches behave as they would without it.
import { writeFile } from 'node:fs/promises';
import { createServer, type ClientRequest, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export interface RecordedKubeRequest {
  method: string;
  /** The URL path, without the query. */
  path: string;
  query: Record<string, string>;
  /** The Accept header as sent; '' when there was none. */
  accept: string;
}

export interface KubeRecorder {
  /** A kubeconfig with the same credentials as the one given, pointing at the proxy. */
  kubeconfigPath: string;
  readonly requests: RecordedKubeRequest[];
  stop(): Promise<void>;
}

function caOf(kc: KubeConfig): Buffer | undefined {
  const cluster = kc.getCurrentCluster();
  if (cluster?.caData) return Buffer.from(cluster.caData, 'base64');
  return undefined;
}

/** Starts the proxy for the cluster and user of `kubeconfigPath`; writes the proxy's kubeconfig into `workDir`. */
export async function startKubeRecorder(kubeconfigPath: string, workDir: string): Promise<KubeRecorder> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster || !user) throw new Error(`${kubeconfigPath} has no current cluster or user`);
  const target = new URL(cluster.server);
  const ca = caOf(kc);
  const requests: RecordedKubeRequest[] = [];
  const upstream = new Set<ClientRequest>();

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', target.origin);
    requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      accept: typeof req.headers.accept === 'string' ? req.headers.accept : '',
    });
    const headers = { ...req.headers, host: target.host };
    const forward = httpsRequest(
      { hostname: target.hostname, port: target.port || 443, method: req.method, path: req.url, headers, ...(ca ? { ca } : { rejectUnauthorized: false }) },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.add(forward);
    forward.on('close', () => upstream.delete(forward));
    forward.on('error', () => res.destroy());
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const proxied = new KubeConfig();
  proxied.loadFromOptions({
    clusters: [{ name: 'recorder', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [user],
    contexts: [{ name: 'recorder', cluster: 'recorder', user: user.name }],
    currentContext: 'recorder',
  });
  const path = join(workDir, 'recorded.kubeconfig');
  await writeFile(path, proxied.exportConfig(), { mode: 0o600 });
  return {
    kubeconfigPath: path,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const r of upstream) r.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
