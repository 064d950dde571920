import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from './fake-clock.ts';
import { FakeTransport } from './fake-transport.ts';
import { Informer } from './informer.ts';
import { KubeApiError, KubeClient, METADATA_ACCEPT, METADATA_LIST_ACCEPT, type KubeObject, type KubeRequest, type ResourceType } from './kube-client.ts';

const widgets: ResourceType = { group: 'example.dev', version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: true };
const log = pino({ level: 'silent' });

const obj = (namespace: string, name: string, rv: string): KubeObject => ({
  apiVersion: 'example.dev/v1',
  kind: 'Widget',
  metadata: { namespace, name, resourceVersion: rv, uid: `uid-${namespace}-${name}` },
});

function listing(items: KubeObject[], rv: string) {
  return { metadata: { resourceVersion: rv }, items };
}

function setup(options: { namespaces?: string[]; stallTimeoutMs?: number; relistPeriodMs?: number; metadataOnly?: boolean } = {}) {
  const clock = new FakeClock();
  const transport = new FakeTransport();
  let serverItems: KubeObject[] = [];
  let serverRv = '10';
  let failLists = 0;
  const lists: KubeRequest[] = [];
  transport.handle = (req) => {
    if (req.method !== 'GET') throw new Error(`unexpected ${req.method}`);
    lists.push(req);
    if (failLists > 0) {
      failLists--;
      throw new KubeApiError(503, 'ServiceUnavailable', 'apiserver restarting');
    }
    const ns = /\/namespaces\/([^/]+)\//.exec(req.path)?.[1];
    return listing(serverItems.filter((o) => !ns || o.metadata?.namespace === ns), serverRv);
  };
  const informer = new Informer({
    client: new KubeClient(transport),
    type: widgets,
    clock,
    log,
    random: () => 0,
    ...options,
  });
  const events: string[] = [];
  informer.on({
    add: (o) => events.push(`add ${o.metadata?.namespace}/${o.metadata?.name}@${o.metadata?.resourceVersion}`),
    update: (a, b) => events.push(`update ${b.metadata?.name} ${a.metadata?.resourceVersion}->${b.metadata?.resourceVersion}`),
    delete: (o) => events.push(`delete ${o.metadata?.namespace}/${o.metadata?.name}`),
  });
  return {
    clock,
    transport,
    informer,
    events,
    lists,
    setServer: (items: KubeObject[], rv: string) => {
      serverItems = items;
      serverRv = rv;
    },
    failNextLists: (n: number) => (failLists = n),
  };
}

describe('Informer', () => {
  it('with metadataOnly keeps only apiVersion, kind and metadata, and still reports every change', async () => {
    const t = setup({ metadataOnly: true });
    const secret = (rv: string, key: string) => ({ ...obj('a', 's1', rv), data: { 'api-key': key }, type: 'Opaque' });
    t.setServer([secret('5', 'c2VjcmV0LW9uZQ==')], '10');
    t.informer.start();
    await flushMicrotasks();
    t.transport.openWatch?.send({ type: 'MODIFIED', object: secret('11', 'c2VjcmV0LXR3bw==') });
    await flushMicrotasks();
    expect(t.events).toEqual(['add a/s1@5', 'update s1 5->11']);
    expect(t.informer.get({ namespace: 'a', name: 's1' })).toEqual(obj('a', 's1', '11'));
  });

  it('with metadataOnly asks the server for PartialObjectMetadataList (list) and PartialObjectMetadata (watch), and stores them as the type', async () => {
    const t = setup({ metadataOnly: true });
    const partial = (rv: string) => ({ apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: obj('a', 's1', rv).metadata });
    t.setServer([partial('5') as KubeObject], '10');
    t.informer.start();
    await flushMicrotasks();
    expect(t.lists.map((r) => r.accept)).toEqual([METADATA_LIST_ACCEPT]);
    expect(t.transport.watches.map((w) => w.options.accept)).toEqual([METADATA_ACCEPT]);
    expect(t.informer.get({ namespace: 'a', name: 's1' })).toEqual(obj('a', 's1', '5'));
    t.transport.openWatch?.send({ type: 'MODIFIED', object: partial('11') });
    await flushMicrotasks();
    expect(t.informer.get({ namespace: 'a', name: 's1' })).toEqual(obj('a', 's1', '11'));
    // A relist after the watch expired asks for metadata again.
    t.transport.openWatch?.send({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });
    await flushMicrotasks();
    expect(t.lists.map((r) => r.accept)).toEqual([METADATA_LIST_ACCEPT, METADATA_LIST_ACCEPT]);
    expect(t.transport.watches.map((w) => w.options.accept)).toEqual([METADATA_ACCEPT, METADATA_ACCEPT]);
  });

  it('without metadataOnly asks for whole objects (no Accept override)', async () => {
    const t = setup();
    t.setServer([obj('a', 'w1', '5')], '10');
    t.informer.start();
    await flushMicrotasks();
    expect(t.lists.map((r) => r.accept)).toEqual([undefined]);
    expect(t.transport.watches.map((w) => w.options.accept)).toEqual([undefined]);
  });

  it('lists, then watches from the list resourceVersion with bookmarks, and keeps the store current', async () => {
    const t = setup();
    t.setServer([obj('a', 'w1', '5')], '10');
    t.informer.start();
    await flushMicrotasks();
    expect(t.informer.hasSynced()).toBe(true);
    expect(t.events).toEqual(['add a/w1@5']);
    const watch = t.transport.openWatch;
    expect(watch?.path).toBe('/apis/example.dev/v1/widgets');
    expect(watch?.query).toMatchObject({ resourceVersion: '10', allowWatchBookmarks: true });

    watch?.send({ type: 'ADDED', object: obj('b', 'w2', '11') });
    watch?.send({ type: 'MODIFIED', object: obj('a', 'w1', '12') });
    watch?.send({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '13' } } });
    watch?.send({ type: 'DELETED', object: obj('b', 'w2', '14') });
    await flushMicrotasks();
    expect(t.events).toEqual(['add a/w1@5', 'add b/w2@11', 'update w1 5->12', 'delete b/w2']);
    expect(t.informer.get({ namespace: 'a', name: 'w1' })?.metadata?.resourceVersion).toBe('12');
    expect(t.informer.list().length).toBe(1);
    await t.informer.stop();
  });

  it('restarts after any watch error with backoff, relists, and notices what changed meanwhile', async () => {
    const t = setup();
    t.setServer([obj('a', 'w1', '5'), obj('a', 'w2', '6')], '10');
    t.informer.start();
    await flushMicrotasks();
    // While the watch is broken, w2 is deleted and w1 changes on the server.
    t.setServer([obj('a', 'w1', '20')], '21');
    t.transport.openWatch?.fail(new TypeError('socket hang up'));
    await flushMicrotasks();
    expect(t.informer.stats.errors).toBe(1);
    expect(t.lists.length).toBe(1); // waiting for the backoff, not spinning
    await t.clock.advance(500);
    expect(t.lists.length).toBe(2);
    expect(t.events).toEqual(['add a/w1@5', 'add a/w2@6', 'update w1 5->20', 'delete a/w2']);
    expect(t.transport.openWatch?.query).toMatchObject({ resourceVersion: '21' });
    await t.informer.stop();
  });

  it('keeps retrying when the list itself fails, with growing backoff', async () => {
    const t = setup();
    t.failNextLists(3);
    t.informer.start();
    await flushMicrotasks();
    expect(t.informer.hasSynced()).toBe(false);
    await t.clock.advance(500); // 2nd attempt
    await t.clock.advance(1_000); // 3rd attempt
    expect(t.lists.length).toBe(3);
    await t.clock.advance(1_999);
    expect(t.lists.length).toBe(3);
    await t.clock.advance(1); // 4th attempt after 2s succeeds
    expect(t.lists.length).toBe(4);
    expect(t.informer.hasSynced()).toBe(true);
    await t.informer.stop();
  });

  it('relists on 410 Expired without counting an error', async () => {
    const t = setup();
    t.informer.start();
    await flushMicrotasks();
    t.transport.openWatch?.send({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' } });
    await flushMicrotasks();
    expect(t.informer.stats.expired).toBe(1);
    expect(t.informer.stats.errors).toBe(0);
    expect(t.lists.length).toBe(2);
    await t.informer.stop();
  });

  it('restarts a silent watch from the last bookmark after the stall timeout', async () => {
    const t = setup({ stallTimeoutMs: 60_000 });
    t.informer.start();
    await flushMicrotasks();
    const first = t.transport.openWatch;
    first?.send({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '42' } } });
    await flushMicrotasks();
    await t.clock.advance(55_000);
    expect(t.transport.watches.length).toBe(1);
    await t.clock.advance(10_000);
    expect(t.informer.stats.stalls).toBe(1);
    expect(first?.signal.aborted).toBe(true);
    expect(t.transport.watches.length).toBe(2);
    expect(t.transport.openWatch?.query).toMatchObject({ resourceVersion: '42' });
    expect(t.lists.length).toBe(1); // a stall re-watches; it does not need a relist
    await t.informer.stop();
  });

  it('relists periodically even when the watch is healthy', async () => {
    const t = setup({ relistPeriodMs: 600_000, stallTimeoutMs: 3_600_000 });
    t.informer.start();
    await flushMicrotasks();
    await t.clock.advance(599_000);
    expect(t.lists.length).toBe(1);
    await t.clock.advance(5_000);
    expect(t.lists.length).toBe(2);
    await t.informer.stop();
  });

  it('re-watches after a normal server close, without relisting', async () => {
    const t = setup();
    t.informer.start();
    await flushMicrotasks();
    t.transport.openWatch?.send({ type: 'ADDED', object: obj('a', 'w9', '30') });
    t.transport.openWatch?.end();
    await flushMicrotasks();
    expect(t.transport.watches.length).toBe(2);
    expect(t.transport.openWatch?.query).toMatchObject({ resourceVersion: '30' });
    expect(t.lists.length).toBe(1);
    await t.informer.stop();
  });

  it('runs one list/watch per namespace when scoped, and syncs only when all have listed', async () => {
    const t = setup({ namespaces: ['a', 'b'] });
    t.setServer([obj('a', 'w1', '1'), obj('b', 'w2', '2'), obj('c', 'w3', '3')], '10');
    t.failNextLists(1); // the first namespace's list fails once
    t.informer.start();
    await flushMicrotasks();
    expect(t.informer.hasSynced()).toBe(false);
    await t.clock.advance(500);
    expect(t.informer.hasSynced()).toBe(true);
    expect(t.transport.watches.map((w) => w.path).sort()).toEqual([
      '/apis/example.dev/v1/namespaces/a/widgets',
      '/apis/example.dev/v1/namespaces/b/widgets',
    ]);
    expect(t.informer.list().map((o) => o.metadata?.name).sort()).toEqual(['w1', 'w2']);
    await t.informer.stop();
  });

  it('stop() ends the watches and no further requests are made', async () => {
    const t = setup();
    t.informer.start();
    await flushMicrotasks();
    await t.informer.stop();
    expect(t.transport.watches.every((w) => w.signal.aborted)).toBe(true);
    await t.clock.advance(3_600_000);
    expect(t.lists.length).toBe(1);
    expect(t.transport.watches.length).toBe(1);
  });

  it('drops managedFields from what it stores', async () => {
    const t = setup();
    t.informer.start();
    await flushMicrotasks();
    const base = obj('a', 'mf', '11');
    t.transport.openWatch?.send({ type: 'ADDED', object: { ...base, metadata: { ...base.metadata, managedFields: [{ manager: 'kubectl' }] } } });
    await flushMicrotasks();
    const stored = t.informer.get({ namespace: 'a', name: 'mf' });
    expect(stored?.metadata?.name).toBe('mf');
    expect(stored?.metadata && 'managedFields' in stored.metadata).toBe(false);
    await t.informer.stop();
  });
});
