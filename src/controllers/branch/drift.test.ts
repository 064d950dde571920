import { describe, expect, it } from 'vitest';
import { parseNeonBranch } from '../../api/index.ts';
import type { Branch } from '../../neon/index.ts';
import { branchCreateInput, branchUpdate } from './drift.ts';

const spec = (s: Record<string, unknown>) =>
  parseNeonBranch({ apiVersion: 'neon-operator.dev/v1alpha1', kind: 'NeonBranch', metadata: { name: 'dev' }, spec: { projectRef: { name: 'p' }, ...s } }).spec;
const neon = (b: Partial<Branch>): Branch => ({ name: 'dev', protected: false, ...b }) as Branch;

describe('branch drift', () => {
  it('patches name, protection and expiry only when they differ', () => {
    expect(branchUpdate(spec({}), 'dev', neon({}))).toBeUndefined();
    expect(branchUpdate(spec({ protected: true }), 'dev', neon({}))).toEqual({ protected: true });
    expect(branchUpdate(spec({}), 'renamed', neon({}))).toEqual({ name: 'renamed' });
    expect(branchUpdate(spec({ expiresAt: '2030-01-01T00:00:00Z' }), 'dev', neon({ expires_at: '2030-01-01T00:00:00.000Z' }))).toBeUndefined();
    expect(branchUpdate(spec({}), 'dev', neon({ expires_at: '2030-01-01T00:00:00Z' }))).toEqual({ expires_at: null });
  });

  it('leaves protection alone when the spec does not say', () => {
    expect(branchUpdate(spec({}), 'dev', neon({ protected: true }))).toBeUndefined();
  });

  it('stamps the owner annotation on create', () => {
    expect(branchCreateInput(spec({ parentLsn: '0/1A', initSource: 'schema-only' }), 'dev', 'br-parent', { 'neon-operator.dev/uid': 'u-1' })).toEqual({
      branch: { name: 'dev', parent_id: 'br-parent', parent_lsn: '0/1A', init_source: 'schema-only' },
      annotations: { 'neon-operator.dev/uid': 'u-1' },
    });
  });
});
