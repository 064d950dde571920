// The view checkpoint's ConfigMap: created on the first write, then merge-patched one key at a time; written
// only while leading and only when changed; an unreadable entry or an unreachable API server costs a cold start,
// never an error; a key no operator wrote for a week is dropped.
import { gunzipSync, gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { NeonClient } from '../neon/index.ts';
import type { ViewSnapshot } from '../neon/project-view.ts';
import { FakeClock } from '../runtime/fake-clock.ts';
import { FakeTransport } from '../runtime/fake-transport.ts';
import { KubeApiError, KubeClient, type KubeRequest } from '../runtime/index.ts';
import { checkpointKey, ViewCheckpoint } from './view-checkpoint.ts';

const snapshot = (projects: string[]): ViewSnapshot => ({
  version: 1,
  projects: Object.fromEntries(
    projects.map((p) => [p, { signal: { since: 1, baseline: null, checkedAt: 2, newest: 3, seen: [['op-1', 3]] }, own: [], lists: [{ name: 'roles/br-1', at: 2, entries: [['app', { name: 'app' }]] }] }]),
  ),
});

/** A client stand-in: its view holds `held`, and it records what it was given to restore. */
function client(account: string, held: () => ViewSnapshot | undefined) {
  const restored: ViewSnapshot[] = [];
  const c = {
    account,
    baseUrl: 'http://neon.test/api/v2',
    viewSnapshot: held,
    restoreView: (s: ViewSnapshot) => {
      restored.push(s);
      return Object.keys(s.projects).length;
    },
  };
  return { client: c as unknown as NeonClient, restored };
}

const encode = (value: unknown) => gzipSync(JSON.stringify(value)).toString('base64');
const decode = (data: string) => JSON.parse(gunzipSync(Buffer.from(data, 'base64')).toString('utf8')) as ViewSnapshot & { savedAt: number };

function setUp(options: { leading?: () => boolean; stored?: Record<string, string> } = {}) {
  const transport = new FakeTransport();
  let stored: Record<string, string> | undefined = options.stored;
  transport.handle = (req: KubeRequest) => {
    if (req.method === 'GET' || req.method === 'PATCH') {
      if (!stored) throw new KubeApiError(404, 'NotFound', 'not found');
      if (req.method === 'PATCH') {
        for (const [k, v] of Object.entries((req.body as { binaryData: Record<string, string | null> }).binaryData)) {
          if (v === null) delete stored[k];
          else stored[k] = v;
        }
      }
      return { metadata: { name: 'lease-neon-view', namespace: 'ops' }, binaryData: stored };
    }
    if (req.method === 'POST') {
      stored = { ...(req.body as { binaryData: Record<string, string> }).binaryData };
      return req.body;
    }
    throw new Error(`unexpected ${req.method}`);
  };
  const clock = new FakeClock();
  const checkpoint = new ViewCheckpoint({
    kube: new KubeClient(transport),
    namespace: 'ops',
    name: 'lease-neon-view',
    clock,
    log: pino({ level: 'silent' }),
    intervalMs: 30_000,
    leading: options.leading ?? (() => true),
  });
  return { transport, checkpoint, clock, stored: () => stored };
}

describe('ViewCheckpoint', () => {
  it('creates the ConfigMap on the first write, merge-patches one key per client after, and skips what did not change', async () => {
    const t = setUp();
    let held = snapshot(['p1']);
    const a = client('key-a', () => held);
    await t.checkpoint.load();
    t.checkpoint.attach(a.client);
    await t.checkpoint.save();
    expect(t.transport.requests.map((r) => r.method)).toEqual(['GET', 'PATCH', 'POST']);
    const key = checkpointKey(a.client);
    expect(decode(t.stored()?.[key] ?? '').projects).toEqual(held.projects);
    await t.checkpoint.save();
    expect(t.transport.requests).toHaveLength(3); // unchanged: not written
    held = snapshot(['p1', 'p2']);
    await t.checkpoint.save();
    const patch = t.transport.requests.at(-1);
    expect(patch?.method).toBe('PATCH');
    expect(Object.keys((patch?.body as { binaryData: object }).binaryData)).toEqual([key]);
  });

  it('gives each client what was saved for its account and Neon URL, once; ignores an unreadable entry', async () => {
    const a = client('key-a', () => undefined);
    const b = client('key-b', () => undefined);
    const t = setUp({ stored: { [checkpointKey(a.client)]: encode({ ...snapshot(['p1']), savedAt: 0 }), [checkpointKey(b.client)]: 'not gzip' } });
    await t.checkpoint.load();
    t.checkpoint.attach(a.client);
    t.checkpoint.attach(a.client);
    t.checkpoint.attach(b.client);
    expect(a.restored.map((s) => Object.keys(s.projects))).toEqual([['p1']]);
    expect(b.restored).toEqual([]);
  });

  it('writes nothing while another replica leads, and survives an API server that refuses', async () => {
    let leading = false;
    const t = setUp({ leading: () => leading });
    const a = client('key-a', () => snapshot(['p1']));
    t.checkpoint.attach(a.client);
    await t.checkpoint.save();
    expect(t.transport.requests).toEqual([]);
    leading = true;
    t.transport.handle = () => {
      throw new KubeApiError(403, 'Forbidden', 'configmaps is forbidden');
    };
    await expect(t.checkpoint.save()).resolves.toBeUndefined();
    await expect(t.checkpoint.load()).resolves.toBeUndefined();
  });

  it('drops a key that no client of this process took and that was last written a week ago', async () => {
    const gone = encode({ ...snapshot(['old']), savedAt: 0 });
    const t = setUp({ stored: { 'feedfacefeedface.json.gz': gone } });
    await t.clock.advance(8 * 24 * 3600_000);
    await t.checkpoint.load();
    t.checkpoint.attach(client('key-a', () => snapshot(['p1'])).client);
    await t.checkpoint.save();
    expect(Object.keys(t.stored() ?? {})).toHaveLength(1);
    expect(t.stored()?.['feedfacefeedface.json.gz']).toBeUndefined();
  });
});
