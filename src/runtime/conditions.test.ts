import { describe, expect, it } from 'vitest';
import { findCondition, isConditionTrue, reconcileError, reconcileSuccess, setCondition, setConditions, toKubeMicroTime, toKubeTime } from './conditions.ts';

const t0 = Date.UTC(2026, 10, 29, 20, 0, 0, 123);
const t1 = t0 + 60_000;
const t2 = t0 + 120_000;

describe('setCondition', () => {
  it('adds a new condition with lastTransitionTime now (second precision) and observedGeneration', () => {
    const list = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Creating', message: 'creating' }, 3, t0);
    expect(list).toEqual([
      { type: 'Ready', status: 'False', reason: 'Creating', message: 'creating', lastTransitionTime: '2026-11-29T20:00:00Z', observedGeneration: 3 },
    ]);
  });

  it('keeps lastTransitionTime when only reason or message change', () => {
    const a = setCondition([], { type: 'Ready', status: 'False', reason: 'Creating', message: 'creating' }, 1, t0);
    const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'ProjectNotReady', message: 'waiting for project' }, 2, t1);
    expect(findCondition(b, 'Ready')).toMatchObject({
      reason: 'ProjectNotReady',
      message: 'waiting for project',
      observedGeneration: 2,
      lastTransitionTime: toKubeTime(t0),
    });
  });

  it('moves lastTransitionTime only when the status flips', () => {
    const a = setCondition([], { type: 'Ready', status: 'False', reason: 'Creating', message: '' }, 1, t0);
    const b = setCondition(a, { type: 'Ready', status: 'True', reason: 'Ready', message: '' }, 1, t1);
    const c = setCondition(b, { type: 'Ready', status: 'True', reason: 'Ready', message: 'still' }, 1, t2);
    expect(findCondition(b, 'Ready')?.lastTransitionTime).toBe(toKubeTime(t1));
    expect(findCondition(c, 'Ready')?.lastTransitionTime).toBe(toKubeTime(t1));
  });

  it('leaves other conditions and the input list untouched', () => {
    const a = setCondition([], { type: 'Synced', status: 'True', reason: 'Synced', message: '' }, 1, t0);
    const b = setCondition(a, { type: 'Ready', status: 'True', reason: 'Ready', message: '' }, 1, t1);
    expect(a).toHaveLength(1);
    expect(b.map((c) => c.type)).toEqual(['Synced', 'Ready']);
  });

  it('rejects reasons the API server would reject', () => {
    expect(() => setCondition([], { type: 'Ready', status: 'False', reason: 'not ready', message: '' }, 1, t0)).toThrow(/CamelCase/);
  });

  it('isConditionTrue honours observedGeneration', () => {
    const a = setCondition([], { type: 'Ready', status: 'True', reason: 'Ready', message: '' }, 2, t0);
    expect(isConditionTrue(a, 'Ready')).toBe(true);
    expect(isConditionTrue(a, 'Ready', 2)).toBe(true);
    expect(isConditionTrue(a, 'Ready', 3)).toBe(false);
    expect(isConditionTrue(a, 'Synced')).toBe(false);
  });

  it('formats MicroTime with six fractional digits', () => {
    expect(toKubeMicroTime(t0)).toBe('2026-11-29T20:00:00.123000Z');
  });
});

describe('Ready and Synced', () => {
  it('sets both in one list; a refused change flips Synced alone and keeps Ready\'s transition time', () => {
    const ready = { type: 'Ready', status: 'True', reason: 'Ready', message: 'usable' } as const;
    const a = setConditions([], [ready, reconcileSuccess()], 1, t0);
    expect(a.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'Ready'],
      ['Synced', 'True', 'ReconcileSuccess'],
    ]);
    const b = setConditions(a, [ready, reconcileError('NeonRejected', 'Neon refused the change')], 2, t1);
    expect(findCondition(b, 'Ready')).toMatchObject({ status: 'True', observedGeneration: 2, lastTransitionTime: toKubeTime(t0) });
    expect(findCondition(b, 'Synced')).toMatchObject({ status: 'False', reason: 'NeonRejected', observedGeneration: 2, lastTransitionTime: toKubeTime(t1) });
  });
});
