// How a test or the demo connects with what a Secret says. The Secret's host names are Neon's
// (`ep-x.<region host>`, `ep-x-pooler.<region host>`) and resolve nowhere here, so the client is given a
// resolver that maps them to the emulator's compute address: the one thing a test adds to the Secret, with
// the self-made CA it must trust. Everything else (user, password, database, port, sslmode) is the Secret's.
import { Socket } from 'node:net';
import pg from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import type { ComputeAccess } from './data-plane.ts';

/** `host` if it is one of the emulator's compute hosts, mapped to the compute address; otherwise unchanged. */
export function resolveCompute(access: ComputeAccess, host: string, port: number): { host: string; port: number } {
  return host.endsWith(`.${access.regionHost}`) && port === 5432 ? { host: access.address, port: access.port } : { host, port };
}

/**
 * A node-postgres configuration for a connection URI as a Secret holds it (`sslmode=require`): parsed by
 * pg's own parser, the server certificate checked against the emulator's CA and the host name, and the
 * host resolved with {@link resolveCompute}.
 */
export function computeClientConfig(access: ComputeAccess, uri: string): pg.ClientConfig {
  return clientConfig(uri, { caPem: access.caPem, resolve: (host, port) => resolveCompute(access, host, port) });
}

/**
 * pg 8 reads every sslmode but `disable` as verify-full (CA and host name checked) and warns that this will
 * change; this does the same without the warning: TLS unless the URI says `sslmode=disable` or names no
 * sslmode, trusting `caPem` (else the system's CAs). `resolve` maps a host and port to where to connect
 * (libpq's hostaddr); the certificate is still checked against the URI's host.
 */
export function clientConfig(uri: string, opts: { caPem?: string; resolve?: (host: string, port: number) => { host: string; port: number } } = {}): pg.ClientConfig {
  const url = new URL(uri);
  const sslmode = url.searchParams.get('sslmode');
  url.searchParams.delete('sslmode');
  const parsed = parseIntoClientConfig(url.toString());
  const resolve = opts.resolve;
  return {
    ...parsed,
    ssl: sslmode === null || sslmode === 'disable' ? false : opts.caPem !== undefined ? { ca: opts.caPem } : {},
    ...(resolve
      ? {
          stream: () => {
            const socket = new Socket();
            const connect = socket.connect.bind(socket) as (port: number, host: string) => Socket;
            // pg calls connect(port, host) with the URI's host; TLS then checks the certificate against it.
            (socket as unknown as { connect: (port: number, host: string) => Socket }).connect = (port, host) => {
              const to = resolve(host, Number(port));
              return connect(to.port, to.host);
            };
            return socket;
          },
        }
      : {}),
  };
}

/** Connects with a Secret's URI (see {@link computeClientConfig}); the caller ends the client. */
export async function connectWithUri(access: ComputeAccess, uri: string): Promise<pg.Client> {
  const client = new pg.Client({ ...computeClientConfig(access, uri), connectionTimeoutMillis: 30_000 });
  await client.connect();
  return client;
}

/** Runs one query over a fresh connection made from the URI. */
export async function queryWithUri<R extends pg.QueryResultRow = pg.QueryResultRow>(access: ComputeAccess, uri: string, sql: string, values: unknown[] = []): Promise<R[]> {
  const client = await connectWithUri(access, uri);
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end();
  }
}
