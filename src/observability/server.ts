/**
 * The operator's observability endpoint: `/metrics` (Prometheus text format), `/healthz` (liveness) and
 * `/readyz` (readiness), on one plain HTTP port as Kubernetes probes and Prometheus scrapes expect.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { EventLoopWatch } from './event-loop-watch.ts';

export interface ObservabilityServerOptions {
  /** 0 picks a free port (see `port` on the result). */
  port: number;
  /** Default `0.0.0.0` (a pod's probes and scrapes come from outside the container); tests use 127.0.0.1. */
  host?: string;
  registry: Registry;
  /** Readiness: caches synced and leader election running. Exceptions count as not ready. */
  isReady: () => boolean;
  /** Liveness beyond the event loop check, e.g. the manager is still running. Exceptions count as unhealthy. */
  isHealthy: () => boolean;
  /** Event-loop stall detection for `/healthz`; default: a watch with its default limits. `false` disables it. */
  eventLoopWatch?: EventLoopWatch | false;
}

export interface ObservabilityServer {
  /** The bound port (useful with `port: 0`). */
  readonly port: number;
  /** `http://host:port`, with 127.0.0.1 for a wildcard host. */
  readonly url: string;
  /** Stops listening and closes idle connections. Idempotent. */
  close(): Promise<void>;
}

function probe(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * Starts the server and resolves once it listens. Probe bodies say what failed in words, never anything
 * secret. Only GET and HEAD are served; other paths answer 404.
 */
export async function startObservabilityServer(options: ObservabilityServerOptions): Promise<ObservabilityServer> {
  const watch = options.eventLoopWatch === false ? undefined : (options.eventLoopWatch ?? new EventLoopWatch());

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, 'method not allowed\n');
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    switch (path) {
      case '/metrics': {
        const text = await options.registry.metrics();
        send(res, 200, text, options.registry.contentType);
        return;
      }
      case '/healthz': {
        if (watch?.stuck) {
          send(res, 503, `event loop stalled: ${String(Math.round(watch.lagMs))} ms behind\n`);
        } else if (!probe(options.isHealthy)) {
          send(res, 503, 'not healthy\n');
        } else {
          send(res, 200, 'ok\n');
        }
        return;
      }
      case '/readyz': {
        if (probe(options.isReady)) send(res, 200, 'ok\n');
        else send(res, 503, 'not ready: caches not synced or leader election not running\n');
        return;
      }
      default:
        send(res, 404, 'not found\n');
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, `error: ${err instanceof Error ? err.name : 'unknown'}\n`);
      else res.destroy();
    });
  });
  // Probes and scrapes are short; idle keep-alive sockets must not hold `close()` up.
  server.keepAliveTimeout = 5_000;

  const host = options.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Started only once listening, so a failed start leaves no timer behind; `close()` stops it.
  watch?.start();
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${urlHost}:${String(port)}`,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        watch?.stop();
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
