import { describe, expect, it } from 'vitest';
import { FakeTransport } from '../../runtime/fake-transport.ts';
import { KubeClient, METADATA_ACCEPT, type KubeRequest } from '../../runtime/index.ts';
import { CONNECTION_SECRET_KEYS, connectionSecretData, deleteOldSecret, poolerHostOf } from './connection-secret.ts';

describe('connection Secret', () => {
  const info = { host: 'ep-cool-1.c-2.us-east-2.aws.neon.tech', poolerHost: 'ep-cool-1-pooler.c-2.us-east-2.aws.neon.tech', dbname: 'app', username: 'app', password: 'p@ss:w/rd' };

  it('has exactly the keys apps expect, every URI with sslmode=require and encoded credentials', () => {
    const data = connectionSecretData(info);
    expect(Object.keys(data).sort()).toEqual([...CONNECTION_SECRET_KEYS].sort());
    expect(data['uri']).toBe('postgresql://app:p%40ss%3Aw%2Frd@ep-cool-1.c-2.us-east-2.aws.neon.tech:5432/app?sslmode=require');
    expect(data['pooled-uri']).toBe('postgresql://app:p%40ss%3Aw%2Frd@ep-cool-1-pooler.c-2.us-east-2.aws.neon.tech:5432/app?sslmode=require');
    expect(data['DATABASE_URL']).toBe(data['uri']);
    expect(data['jdbc-uri']).toBe('jdbc:postgresql://ep-cool-1.c-2.us-east-2.aws.neon.tech:5432/app?user=app&password=p%40ss%3Aw%2Frd&sslmode=require');
    expect(data['pgpass']).toBe('ep-cool-1.c-2.us-east-2.aws.neon.tech:5432:app:app:p@ss\\:w/rd\n');
    const parsed = new URL(data['uri'] ?? '');
    expect(decodeURIComponent(parsed.password)).toBe(info.password);
    expect(data).toMatchObject({ host: info.host, 'pooled-host': info.poolerHost, port: '5432', dbname: 'app', username: 'app', password: info.password });
  });

  it('derives the pooler host from the endpoint host', () => {
    expect(poolerHostOf('ep-a-1.c-2.us-east-2.aws.neon.tech')).toBe('ep-a-1-pooler.c-2.us-east-2.aws.neon.tech');
    expect(poolerHostOf('ep-a-1-pooler.c-2.us-east-2.aws.neon.tech')).toBe('ep-a-1-pooler.c-2.us-east-2.aws.neon.tech');
  });

  describe('deleteOldSecret', () => {
    const owner = { metadata: { namespace: 'team-a', name: 'app', uid: 'uid-role' } };
    function server(ownerUid: string): { transport: FakeTransport; requests: () => Array<Pick<KubeRequest, 'method' | 'path' | 'accept' | 'body'>> } {
      const transport = new FakeTransport();
      transport.handle = (req) =>
        req.method === 'GET'
          ? { apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: { name: 'old', namespace: 'team-a', uid: 'uid-secret', ownerReferences: [{ apiVersion: 'neon-operator.dev/v1alpha1', kind: 'NeonRole', name: 'app', uid: ownerUid, controller: true }] } }
          : {};
      return { transport, requests: () => transport.requests.map(({ method, path, accept, body }) => ({ method, path, accept, body })) };
    }

    it('reads only the metadata of the old Secret, and deletes it with a UID precondition when the object owns it', async () => {
      const { transport, requests } = server('uid-role');
      expect(await deleteOldSecret({ kube: new KubeClient(transport) }, 'team-a', 'old', 'new', owner)).toBe(true);
      expect(requests()).toEqual([
        { method: 'GET', path: '/api/v1/namespaces/team-a/secrets/old', accept: METADATA_ACCEPT, body: undefined },
        { method: 'DELETE', path: '/api/v1/namespaces/team-a/secrets/old', accept: undefined, body: expect.objectContaining({ preconditions: { uid: 'uid-secret' } }) },
      ]);
    });

    it("leaves a Secret someone else owns alone, and makes no request when the name did not change", async () => {
      const { transport, requests } = server('uid-someone-else');
      expect(await deleteOldSecret({ kube: new KubeClient(transport) }, 'team-a', 'old', 'new', owner)).toBe(false);
      expect(requests().map((r) => r.method)).toEqual(['GET']);
      expect(await deleteOldSecret({ kube: new KubeClient(transport) }, 'team-a', 'same', 'same', owner)).toBe(false);
      expect(requests().map((r) => r.method)).toEqual(['GET']);
    });
  });
});
