// A counting HTTP proxy in front of the Neon emulator: give each operator process its own proxy URL and the
// proxy's log says which process made which Neon call (the emulator cannot tell processes that share an API
// key apart, and distinct keys would be distinct accounts).
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface ProxiedRequest {
  method: string;
  /** Path below the emulator's root, with the query (e.g. /api/v2/projects). */
  path: string;
  status: number;
  /** Date.now() when the request arrived. */
  at: number;
  /** The JSON request body, parsed; undefined when there was none. */
  body: unknown;
}

export interface CountingProxy {
  /** Base URL to give the operator as --neon-api-url (ends in /api/v2 like the emulator's). */
  url: string;
  readonly requests: ProxiedRequest[];
  /** Called after each response has been sent to the client. */
  onResponse: ((request: ProxiedRequest) => void) | undefined;
  stop(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const HOP_BY_HOP = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive']);

/** Starts a proxy on 127.0.0.1 forwarding everything to `emulatorUrl` (e.g. http://127.0.0.1:PORT/api/v2). */
export async function startCountingProxy(emulatorUrl: string): Promise<CountingProxy> {
  const target = new URL(emulatorUrl);
  const requests: ProxiedRequest[] = [];
  const proxy: CountingProxy = { url: '', requests, onResponse: undefined, stop: async () => undefined };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const at = Date.now();
      const body = await readBody(req);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && typeof v === 'string') headers[k] = v;
      const entry: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', status: 0, at, body: undefined };
      try {
        entry.body = body.length > 0 ? JSON.parse(body.toString('utf8')) : undefined;
      } catch {
        entry.body = undefined;
      }
      requests.push(entry);
      try {
        const answer = await fetch(new URL(req.url ?? '/', target.origin), {
          method: entry.method,
          headers,
          ...(body.length > 0 ? { body } : {}),
        });
        const text = Buffer.from(await answer.arrayBuffer());
        entry.status = answer.status;
        const out: Record<string, string> = {};
        answer.headers.forEach((v, k) => {
          if (!HOP_BY_HOP.has(k) && k !== 'content-encoding') out[k] = v;
        });
        res.writeHead(answer.status, out);
        res.end(text);
      } catch {
        res.destroy();
      }
      proxy.onResponse?.(entry);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  proxy.url = `http://127.0.0.1:${port}${target.pathname}`;
  proxy.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
