import { describe, expect, it } from 'vitest';
import { parseNeonEndpoint } from '../../api/index.ts';
import type { Endpoint } from '../../neon/index.ts';
import { endpointCreateInput, endpointUpdate } from './drift.ts';

const spec = (s: Record<string, unknown>) =>
  parseNeonEndpoint({ apiVersion: 'neon-operator.dev/v1alpha1', kind: 'NeonEndpoint', metadata: { name: 'e' }, spec: { branchRef: { name: 'b' }, ...s } }).spec;

const neon = (e: Partial<Endpoint>): Endpoint =>
  ({ autoscaling_limit_min_cu: 0.25, autoscaling_limit_max_cu: 1, suspend_timeout_seconds: 300, disabled: false, ...e }) as Endpoint;

describe('endpoint drift', () => {
  it('patches only the fields that differ', () => {
    expect(endpointUpdate(spec({ autoscaling: { minCu: 0.25, maxCu: 1 }, suspendTimeoutSeconds: 300 }), neon({}))).toBeUndefined();
    expect(endpointUpdate(spec({ autoscaling: { minCu: 0.25, maxCu: 2 } }), neon({}))).toEqual({ autoscaling_limit_max_cu: 2 });
    expect(endpointUpdate(spec({ suspendTimeoutSeconds: 600, disabled: true }), neon({}))).toEqual({ suspend_timeout_seconds: 600, disabled: true });
  });

  it('leaves fields the spec does not set to Neon', () => {
    expect(endpointUpdate(spec({}), neon({ autoscaling_limit_max_cu: 8, suspend_timeout_seconds: 0, disabled: true }))).toBeUndefined();
  });

  it('creates with the spec fields', () => {
    expect(endpointCreateInput(spec({ type: 'read_only', autoscaling: { minCu: 0.5, maxCu: 1 } }), 'br-x')).toEqual({
      branch_id: 'br-x',
      type: 'read_only',
      autoscaling_limit_min_cu: 0.5,
      autoscaling_limit_max_cu: 1,
    });
  });
});
