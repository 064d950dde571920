// Who may manage a role, a database or a branch's read_write compute when two objects of a namespace ask
// for the same one: decided from the informer stores alone, before any Neon call.
import { describe, expect, it } from 'vitest';
import type { Controller, InformerHandlers, KubeObject, ObjectKey, ResourceType } from '../../runtime/index.ts';
import { blockedBy } from './testdata/blocked.ts';
import { assertUnclaimed, conflictedPeers, requeueConflictsOnRelease, databaseClaims, endpointClaims, holderOf, roleClaims, type Claim, type Claimant } from './claims.ts';
import type { ControllerDeps } from './deps.ts';
import { resourceTypes } from './kinds.ts';
import { resourceTypeId } from '../../runtime/kube-client.ts';

const claim: Claim = { projectId: 'p-1', branchId: 'br-1', name: 'app' };
const claimant = (name: string, extra: Partial<Claimant> = {}): Claimant => ({
  name,
  uid: `uid-${name}`,
  creationTimestamp: '2026-01-01T00:00:10Z',
  recorded: undefined,
  wanted: claim,
  ...extra,
});

describe('holderOf', () => {
  it('nobody else wants it: self holds it', () => {
    expect(holderOf(claim, claimant('a'), [claimant('b', { wanted: { ...claim, name: 'other' } })])).toBeUndefined();
  });

  it('the older object wins, then the name breaks a tie', () => {
    const older = claimant('z', { creationTimestamp: '2026-01-01T00:00:05Z' });
    expect(holderOf(claim, claimant('a'), [older])?.name).toBe('z');
    expect(holderOf(claim, older, [claimant('a')])).toBeUndefined();
    expect(holderOf(claim, claimant('b'), [claimant('a')])?.name).toBe('a');
    expect(holderOf(claim, claimant('a'), [claimant('b')])).toBeUndefined();
  });

  it('the one that recorded it in status wins over an older one that did not', () => {
    const older = claimant('old', { creationTimestamp: '2026-01-01T00:00:01Z' });
    const recorder = claimant('new', { recorded: claim, wanted: undefined });
    expect(holderOf(claim, older, [recorder])?.name).toBe('new');
    expect(holderOf(claim, recorder, [older])).toBeUndefined();
  });

  it('an object is never in conflict with itself (same UID in the store)', () => {
    expect(holderOf(claim, claimant('a', { creationTimestamp: '2026-01-01T00:00:20Z' }), [claimant('a', { creationTimestamp: '2026-01-01T00:00:01Z' })])).toBeUndefined();
  });
});

/** ControllerDeps whose informer stores hold `objects` (by kind). */
function depsWith(objects: Record<string, KubeObject[]>): ControllerDeps {
  const storeOf = (type: ResourceType) => objects[resourceTypeId(type)] ?? [];
  return {
    informers: {
      informer: (type: ResourceType) => ({
        list: (namespace?: string) => storeOf(type).filter((o) => namespace === undefined || o.metadata?.namespace === namespace),
        get: (key: { namespace: string; name: string }) => storeOf(type).find((o) => o.metadata?.namespace === key.namespace && o.metadata?.name === key.name),
      }),
    },
  } as unknown as ControllerDeps;
}

const meta = (name: string, created: string) => ({ name, namespace: 'ns', uid: `uid-${name}`, creationTimestamp: created, generation: 1 });
const endpoint = (name: string, created: string, spec: Record<string, unknown>, status?: Record<string, unknown>) => ({
  apiVersion: 'neon-operator.dev/v1alpha1',
  kind: 'NeonEndpoint',
  metadata: meta(name, created),
  spec,
  ...(status ? { status } : {}),
});
const branch = { apiVersion: 'neon-operator.dev/v1alpha1', kind: 'NeonBranch', metadata: meta('dev', '2026-01-01T00:00:00Z'), spec: { projectId: 'p-1' }, status: { projectId: 'p-1', branchId: 'br-1' } };
const target = { projectId: 'p-1', branchId: 'br-1' };

describe('assertUnclaimed', () => {
  const first = endpoint('first', '2026-01-01T00:00:01Z', { branchRef: { name: 'dev' } }, { projectId: 'p-1', branchId: 'br-1', endpointId: 'ep-1' });
  const second = endpoint('second', '2026-01-01T00:00:02Z', { projectId: 'p-1', branchId: 'br-1' });

  it('a second read_write NeonEndpoint for a branch gets Conflict naming the one that manages the compute', () => {
    const deps = depsWith({ [resourceTypeId(resourceTypes.endpoint)]: [first, second], [resourceTypeId(resourceTypes.branch)]: [branch] });
    const err = blockedBy(() => assertUnclaimed(deps, endpointClaims, endpointClaims.parse(second), target));
    expect(err?.reason).toBe('Conflict');
    expect(err?.retry).toBe('backoff');
    expect(err?.message).toBe(
      'the read_write compute of Neon branch br-1 (Neon allows one per branch) is already claimed by NeonEndpoint first, which manages it; delete one of the two or point this one elsewhere',
    );
    expect(blockedBy(() => assertUnclaimed(deps, endpointClaims, endpointClaims.parse(first), target))).toBeUndefined();
  });

  it('before either has a compute, the spec claims count (resolved through the NeonBranch store) and the older wins', () => {
    const a = endpoint('a', '2026-01-01T00:00:01Z', { branchRef: { name: 'dev' } });
    const b = endpoint('b', '2026-01-01T00:00:02Z', { projectId: 'p-1', branchId: 'br-1' });
    const deps = depsWith({ [resourceTypeId(resourceTypes.endpoint)]: [a, b], [resourceTypeId(resourceTypes.branch)]: [branch] });
    expect(blockedBy(() => assertUnclaimed(deps, endpointClaims, endpointClaims.parse(b), target))?.message).toContain('NeonEndpoint a, which was created first');
    expect(blockedBy(() => assertUnclaimed(deps, endpointClaims, endpointClaims.parse(a), target))).toBeUndefined();
  });

  it('read_only computes claim nothing, and a read_write one on another branch is no conflict', () => {
    const readOnly = endpoint('ro', '2026-01-01T00:00:03Z', { projectId: 'p-1', branchId: 'br-1', type: 'read_only' });
    const elsewhere = endpoint('elsewhere', '2026-01-01T00:00:04Z', { projectId: 'p-1', branchId: 'br-2' });
    const deps = depsWith({ [resourceTypeId(resourceTypes.endpoint)]: [first, readOnly, elsewhere] });
    expect(blockedBy(() => assertUnclaimed(deps, endpointClaims, endpointClaims.parse(readOnly), target))).toBeUndefined();
    expect(blockedBy(() => assertUnclaimed(deps, endpointClaims, endpointClaims.parse(elsewhere), { projectId: 'p-1', branchId: 'br-2' }))).toBeUndefined();
  });

  it('roles and databases conflict by the name on the branch (spec.name or metadata.name)', () => {
    const role = (name: string, created: string, spec: Record<string, unknown>, status?: Record<string, unknown>) => ({
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind: 'NeonRole',
      metadata: meta(name, created),
      spec: { projectId: 'p-1', branchId: 'br-1', databaseName: 'neondb', ...spec },
      ...(status ? { status } : {}),
    });
    const app = role('app', '2026-01-01T00:00:05Z', {}, { projectId: 'p-1', branchId: 'br-1', roleName: 'app' });
    const alias = role('app-again', '2026-01-01T00:00:01Z', { name: 'app' });
    const other = role('reader', '2026-01-01T00:00:01Z', {});
    const deps = depsWith({ [resourceTypeId(resourceTypes.role)]: [app, alias, other] });
    expect(blockedBy(() => assertUnclaimed(deps, roleClaims, roleClaims.parse(alias), target))?.message).toContain('role app on Neon branch br-1 is already claimed by NeonRole app, which manages it');
    expect(blockedBy(() => assertUnclaimed(deps, roleClaims, roleClaims.parse(app), target))).toBeUndefined();
    expect(blockedBy(() => assertUnclaimed(deps, roleClaims, roleClaims.parse(other), target))).toBeUndefined();

    const db = (name: string, created: string) => ({
      apiVersion: 'neon-operator.dev/v1alpha1',
      kind: 'NeonDatabase',
      metadata: meta(name, created),
      spec: { projectId: 'p-1', branchId: 'br-1', name: 'appdb', ownerName: 'app' },
    });
    const dbDeps = depsWith({ [resourceTypeId(resourceTypes.database)]: [db('db-1', '2026-01-01T00:00:01Z'), db('db-2', '2026-01-01T00:00:02Z')] });
    const dbParsed = databaseClaims.parse(db('db-2', '2026-01-01T00:00:02Z'));
    expect(blockedBy(() => assertUnclaimed(dbDeps, databaseClaims, dbParsed, target))?.message).toContain('database appdb on Neon branch br-1 is already claimed by NeonDatabase db-1');
  });
});

describe('conflictedPeers', () => {
  it('names the other objects of the namespace whose Ready reason is Conflict', () => {
    const withReason = (name: string, reason: string): KubeObject =>
      ({ metadata: { name, namespace: 'ns', uid: name }, status: { conditions: [{ type: 'Ready', status: 'False', reason }] } }) as KubeObject;
    const peers = conflictedPeers([withReason('a', 'Conflict'), withReason('b', 'Ready'), withReason('c', 'Conflict')], withReason('c', 'Conflict'));
    expect(peers.map((p) => p.metadata?.name)).toEqual(['a']);
  });
});

describe('requeueConflictsOnRelease', () => {
  it('requeues the Conflict losers when another object is deleted or changes its spec, not on a status write', () => {
    const obj = (name: string, generation: number, reason = 'Ready'): KubeObject =>
      ({ metadata: { name, namespace: 'ns', uid: name, generation }, status: { conditions: [{ type: 'Ready', status: 'False', reason }] } }) as KubeObject;
    const store = [obj('first', 1), obj('second', 1, 'Conflict')];
    let handlers: InformerHandlers<KubeObject> = {};
    const enqueued: ObjectKey[] = [];
    const controller = {
      informer: { on: (h: InformerHandlers<KubeObject>) => ((handlers = h), () => undefined), list: () => store },
      enqueue: (key: ObjectKey) => enqueued.push(key),
    } as unknown as Controller;
    requeueConflictsOnRelease(controller);
    handlers.update?.(obj('first', 1), obj('first', 1, 'Conflict')); // status only
    expect(enqueued).toEqual([]);
    handlers.update?.(obj('first', 1), obj('first', 2));
    handlers.delete?.(obj('first', 2));
    expect(enqueued).toEqual([{ namespace: 'ns', name: 'second' }, { namespace: 'ns', name: 'second' }]);
  });
});
