import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EventRecorder } from './events.ts';
import { FakeClock } from './fake-clock.ts';
import { FakeTransport } from './fake-transport.ts';
import { KubeApiError, KubeClient, type KubeObject, type ResourceType } from './kube-client.ts';
import { applySecret, type SecretObject } from './secrets.ts';

const log = pino({ level: 'silent' });
const widgets: ResourceType = { group: 'example.dev', version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: true };
const owner: KubeObject = { metadata: { namespace: 'ns', name: 'w1', uid: 'uid-1', resourceVersion: '3' } };

describe('EventRecorder', () => {
  function setup() {
    const clock = new FakeClock();
    const transport = new FakeTransport();
    transport.handle = (req) => req.body;
    const recorder = new EventRecorder({ client: new KubeClient(transport), clock, log, reportingController: 'example.dev/op', reportingInstance: 'pod-1' });
    return { clock, transport, recorder };
  }
  const warning = { type: 'Warning' as const, reason: 'NeonApiError', action: 'Reconcile', note: 'quota exceeded' };

  it('creates an events.k8s.io Event regarding the object', async () => {
    const t = setup();
    await t.recorder.record(widgets, owner, warning);
    expect(t.transport.requests).toHaveLength(1);
    expect(t.transport.requests[0]).toMatchObject({
      method: 'POST',
      path: '/apis/events.k8s.io/v1/namespaces/ns/events',
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        reason: 'NeonApiError',
        action: 'Reconcile',
        note: 'quota exceeded',
        type: 'Warning',
        reportingController: 'example.dev/op',
        regarding: { apiVersion: 'example.dev/v1', kind: 'Widget', name: 'w1', namespace: 'ns', uid: 'uid-1' },
      },
    });
  });

  it('aggregates repeats into a series and writes it at most once a minute', async () => {
    const t = setup();
    for (let i = 0; i < 10; i++) {
      await t.recorder.record(widgets, owner, warning);
      await t.clock.advance(10_000);
    }
    // 1 create at t=0; repeats at 10..90 s: a series patch at 60 s only (count 7).
    const methods = t.transport.requests.map((r) => r.method);
    expect(methods).toEqual(['POST', 'PATCH']);
    expect(t.transport.requests[1]?.body).toMatchObject({ series: { count: 7 } });
    // A different note is a different event.
    await t.recorder.record(widgets, owner, { ...warning, note: 'other' });
    expect(t.transport.requests.map((r) => r.method)).toEqual(['POST', 'PATCH', 'POST']);
  });

  it('starts a new Event after the series window, and never throws', async () => {
    const t = setup();
    await t.recorder.record(widgets, owner, warning);
    await t.clock.advance(11 * 60_000);
    await t.recorder.record(widgets, owner, warning);
    expect(t.transport.requests.map((r) => r.method)).toEqual(['POST', 'POST']);
    t.transport.handle = () => {
      throw new KubeApiError(403, 'Forbidden', 'no');
    };
    await expect(t.recorder.record(widgets, owner, { ...warning, reason: 'Other' })).resolves.toBeUndefined();
  });
});

describe('applySecret', () => {
  const desired = {
    namespace: 'ns',
    name: 'w1-conn',
    stringData: { password: 'pw', host: 'h' },
    labels: { 'app.kubernetes.io/managed-by': 'op' },
    owner: { type: widgets, object: owner },
  };

  it('server-side applies base64 data with the controller owner reference', async () => {
    const transport = new FakeTransport();
    transport.handle = () => ({});
    const result = await applySecret(new KubeClient(transport), desired, { fieldManager: 'op' });
    expect(result.changed).toBe(true);
    expect(transport.requests[0]).toMatchObject({
      method: 'PATCH',
      path: '/api/v1/namespaces/ns/secrets/w1-conn',
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: 'op', force: true },
      body: {
        metadata: {
          labels: { 'app.kubernetes.io/managed-by': 'op' },
          ownerReferences: [{ apiVersion: 'example.dev/v1', kind: 'Widget', name: 'w1', uid: 'uid-1', controller: true }],
        },
        data: { password: 'cHc=', host: 'aA==' },
        type: 'Opaque',
      },
    });
  });

  it('makes no request when the current Secret already matches, and applies when a value differs', async () => {
    const transport = new FakeTransport();
    transport.handle = () => ({});
    const client = new KubeClient(transport);
    const current: SecretObject = {
      metadata: {
        namespace: 'ns',
        name: 'w1-conn',
        labels: { 'app.kubernetes.io/managed-by': 'op', extra: 'kept' },
        ownerReferences: [{ apiVersion: 'example.dev/v1', kind: 'Widget', name: 'w1', uid: 'uid-1', controller: true }],
      },
      type: 'Opaque',
      data: { password: 'cHc=', host: 'aA==' },
    };
    expect(await applySecret(client, desired, { fieldManager: 'op', current })).toEqual({ changed: false });
    expect(transport.requests).toHaveLength(0);
    expect(await applySecret(client, { ...desired, stringData: { password: 'new', host: 'h' } }, { fieldManager: 'op', current })).toEqual({ changed: true });
    expect(transport.requests).toHaveLength(1);
  });
});
