import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { startH2Server } from '../../test/tls/h2-server.ts';
import { NEON_AGENT_OPTIONS } from './http.ts';

describe('the Neon API agent', () => {
  it('speaks HTTP/1.1 to a TLS host that offers HTTP/2, where a default undici agent would negotiate HTTP/2', async () => {
    const server = await startH2Server();
    const plain = new Agent({ connect: { ca: server.ca } });
    const neon = new Agent({ ...NEON_AGENT_OPTIONS, connect: { ca: server.ca } });
    try {
      await (await request(server.url + '/api/v2/projects', { dispatcher: plain })).body.text();
      await (await request(server.url + '/api/v2/projects', { dispatcher: neon })).body.text();
      await (await request(server.url + '/api/v2/projects', { dispatcher: neon, method: 'POST', body: '{}' })).body.text();
      expect(server.versions).toEqual(['2.0', '1.1', '1.1']);
    } finally {
      await Promise.all([plain.close(), neon.close()]);
      await server.close();
    }
  });
});
