// A loopback HTTPS server that offers HTTP/2 (ALPN h2) and HTTP/1.1, like the Kubernetes API server and
// Neon's API do. It answers every request with `{}` and records the HTTP version each request used (and the
// common name of the client certificate, if one was sent), so a test can assert what a client negotiated.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issue, LEAF_EXTENSIONS } from '../controlplane/pki.ts';

export interface H2Server {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** PEM of the CA that signed the serving certificate. */
  readonly ca: string;
  /** `req.httpVersion` of every request answered so far, in order (`'1.1'` or `'2.0'`). */
  readonly versions: string[];
  /** The client certificate's CN of every request so far, in order (`''` without one). */
  readonly clients: string[];
  /** Issues a client certificate signed by the server's CA (PEM cert and key). */
  issueClient(commonName: string): Promise<{ cert: string; key: string }>;
  close(): Promise<void>;
}

export async function startH2Server(): Promise<H2Server> {
  const dir = await mkdtemp(join(tmpdir(), 'neon-operator-h2-'));
  const ca = await createCa(dir);
  const serving = await issue(dir, ca, 'serving', '/CN=localhost', [...LEAF_EXTENSIONS, 'extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
  const versions: string[] = [];
  const clients: string[] = [];
  const server: Http2SecureServer = createSecureServer(
    // Asks for a client certificate and takes any (or none): the test reads who presented which.
    { allowHTTP1: true, cert: await readFile(serving.cert), key: await readFile(serving.key), requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      versions.push(req.httpVersion);
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      clients.push(typeof peer.subject?.CN === 'string' ? peer.subject.CN : '');
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const caPem = await readFile(ca.cert, 'utf8');
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ca: caPem,
    versions,
    clients,
    async issueClient(commonName) {
      const issued = await issue(dir, ca, `client-${commonName}`, `/CN=${commonName}`, [...LEAF_EXTENSIONS, 'extendedKeyUsage=clientAuth']);
      return { cert: await readFile(issued.cert, 'utf8'), key: await readFile(issued.key, 'utf8') };
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
