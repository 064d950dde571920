// Which Neon account cleanup uses: the one recorded in status; a fallback key only when it can be shown to
// see the project, since Neon's 404 cannot tell "gone" from "another account".
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../clock.ts';
import { NotFoundError, type NeonClient } from '../../neon/index.ts';
import type { KubeClient } from '../../runtime/index.ts';
import { apiKeySecretKeys, settledAtStart } from '../index.ts';
import type { ControllerDeps } from './deps.ts';
import type { ApiKeyRef, NeonAccounts } from './neon-accounts.ts';
import { NotReadyError } from './not-ready.ts';
import { clientForCleanup } from './references.ts';

const notFound = () =>
  new NotFoundError({ status: 404, code: '', neonMessage: 'not found', requestId: 'r', method: 'GET', route: '/projects/{project_id}', mayHaveApplied: false });

/** Accounts whose Secrets are `available` (by name; '' is the operator's key); each client's getProject sees `visible`. */
function setUp(available: Record<string, string[]>) {
  const projectGets: string[] = [];
  const clients = new Map<string, NeonClient>();
  const clientOf = (name: string): NeonClient => {
    let c = clients.get(name);
    if (!c) {
      c = {
        name,
        getProject: async (id: string) => {
          projectGets.push(`${name}:${id}`);
          if (!(available[name] ?? []).includes(id)) throw notFound();
          return { id };
        },
      } as unknown as NeonClient;
      clients.set(name, c);
    }
    return c;
  };
  const accounts = {
    clientFor: async (ref: ApiKeyRef | undefined) => {
      const name = ref?.name ?? '';
      if (!(name in available)) throw new NotReadyError('ApiKeySecretNotFound', `Secret ${name} with the Neon API key was not found`);
      return clientOf(name);
    },
  } as unknown as NeonAccounts;
  const deps: ControllerDeps = {
    accounts,
    kube: {} as KubeClient,
    informers: { informer: () => { throw new Error('not used'); } },
    events: {} as ControllerDeps['events'],
    clock: systemClock,
    log: pino({ level: 'silent' }),
    resyncPeriodMs: 600_000,
    resyncJitter: 0.1,
    concurrency: 1,
    waitingRequeueMs: 30_000,
    allowedProjects: [],
  };
  return { deps, projectGets, nameOf: (c: NeonClient) => (c as unknown as { name: string }).name };
}

const ref = (name: string): ApiKeyRef => ({ namespace: 'ns', name, key: 'api-key' });

describe('clientForCleanup', () => {
  it('uses the recorded account even when the NeonProject that named it is gone, without an extra call', async () => {
    const { deps, projectGets, nameOf } = setUp({ '': ['p-default'], second: ['p-2'] });
    const client = await clientForCleanup(deps, 'ns', 'unknown', { projectId: 'p-2', apiKeySecretRef: { name: 'second', key: 'api-key' } }, 'p-2');
    expect(nameOf(client)).toBe('second');
    expect(projectGets).toEqual([]);
  });

  it('no record means the operator key', async () => {
    const { deps, nameOf } = setUp({ '': [], second: ['p-2'] });
    expect(nameOf(await clientForCleanup(deps, 'ns', ref('second'), { projectId: 'p-2' }, 'p-2'))).toBe('');
  });

  it('nothing recorded yet (never reached Neon): the key the spec names', async () => {
    const { deps, nameOf } = setUp({ '': [], second: ['p-2'] });
    expect(nameOf(await clientForCleanup(deps, 'ns', ref('second'), undefined, 'p-2'))).toBe('second');
    expect(nameOf(await clientForCleanup(deps, 'ns', ref('second'), {}, 'p-2'))).toBe('second');
  });

  it('recorded Secret gone: the key the spec names now is used only if it sees the project', async () => {
    const sees = setUp({ renamed: ['p-2'] });
    expect(sees.nameOf(await clientForCleanup(sees.deps, 'ns', ref('renamed'), { projectId: 'p-2', apiKeySecretRef: { name: 'second', key: 'api-key' } }, 'p-2'))).toBe('renamed');
    expect(sees.projectGets).toEqual(['renamed:p-2']);

    // A 404 from a key not known to reach the project proves nothing: the missing Secret is reported.
    const blind = setUp({ '': [] });
    await expect(clientForCleanup(blind.deps, 'ns', undefined, { projectId: 'p-2', apiKeySecretRef: { name: 'second', key: 'api-key' } }, 'p-2')).rejects.toMatchObject({
      reason: 'ApiKeySecretNotFound',
      message: expect.stringContaining('second'),
    });
    expect(blind.projectGets).toEqual([':p-2']);
  });

  it('recorded Secret gone and nothing else to try: waits for it', async () => {
    const { deps, projectGets } = setUp({ '': ['p-2'] });
    await expect(clientForCleanup(deps, 'ns', 'unknown', { projectId: 'p-2', apiKeySecretRef: { name: 'second', key: 'api-key' } }, 'p-2')).rejects.toBeInstanceOf(NotReadyError);
    await expect(clientForCleanup(deps, 'ns', ref('second'), { projectId: 'p-2', apiKeySecretRef: { name: 'second', key: 'api-key' } }, 'p-2')).rejects.toBeInstanceOf(NotReadyError);
    expect(projectGets).toEqual([]);
  });
});

describe('apiKeySecretKeys', () => {
  it("names the spec's and the recorded key Secrets of the object's namespace, never a recorded one elsewhere", () => {
    expect(
      apiKeySecretKeys({
        metadata: { namespace: 'ns', name: 'b' },
        spec: { apiKeySecretRef: { name: 'now', key: 'api-key' } },
        status: { apiKeySecretRef: { name: 'before', key: 'api-key', namespace: 'elsewhere' } },
      } as never),
    ).toEqual([{ namespace: 'ns', name: 'now' }]);
    expect(
      apiKeySecretKeys({
        metadata: { namespace: 'ns', name: 'b' },
        status: { apiKeySecretRef: { name: 'before', key: 'api-key' } },
      } as never),
    ).toEqual([{ namespace: 'ns', name: 'before' }]);
    expect(apiKeySecretKeys({ metadata: { namespace: 'ns', name: 'b' }, spec: { projectRef: { name: 'p' } } } as never)).toEqual([]);
  });
});

describe('settledAtStart', () => {
  const ready = (_generation: number, observed: number) => ({ type: 'Ready', status: 'True', reason: 'Ready', message: '', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: observed });
  it('only an object Ready for its generation, not being deleted, with no rotation pending, can wait for its resync', () => {
    const obj = (metadata: Record<string, unknown>, status: Record<string, unknown>) => ({ metadata: { name: 'r', namespace: 'ns', generation: 2, ...metadata }, status }) as never;
    expect(settledAtStart(obj({}, { conditions: [ready(2, 2)] }))).toBe(true);
    expect(settledAtStart(obj({}, { conditions: [ready(2, 1)] }))).toBe(false);
    expect(settledAtStart(obj({}, { conditions: [{ ...ready(2, 2), status: 'False' }] }))).toBe(false);
    expect(settledAtStart(obj({}, {}))).toBe(false);
    // Ready but the last change was refused: retried at start, not left to the resync.
    const refused = { type: 'Synced', status: 'False', reason: 'NeonRejected', message: '', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 2 };
    expect(settledAtStart(obj({}, { conditions: [ready(2, 2), refused] }))).toBe(false);
    expect(settledAtStart(obj({}, { conditions: [ready(2, 2), { ...refused, status: 'True', reason: 'ReconcileSuccess' }] }))).toBe(true);
    expect(settledAtStart(obj({ deletionTimestamp: '2026-01-01T00:00:00Z' }, { conditions: [ready(2, 2)] }))).toBe(false);
    const rotate = { annotations: { 'neon-operator.dev/rotate-password': 'r2' } };
    expect(settledAtStart(obj(rotate, { conditions: [ready(2, 2)], passwordRotation: { request: 'r1' } }))).toBe(false);
    expect(settledAtStart(obj(rotate, { conditions: [ready(2, 2)], passwordRotation: { request: 'r2' } }))).toBe(true);
  });
});
