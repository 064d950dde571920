// A NeonBranch whose parentRef leads back to itself would wait for itself forever: it is reported as
// InvalidSpec with the chain, from the informer store, before any Neon call.
import { describe, expect, it } from 'vitest';
import { parseNeonBranch } from '../../api/index.ts';
import type { KubeObject } from '../../runtime/index.ts';
import { blockedBy } from '../shared/testdata/blocked.ts';
import type { ControllerDeps } from '../shared/deps.ts';
import { assertNoParentCycle, parentCycle } from './parent-chain.ts';

const parents = (map: Record<string, string>) => (name: string) => map[name];

describe('parentCycle', () => {
  it('finds a branch that is its own parent and cycles through others', () => {
    expect(parentCycle('a', parents({ a: 'a' }))).toEqual(['a', 'a']);
    expect(parentCycle('a', parents({ a: 'b', b: 'a' }))).toEqual(['a', 'b', 'a']);
    expect(parentCycle('a', parents({ a: 'b', b: 'c', c: 'a' }))).toEqual(['a', 'b', 'c', 'a']);
  });

  it('a chain that ends, or runs into a loop the branch is not part of, is no cycle of this branch', () => {
    expect(parentCycle('a', parents({ a: 'b', b: 'main' }))).toBeUndefined();
    expect(parentCycle('a', parents({}))).toBeUndefined();
    expect(parentCycle('a', parents({ a: 'b', b: 'c', c: 'b' }))).toBeUndefined();
  });
});

describe('assertNoParentCycle', () => {
  const branch = (name: string, parent: string): KubeObject =>
    ({ apiVersion: 'neon-operator.dev/v1alpha1', kind: 'NeonBranch', metadata: { name, namespace: 'ns', uid: name, generation: 1 }, spec: { projectRef: { name: 'demo' }, parentRef: { name: parent } } }) as KubeObject;
  const depsWith = (objects: KubeObject[]) =>
    ({
      informers: { informer: () => ({ get: (k: { namespace: string; name: string }) => objects.find((o) => o.metadata?.name === k.name && o.metadata.namespace === k.namespace) }) },
    }) as unknown as ControllerDeps;
  it('self reference: InvalidSpec, retried only on change', () => {
    const self = branch('loop', 'loop');
    const err = blockedBy(() => assertNoParentCycle(depsWith([self]), parseNeonBranch(self)));
    expect(err).toMatchObject({ reason: 'InvalidSpec', retry: 'onChange' });
    expect(err?.message).toBe('spec.parentRef names this NeonBranch itself (loop); a branch cannot be its own parent');
  });

  it('a two-branch cycle names the chain; the spec being reconciled counts over a stale store copy', () => {
    const a = branch('a', 'b');
    const b = branch('b', 'a');
    expect(blockedBy(() => assertNoParentCycle(depsWith([a, b]), parseNeonBranch(a)))?.message).toBe(
      'spec.parentRef forms a cycle: a → b → a; one of these NeonBranches must name another parent',
    );
    // The store still has a's old parentRef; the object read for this pass points to main: no cycle.
    expect(blockedBy(() => assertNoParentCycle(depsWith([a, b]), parseNeonBranch(branch('a', 'main'))))).toBeUndefined();
  });
});
