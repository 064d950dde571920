import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { Agent, fetch, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startH2Server } from '../../test/tls/h2-server.ts';
import { httpTransport, isConflict, isNotFound, KubeApiError, KubeClient, coreResources, METADATA_ACCEPT, type ResourceType } from './kube-client.ts';

const widgets: ResourceType = { group: 'example.dev', version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: true };

/** A kubeconfig with one cluster (`cluster` gives its server and TLS fields) and a bearer-token user. */
function tokenKubeConfig(cluster: { server: string; skipTLSVerify?: boolean; caData?: string }): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', ...cluster }],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

/** A loopback HTTP server standing in for the API server; each test sets `route`. */
let route: (req: IncomingMessage, body: string, res: ServerResponse) => void = (_req, _body, res) => res.end();
let server: Server;
let client: KubeClient;
const seen: Array<{ method: string; url: string; contentType: string | undefined; accept: string | undefined; body: string }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], accept: req.headers.accept, body });
      route(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kc = tokenKubeConfig({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true });
  client = new KubeClient(httpTransport(kc));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('httpTransport + KubeClient', () => {
  it('reuses one connection pool for the API server instead of a new one per request', async () => {
    route = (_req, _body, res) => json(res, 200, { metadata: { name: 'w' } });
    let connections = 0;
    const count = (): void => void connections++;
    server.on('connection', count);
    try {
      for (let i = 0; i < 20; i++) await client.get(widgets, { namespace: 'ns', name: 'w' });
    } finally {
      server.off('connection', count);
    }
    // Sequential requests reuse kept-alive connections of one pool: a couple at most, where a pool per request
    // (client-node's applySecurityAuthentication builds one each time) opens one connection per request.
    expect(connections).toBeLessThanOrEqual(2);
  });

  it('remembers the versions its own writes produced, and only those', async () => {
    let rv = 10;
    route = (_req, _body, res) => json(res, 200, { metadata: { name: 'w', namespace: 'ns', uid: 'u-1', resourceVersion: String(++rv) } });
    const written = await client.patch(widgets, { namespace: 'ns', name: 'w' }, { status: {} }, { type: 'merge', subresource: 'status' });
    expect(client.wroteVersion(written)).toBe(true);
    const read = await client.get(widgets, { namespace: 'ns', name: 'w' });
    expect(client.wroteVersion(read ?? {})).toBe(false); // rv 12 came from a read, not a write
    expect(client.wroteVersion({ metadata: { name: 'w', uid: 'u-2', resourceVersion: '11' } })).toBe(false);
  });

  it('sends patches with the content type they are, and server-side apply with fieldManager and force', async () => {
    seen.length = 0;
    route = (_req, body, res) => json(res, 200, JSON.parse(body));
    await client.patch(widgets, { namespace: 'ns', name: 'w' }, { status: { a: 1 } }, { type: 'merge', subresource: 'status' });
    await client.patch(coreResources.secret, { namespace: 'ns', name: 's' }, { data: {} }, { type: 'apply', fieldManager: 'op', force: true });
    expect(seen.map((s) => [s.method, s.url, s.contentType])).toEqual([
      ['PATCH', '/apis/example.dev/v1/namespaces/ns/widgets/w/status', 'application/merge-patch+json'],
      ['PATCH', '/api/v1/namespaces/ns/secrets/s?fieldManager=op&force=true', 'application/apply-patch+yaml'],
    ]);
    await expect(client.patch(coreResources.secret, { namespace: 'ns', name: 's' }, {}, { type: 'apply' })).rejects.toThrow(/fieldManager/);
  });

  it('turns Status answers into KubeApiError with the reason; get() of a missing object is undefined', async () => {
    route = (req, _body, res) =>
      req.method === 'GET'
        ? json(res, 404, { kind: 'Status', reason: 'NotFound', code: 404, message: 'widgets "w" not found' })
        : json(res, 409, { kind: 'Status', reason: 'Conflict', code: 409, message: 'the object has been modified' });
    expect(await client.get(widgets, { namespace: 'ns', name: 'w' })).toBeUndefined();
    const err = await client.replace(widgets, { metadata: { namespace: 'ns', name: 'w', resourceVersion: '1' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(isConflict(err)).toBe(true);
    expect(isNotFound(err)).toBe(false);
    expect((err as Error).message).toContain('the object has been modified');
  });

  it('metadata only: list, get and watch ask for PartialObjectMetadata[List] in the Accept header, and answer with the type', async () => {
    seen.length = 0;
    const partial = (name: string) => ({ apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: { name, namespace: 'ns', labels: { a: 'b' } } });
    route = (req, _body, res) => {
      if (req.url?.includes('watch=true')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify({ type: 'ADDED', object: partial('w') })}\n`);
      } else if (req.url?.includes('/secrets/')) json(res, 200, partial('s'));
      else json(res, 200, { apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '7' }, items: [partial('a')] });
    };
    const list = await client.list(coreResources.secret, 'ns', { metadataOnly: true, labelSelector: 'x=y' });
    expect(list.items).toEqual([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'a', namespace: 'ns', labels: { a: 'b' } } }]);
    expect(await client.getMetadata(coreResources.secret, { namespace: 'ns', name: 's' })).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'ns', labels: { a: 'b' } },
    });
    for await (const _ of client.transport.watch('/api/v1/namespaces/ns/secrets', {}, new AbortController().signal, { accept: METADATA_ACCEPT })) void _;
    await client.get(coreResources.secret, { namespace: 'ns', name: 's' });
    expect(seen.map((s) => [s.url, s.accept])).toEqual([
      ['/api/v1/namespaces/ns/secrets?limit=500&labelSelector=x%3Dy', 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1'],
      ['/api/v1/namespaces/ns/secrets/s', 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1'],
      ['/api/v1/namespaces/ns/secrets?watch=true', 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1'],
      // A plain read still asks for the whole object.
      ['/api/v1/namespaces/ns/secrets/s', 'application/json'],
    ]);
  });

  it('getMetadata of a missing object is undefined', async () => {
    route = (_req, _body, res) => json(res, 404, { kind: 'Status', reason: 'NotFound', code: 404, message: 'secrets "s" not found' });
    expect(await client.getMetadata(coreResources.secret, { namespace: 'ns', name: 's' })).toBeUndefined();
  });

  it('follows list pages and returns the last page resourceVersion', async () => {
    seen.length = 0;
    route = (req, _body, res) => {
      const url = new URL(req.url ?? '', 'http://x');
      if (!url.searchParams.get('continue')) json(res, 200, { metadata: { resourceVersion: '5', continue: 'page2' }, items: [{ metadata: { name: 'a' } }] });
      else json(res, 200, { metadata: { resourceVersion: '6' }, items: [{ metadata: { name: 'b' } }] });
    };
    const list = await client.list(widgets, 'ns', { pageSize: 1 });
    expect(list.items.map((i) => i.metadata?.name)).toEqual(['a', 'b']);
    expect(list.resourceVersion).toBe('6');
    expect(seen).toHaveLength(2);
  });

  it('watch: yields one event per line even when lines are split across chunks, and sends the auth header', async () => {
    let auth: string | undefined;
    route = (req, _body, res) => {
      auth = req.headers.authorization;
      res.writeHead(200, { 'content-type': 'application/json' });
      const lines = `${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } })}\n${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } })}\n`;
      res.write(lines.slice(0, 17));
      setTimeout(() => {
        res.write(lines.slice(17, 60));
        setTimeout(() => res.end(lines.slice(60)), 5);
      }, 5);
    };
    const events: unknown[] = [];
    for await (const e of client.transport.watch('/apis/example.dev/v1/widgets', { resourceVersion: '1' }, new AbortController().signal)) events.push(e);
    expect(events).toEqual([
      { type: 'ADDED', object: { metadata: { name: 'a' } } },
      { type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } },
    ]);
    expect(auth).toBe('Bearer test-token');
    expect(seen.at(-1)?.url).toBe('/apis/example.dev/v1/widgets?resourceVersion=1&watch=true');
  });

  it('watch: a non-200 answer is a KubeApiError (410 is recognisable for a relist)', async () => {
    route = (_req, _body, res) => json(res, 410, { kind: 'Status', reason: 'Expired', code: 410, message: 'too old resource version' });
    const iterate = async () => {
      for await (const _ of client.transport.watch('/apis/example.dev/v1/widgets', {}, new AbortController().signal)) void _;
    };
    await expect(iterate()).rejects.toMatchObject({ statusCode: 410, reason: 'Expired' });
  });
});

describe('httpTransport: requests in flight', () => {
  it('sends at most maxRequestsInFlight requests at once; the rest wait their turn, and a watch does not wait', async () => {
    const held: ServerResponse[] = [];
    let inFlight = 0;
    let most = 0;
    const local = createServer((req, res) => {
      if (req.url?.includes('watch=true')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'w' } } }) + '\n');
        return;
      }
      inFlight++;
      most = Math.max(most, inFlight);
      held.push(res);
    });
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    try {
      const kc = tokenKubeConfig({ server: `http://127.0.0.1:${(local.address() as AddressInfo).port}`, skipTLSVerify: true });
      const transport = httpTransport(kc, { maxRequestsInFlight: 2 });
      const answers = Array.from({ length: 5 }, (_, i) => transport.request({ method: 'GET', path: `/api/v1/namespaces/default/configmaps/c${i}` }));
      await vi.waitFor(() => expect(held).toHaveLength(2));
      // Two requests are held by the server; a watch still gets through.
      const events: unknown[] = [];
      for await (const event of transport.watch('/api/v1/configmaps', {}, new AbortController().signal)) events.push(event);
      expect(events).toHaveLength(1);
      // Answer whatever is held until all five are answered.
      let answered = 0;
      while (answered < 5) {
        await vi.waitFor(() => expect(held.length).toBeGreaterThan(0));
        const res = held.shift()!;
        inFlight--;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ n: answered++ }));
      }
      expect(await Promise.all(answers)).toHaveLength(5);
      expect(most).toBe(2);
    } finally {
      await new Promise<void>((resolve) => local.close(() => resolve()));
    }
  });
});

describe('httpTransport against a TLS API server that offers HTTP/2', () => {
  it('speaks HTTP/1.1 for requests and watches, where a default undici agent would negotiate HTTP/2', async () => {
    const server = await startH2Server();
    try {
      // The control: undici's default agent takes the server's h2 offer.
      const plain = new Agent({ connect: { ca: server.ca } });
      await (await fetch(server.url + '/version', { dispatcher: plain })).text();
      await plain.close();
      expect(server.versions).toEqual(['2.0']);

      const kc = tokenKubeConfig({ server: server.url, caData: Buffer.from(server.ca).toString('base64') });
      const transport = httpTransport(kc);
      await transport.request({ method: 'GET', path: '/api/v1/namespaces/default/configmaps/a' });
      await transport.request({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', body: { metadata: { name: 'b' } } });
      for await (const event of transport.watch('/api/v1/configmaps', {}, new AbortController().signal)) void event;
      expect(server.versions).toEqual(['2.0', '1.1', '1.1', '1.1']);
    } finally {
      await server.close();
    }
  });

  it('a client certificate that changes (an exec credential plugin\'s) is used from the next request on', async () => {
    const server = await startH2Server();
    try {
      const [first, second] = [await server.issueClient('first'), await server.issueClient('second')];
      let presented = first;
      const kc = tokenKubeConfig({ server: server.url, caData: Buffer.from(server.ca).toString('base64') });
      // What client-node's exec authenticator does with a plugin's clientCertificateData and clientKeyData.
      kc.addAuthenticator({
        isAuthProvider: () => true,
        applyAuthentication: (_user, opts) => {
          opts.cert = presented.cert;
          opts.key = presented.key;
          return Promise.resolve();
        },
      });
      const transport = httpTransport(kc);
      const get = () => transport.request({ method: 'GET', path: '/api/v1/namespaces/default/configmaps/a' });
      await get();
      await get();
      presented = second;
      await get();
      await get();
      expect(server.clients).toEqual(['first', 'first', 'second', 'second']);
    } finally {
      await server.close();
    }
  });

  it('speaks HTTP/1.1 also where the kubeconfig needs no TLS settings of its own (undici\'s global dispatcher)', async () => {
    const server = await startH2Server();
    const global = getGlobalDispatcher();
    // The system's trust store, as far as this test is concerned: a global agent that knows the test CA.
    const trusting = new Agent({ connect: { ca: server.ca } });
    setGlobalDispatcher(trusting);
    try {
      await (await fetch(server.url + '/version')).text();
      expect(server.versions).toEqual(['2.0']);
      const kc = tokenKubeConfig({ server: server.url });
      const transport = httpTransport(kc);
      await transport.request({ method: 'GET', path: '/api/v1/namespaces/default/configmaps/a' });
      for await (const event of transport.watch('/api/v1/configmaps', {}, new AbortController().signal)) void event;
      expect(server.versions).toEqual(['2.0', '1.1', '1.1']);
    } finally {
      setGlobalDispatcher(global);
      await trusting.close();
      await server.close();
    }
  });
});
