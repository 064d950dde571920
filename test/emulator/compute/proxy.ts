// The emulator's compute front door, shaped like Neon's proxy: it speaks TLS to clients (only TLS, like Neon),
// reads which endpoint they want from the TLS server name (`ep-x.<region host>` or `ep-x-pooler.…`, as libpq
// and node-postgres send it) or from `options=endpoint=ep-x`, and forwards the connection to that
// endpoint's branch server over a Unix socket. Authentication is the branch server's own (SCRAM).
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** Where a connection for an endpoint goes, or why it cannot. */
export type ComputeRoute = { socketPath: string } | { refused: string; code: string };

export interface ComputeProxyOptions {
  /** A loopback address, e.g. 127.0.0.1 or 127.x.y.z. */
  address: string;
  port: number;
  certPem: string;
  keyPem: string;
  /** Called once per connection, after the client has said which endpoint it wants. */
  route(endpointId: string): Promise<ComputeRoute>;
}

/** Reads exactly `n` bytes (fewer only if the peer closes first). */
function readBytes(stream: Duplex, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      stream.off('readable', attempt);
      stream.off('end', closed);
      stream.off('close', closed);
      stream.off('error', closed);
    };
    const attempt = (): void => {
      const chunk = stream.read(n) as Buffer | null;
      if (chunk !== null) {
        done();
        resolve(chunk);
      }
    };
    const closed = (): void => {
      done();
      reject(new Error('the client closed the connection'));
    };
    stream.on('readable', attempt);
    stream.on('end', closed);
    stream.on('close', closed);
    stream.on('error', closed);
    attempt();
  });
}

/** A Postgres FATAL ErrorResponse. */
export function errorResponse(code: string, message: string): Buffer {
  const field = (type: string, value: string): Buffer => Buffer.concat([Buffer.from(type), Buffer.from(value, 'utf8'), Buffer.from([0])]);
  const body = Buffer.concat([field('S', 'FATAL'), field('V', 'FATAL'), field('C', code), field('M', message), Buffer.from([0])]);
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** The startup packet's parameters (user, database, options …). */
function startupParameters(packet: Buffer): Record<string, string> {
  const params: Record<string, string> = {};
  const parts = packet.subarray(8).toString('utf8').split('\0');
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const key = parts[i];
    if (key) params[key] = parts[i + 1] ?? '';
  }
  return params;
}

/** `ep-x` from `ep-x.region…` or `ep-x-pooler.region…`; the pooled host reaches the same server. */
export function endpointIdOf(serverName: string | undefined, options: string | undefined): string | undefined {
  if (serverName) {
    const first = serverName.split('.')[0] ?? '';
    return first.endsWith('-pooler') ? first.slice(0, -'-pooler'.length) : first;
  }
  return /(?:^|\s)endpoint=([a-z0-9-]+)/.exec(options ?? '')?.[1];
}

export class ComputeProxy {
  readonly address: string;
  readonly port: number;
  private readonly server: Server;
  private readonly sockets: Set<Socket | TLSSocket>;

  private constructor(server: Server, address: string, port: number, sockets: Set<Socket | TLSSocket>) {
    this.server = server;
    this.sockets = sockets;
    this.address = address;
    this.port = port;
  }

  /** Listens on `address:port` (port 0: any free port). Rejects on EADDRINUSE. */
  static async listen(opts: ComputeProxyOptions): Promise<ComputeProxy> {
    const context = createSecureContext({ cert: opts.certPem, key: opts.keyPem });
    const sockets = new Set<Socket | TLSSocket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      serve(socket, context, opts, sockets).catch(() => socket.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : opts.port;
    return new ComputeProxy(server, opts.address, port, sockets);
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function serve(socket: Socket, context: SecureContext, opts: ComputeProxyOptions, sockets: Set<Socket | TLSSocket>): Promise<void> {
  let request = await readBytes(socket, 8);
  if (request.length === 8 && request.readInt32BE(4) === GSSENC_REQUEST) {
    socket.write('N');
    request = await readBytes(socket, 8);
  }
  if (request.length < 8 || request.readInt32BE(4) !== SSL_REQUEST) {
    // Neon accepts TLS only; a plain startup packet gets Neon's answer in plain text.
    socket.end(errorResponse('08P01', 'connection is insecure (try using `sslmode=require`)'));
    return;
  }
  socket.write('S');
  const tls = new TLSSocket(socket, { isServer: true, secureContext: context });
  sockets.add(tls);
  tls.once('close', () => sockets.delete(tls));
  tls.on('error', () => tls.destroy());
  await new Promise<void>((resolve, reject) => {
    tls.once('secure', resolve);
    tls.once('error', reject);
    tls.once('close', () => reject(new Error('closed during the TLS handshake')));
  });
  const head = await readBytes(tls, 4);
  const length = head.readInt32BE(0);
  if (length < 8 || length > 10_000) {
    tls.end(errorResponse('08P01', 'invalid startup packet'));
    return;
  }
  const packet = Buffer.concat([head, await readBytes(tls, length - 4)]);
  const code = packet.readInt32BE(4);
  const params = code === CANCEL_REQUEST ? {} : startupParameters(packet);
  if (params['user'] === 'cloud_admin') {
    tls.end(errorResponse('28000', 'role "cloud_admin" is reserved'));
    return;
  }
  const serverName = typeof tls.servername === 'string' ? tls.servername : undefined;
  const endpointId = endpointIdOf(serverName, params['options']);
  if (!endpointId) {
    tls.end(errorResponse('08P01', 'the endpoint ID is not specified: use a client that sends SNI, or pass options=endpoint%3D<endpoint-id>'));
    return;
  }
  const route = await opts.route(endpointId);
  if ('refused' in route) {
    tls.end(errorResponse(route.code, route.refused));
    return;
  }
  const backend = netConnect(route.socketPath);
  sockets.add(backend);
  backend.once('close', () => {
    sockets.delete(backend);
    tls.destroy();
  });
  tls.once('close', () => backend.destroy());
  backend.once('error', () => {
    if (!backend.readyState.includes('open')) tls.end(errorResponse('08006', `endpoint ${endpointId} is not reachable`));
  });
  backend.once('connect', () => {
    backend.write(packet);
    tls.pipe(backend);
    backend.pipe(tls);
  });
}
