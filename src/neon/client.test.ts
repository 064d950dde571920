/**
 * The client's edge (HTTP, parsing, error mapping) against a throwaway loopback server that answers
 * whatever each test needs, including answers the emulator would never give.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NeonClient } from './client.ts';
import {
  ConflictError,
  InvalidRequestError,
  MalformedResponseError,
  NotFoundError,
  OutcomeUnknownError,
  PreconditionFailedError,
  TransportError,
} from './errors.ts';
import { NeonScheduler } from './scheduler.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

interface Fake {
  url: string;
  seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  client: NeonClient;
}

const open: Array<{ server: Server; client: NeonClient }> = [];
afterEach(async () => {
  for (const { server, client } of open.splice(0)) {
    await client.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

const API_KEY = 'napi_unit_test_key_0123456789';

async function fake(handler: Handler, requestTimeoutMs = 5_000): Promise<Fake> {
  const seen: Fake['seen'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2`;
  const scheduler = new NeonScheduler({ retry: { backoff: { baseMs: 4, capMs: 8 } }, operationPoll: { initialMs: 5 } });
  const client = new NeonClient({ apiKey: API_KEY, scheduler, baseUrl: url, requestTimeoutMs });
  open.push({ server, client });
  return { url, seen, client };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const now = '2026-01-01T00:00:00Z';
const project = {
  id: 'p-1',
  platform_id: 'aws',
  region_id: 'aws-us-east-2',
  name: 'p',
  provisioner: 'k8s-neonvm',
  pg_version: 17,
  proxy_host: 'c-2.us-east-2.aws.neon.tech',
  store_passwords: true,
  creation_source: 'console',
  created_at: now,
  updated_at: now,
  owner_id: 'u',
  some_future_field: { nested: true },
};
const branch = {
  id: 'br-a-1',
  project_id: 'p-1',
  name: 'dev',
  current_state: 'ready',
  state_changed_at: now,
  creation_source: 'console',
  default: false,
  protected: false,
  created_at: now,
  updated_at: now,
};

describe('NeonClient edge', () => {
  it('sends the Bearer key and a fresh X-Request-ID per request, and tolerates unknown fields', async () => {
    const f = await fake((_req, res) => json(res, 200, { project }));
    const p1 = await f.client.getProject('p-1');
    await f.client.getProject('p-1');
    expect(p1.id).toBe('p-1');
    expect('some_future_field' in p1).toBe(false);
    expect(f.seen[0]?.url).toBe('/api/v2/projects/p-1');
    expect(f.seen[0]?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(f.seen[0]?.headers['user-agent']).toMatch(/^neon-operator\/\d+\.\d+\.\d+/);
    const ids = f.seen.map((s) => s.headers['x-request-id']);
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[0]).not.toBe(ids[1]);
  });

  it('a body that is not JSON is a MalformedResponseError (a GET is not retried for it)', async () => {
    const f = await fake((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>gateway</html>');
    });
    const err = await f.client.getProject('p-1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as MalformedResponseError).requestId).toBe(f.seen[0]?.headers['x-request-id']);
    expect(f.seen).toHaveLength(1);
  });

  it('a body of the wrong shape names the bad field, without echoing the body', async () => {
    const f = await fake((_req, res) => json(res, 200, { project: { ...project, id: 42, password: 'pw-in-body-123' } }));
    const err = await f.client.getProject('p-1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toContain('project.id');
    expect((err as Error).message).not.toContain('pw-in-body-123');
  });

  it('a malformed success answer to a mutation is outcome-unknown: it was applied, we cannot read it', async () => {
    const f = await fake((_req, res) => json(res, 201, { branch: { id: 'br-x' } }));
    const err = await f.client.createBranch('p-1', { branch: { name: 'x' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect((err as OutcomeUnknownError).cause).toBeInstanceOf(MalformedResponseError);
    expect(f.seen).toHaveLength(1);
  });

  it('maps statuses to typed errors with Neon code, message and request id', async () => {
    const answers: Array<[number, unknown]> = [
      [409, { code: 'BRANCH_ALREADY_EXISTS', message: 'branch already exists', request_id: 'x' }],
      [404, { code: '', message: 'branch not found' }],
      [412, { code: '', message: 'passwords are not stored' }],
      [422, { code: '', message: 'branch not ready yet' }],
    ];
    let i = 0;
    const f = await fake((_req, res) => {
      const [status, body] = answers[i++] as [number, unknown];
      json(res, status, body);
    });
    const conflict = await f.client.createBranch('p-1', { branch: { name: 'dev' } }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as ConflictError).code).toBe('BRANCH_ALREADY_EXISTS');
    expect((conflict as ConflictError).mayHaveApplied).toBe(false);
    expect((conflict as ConflictError).route).toBe('/projects/{project_id}/branches');
    expect((conflict as ConflictError).message).toContain('branch already exists');
    expect(await f.client.getBranch('p-1', 'br-gone').catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
    expect(await f.client.revealRolePassword('p-1', 'br-a-1', 'r').catch((e: unknown) => e)).toBeInstanceOf(PreconditionFailedError);
    expect(await f.client.updateBranch('p-1', 'br-a-1', { name: 'y' }).catch((e: unknown) => e)).toBeInstanceOf(InvalidRequestError);
    expect(f.seen).toHaveLength(4);
  });

  it('honours Retry-After given as an HTTP date, then succeeds', async () => {
    let calls = 0;
    const f = await fake((_req, res) => {
      calls++;
      if (calls === 1) json(res, 429, { code: '', message: 'slow down' }, { 'retry-after': new Date(Date.now() + 1_000).toUTCString() });
      else json(res, 200, { project });
    });
    const p = await f.client.getProject('p-1');
    expect(p.id).toBe('p-1');
    expect(calls).toBe(2);
  });

  it('a delete of something already gone (204) resolves to null', async () => {
    const f = await fake((_req, res) => {
      res.writeHead(204);
      res.end();
    });
    expect(await f.client.deleteBranch('p-1', 'br-a-1')).toBeNull();
  });

  it('a mutation without an answer in time is outcome-unknown and sent once', async () => {
    const f = await fake(() => undefined, 100);
    const err = await f.client.createBranch('p-1', { branch: { name: 'slow' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect((err as OutcomeUnknownError).cause).toBeInstanceOf(TransportError);
    expect(f.seen).toHaveLength(1);
  });

  it('a refused connection is a TransportError that was never applied (so even a mutation is retried)', async () => {
    const f = await fake((_req, res) => json(res, 200, { branch, operations: [] }));
    const scheduler = new NeonScheduler({ retry: { maxAttempts: 3, backoff: { baseMs: 4, capMs: 8 } } });
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const client = new NeonClient({ apiKey: API_KEY, scheduler, baseUrl: `http://127.0.0.1:${port}/api/v2` });
    const err = await client.updateBranch('p-1', 'br-a-1', { name: 'z' }).catch((e: unknown) => e);
    await client.close();
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).mayHaveApplied).toBe(false);
    expect(scheduler.stats().retries).toBe(2);
    expect(f.seen).toHaveLength(0);
  });

  it('sends branch annotations as annotation_value and endpoints as given', async () => {
    const f = await fake((_req, res) => json(res, 201, { branch, endpoints: [], operations: [], roles: [], databases: [] }));
    await f.client.createBranch('p-1', { branch: { name: 'dev' }, endpoints: [{ type: 'read_write' }], annotations: { 'neon.tech/owner': 'uid-1' } });
    expect(JSON.parse(f.seen[0]?.body ?? '{}')).toEqual({
      branch: { name: 'dev' },
      endpoints: [{ type: 'read_write' }],
      annotation_value: { 'neon.tech/owner': 'uid-1' },
    });
  });
});
