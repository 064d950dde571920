import { describe, expect, it } from 'vitest';
import { FakeTransport } from './fake-transport.ts';
import { ensureFinalizer, removeFinalizer } from './finalizers.ts';
import { KubeApiError, KubeClient, type KubeObject, type ResourceType } from './kube-client.ts';
import { writeStatus } from './status.ts';

const widgets: ResourceType = { group: 'example.dev', version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: true };

interface Widget extends KubeObject {
  status?: { observedGeneration?: number; host?: string; id?: string };
}

function setup() {
  const transport = new FakeTransport();
  transport.handle = (req) => ({ echoed: req.body });
  return { transport, client: new KubeClient(transport) };
}

const widget = (extra: Partial<Widget> = {}): Widget => ({
  metadata: { namespace: 'ns', name: 'w', resourceVersion: '7', generation: 4, finalizers: ['other/keep'] },
  ...extra,
});

describe('writeStatus', () => {
  it('merge-patches only the difference to /status and stamps observedGeneration', async () => {
    const { transport, client } = setup();
    const result = await writeStatus(client, widgets, widget({ status: { observedGeneration: 3, host: 'h1', id: 'x' } }), { host: 'h2', id: 'x' });
    expect(result.written).toBe(true);
    expect(transport.requests).toHaveLength(1);
    expect(transport.requests[0]).toMatchObject({
      method: 'PATCH',
      path: '/apis/example.dev/v1/namespaces/ns/widgets/w/status',
      contentType: 'application/merge-patch+json',
      body: { status: { host: 'h2', observedGeneration: 4 } },
    });
  });

  it('makes no request when nothing changed', async () => {
    const { transport, client } = setup();
    const result = await writeStatus(client, widgets, widget({ status: { observedGeneration: 4, host: 'h' } }), { host: 'h' });
    expect(result.written).toBe(false);
    expect(transport.requests).toHaveLength(0);
  });
});

describe('finalizers', () => {
  it('adds with a resourceVersion precondition, keeping others, and is a no-op when present', async () => {
    const { transport, client } = setup();
    await ensureFinalizer(client, widgets, widget(), 'example.dev/cleanup');
    expect(transport.requests[0]).toMatchObject({
      method: 'PATCH',
      path: '/apis/example.dev/v1/namespaces/ns/widgets/w',
      contentType: 'application/merge-patch+json',
      body: { metadata: { finalizers: ['other/keep', 'example.dev/cleanup'], resourceVersion: '7' } },
    });
    await ensureFinalizer(client, widgets, widget({ metadata: { ...widget().metadata, finalizers: ['example.dev/cleanup'] } }), 'example.dev/cleanup');
    expect(transport.requests).toHaveLength(1);
  });

  it('does not add a finalizer to an object being deleted', async () => {
    const { transport, client } = setup();
    await ensureFinalizer(client, widgets, widget({ metadata: { ...widget().metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } }), 'x/y');
    expect(transport.requests).toHaveLength(0);
  });

  it('removes only its own finalizer; absent is a no-op; gone is undefined; stale is a conflict', async () => {
    const { transport, client } = setup();
    const w = widget({ metadata: { ...widget().metadata, finalizers: ['other/keep', 'example.dev/cleanup'] } });
    await removeFinalizer(client, widgets, w, 'example.dev/cleanup');
    expect(transport.requests[0]?.body).toEqual({ metadata: { finalizers: ['other/keep'], resourceVersion: '7' } });
    await removeFinalizer(client, widgets, widget(), 'example.dev/cleanup');
    expect(transport.requests).toHaveLength(1);

    transport.handle = () => {
      throw new KubeApiError(404, 'NotFound', 'gone');
    };
    expect(await removeFinalizer(client, widgets, w, 'example.dev/cleanup')).toBeUndefined();
    transport.handle = () => {
      throw new KubeApiError(409, 'Conflict', 'the object has been modified');
    };
    await expect(removeFinalizer(client, widgets, w, 'example.dev/cleanup')).rejects.toMatchObject({ statusCode: 409 });
  });
});
