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
 * pg itself, the server certificate checked against the emulator's CA and the host name, and the host
 * resolved with {@link resolveCompute}.
 */
export function computeClientConfig(access: ComputeAccess, uri: string): pg.ClientConfig {
  const parsed = parseIntoClientConfig(uri);
  return {
    ...parsed,
    // No TLS when the URI asks for none (the compute refuses that, as Neon does).
    ssl: parsed.ssl === false || parsed.ssl === undefined ? false : { ...(parsed.ssl === true ? {} : parsed.ssl), ca: access.caPem },
    stream: () => {
      const socket = new Socket();
      const connect = socket.connect.bind(socket) as (port: number, host: string) => Socket;
      // pg calls connect(port, host) with the URI's host; TLS still checks the certificate against it.
      (socket as unknown as { connect: (port: number, host: string) => Socket }).connect = (port, host) => {
        const to = resolveCompute(access, host, Number(port));
        return connect(to.port, to.host);
      };
      return socket;
    },
  };
}

/** Connects with a Secret's URI (see {@link computeClientConfig}); the caller ends the client. */
export async function connectWithUri(access: ComputeAccess, uri: string): Promise<pg.Client> {
  const client = new pg.Client(computeClientConfig(access, uri));
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
