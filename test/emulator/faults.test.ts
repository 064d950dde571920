import { describe, expect, it } from 'vitest';
import { CHAOS_FAULTS, FaultInjector, type RequestFault } from './faults.ts';

describe('FaultInjector at the chaos mix', () => {
  it('delivers the configured shares, applies half of the failed mutations it may apply, and fails 3 % of operations', () => {
    const injector = new FaultInjector(CHAOS_FAULTS, 42);
    const n = 20_000;
    const faults = new Map<RequestFault, number>();
    const applied = new Map<RequestFault, number>();
    for (let i = 0; i < n; i++) {
      const d = injector.decide('POST', '/projects/{project_id}/branches');
      faults.set(d.fault, (faults.get(d.fault) ?? 0) + 1);
      if (d.apply) applied.set(d.fault, (applied.get(d.fault) ?? 0) + 1);
    }
    const share = (f: RequestFault) => (faults.get(f) ?? 0) / n;
    expect(share('429')).toBeCloseTo(0.1, 1);
    expect(share('500') + share('503')).toBeCloseTo(0.05, 1);
    expect(share('524') + share('reset')).toBeCloseTo(0.02, 1);
    expect(applied.get('429') ?? 0).toBe(0);
    expect(applied.get('503') ?? 0).toBe(0);
    const mayApply = (['500', '524', 'reset'] as const).reduce((a, f) => a + (faults.get(f) ?? 0), 0);
    const wasApplied = (['500', '524', 'reset'] as const).reduce((a, f) => a + (applied.get(f) ?? 0), 0);
    expect(wasApplied / mayApply).toBeGreaterThan(0.4);
    expect(wasApplied / mayApply).toBeLessThan(0.6);

    const outcomes = Array.from({ length: n }, () => injector.operationOutcome());
    expect(outcomes.filter((o) => o === 'error').length / n).toBeCloseTo(0.03, 2);
    expect(outcomes.every((o) => o === 'error' || o === 'finished')).toBe(true);
  });
});
