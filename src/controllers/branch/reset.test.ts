// The reset-from-parent annotation: restored once per value, recorded after Neon's operations ended, and never
// twice when the operator stopped between the restore call and the status write.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseNeonBranch, type NeonBranch } from '../../api/index.ts';
import type { Branch, NeonClient } from '../../neon/index.ts';
import { BlockedError } from '../shared/blocked.ts';
import type { ControllerDeps } from '../shared/deps.ts';
import type { StatusFields, SyncContext } from '../shared/frame.ts';
import { resetAnsweredByCreation, resetFromParent } from './reset.ts';

const RESET = 'neon-operator.dev/reset-from-parent';
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const deps = { clock: { now: () => NOW } } as unknown as ControllerDeps;

function branchObject(annotations: Record<string, string>, status: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): NeonBranch {
  return parseNeonBranch({
    apiVersion: 'neon-operator.dev/v1alpha1',
    kind: 'NeonBranch',
    metadata: { name: 'pr', namespace: 'ns', uid: 'u', generation: 1, annotations },
    spec: { projectId: 'proj-1', parentId: 'br-parent', ...spec },
    status,
  });
}

const neonBranch = (lastResetAt?: string): Branch => ({
  id: 'br-pr',
  project_id: 'proj-1',
  parent_id: 'br-parent',
  name: 'pr',
  current_state: 'ready',
  state_changed_at: '2026-06-01T11:00:00Z',
  creation_source: 'console',
  default: false,
  protected: false,
  created_at: '2026-06-01T10:00:00Z',
  updated_at: '2026-06-01T11:00:00Z',
  ...(lastResetAt ? { last_reset_at: lastResetAt } : {}),
});

function fakes(after: Branch) {
  const calls: string[] = [];
  const saved: StatusFields[] = [];
  const events: string[] = [];
  const client = {
    restoreBranch: async (_p: string, id: string, input: { source_branch_id: string; preserve_under_name?: string }) => {
      calls.push(`restore ${id} from ${input.source_branch_id}${input.preserve_under_name ? ` as ${input.preserve_under_name}` : ''}`);
      return { branch: after, operations: [] };
    },
    waitForOperations: async () => {
      calls.push('wait');
      return [];
    },
    getBranch: async () => {
      calls.push('get');
      return { branch: after, annotation: {} };
    },
  } as unknown as NeonClient;
  const ctx = {
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    saveStatus: async (fields: StatusFields) => {
      saved.push(fields);
    },
    event: (_t: string, reason: string) => events.push(reason),
  } as unknown as SyncContext;
  return { client, ctx, calls, saved, events };
}

describe('resetFromParent', () => {
  it('restores from the parent, waits for the operations, then records the value; the same value again does nothing', async () => {
    const f = fakes(neonBranch('2026-06-01T12:00:00Z'));
    const b = branchObject({ [RESET]: 'sha-1' });
    await resetFromParent(deps, b, f.ctx, { client: f.client, projectId: 'proj-1', branch: neonBranch(), parentId: 'br-parent', branches: [] });
    expect(f.calls).toEqual(['restore br-pr from br-parent', 'wait', 'get']);
    expect(f.saved[0]).toEqual({ resetPending: { request: 'sha-1', startedAt: '2026-06-01T12:00:00Z' } });
    expect(f.saved[1]).toEqual({ reset: { request: 'sha-1', completedAt: '2026-06-01T12:00:00Z', sourceBranchId: 'br-parent' }, resetPending: undefined });
    expect(f.events).toEqual(['Reset']);

    const again = fakes(neonBranch());
    const done = branchObject({ [RESET]: 'sha-1' }, { reset: { request: 'sha-1', completedAt: '2026-06-01T12:00:00Z' } });
    await resetFromParent(deps, done, again.ctx, { client: again.client, projectId: 'proj-1', branch: neonBranch(), parentId: 'br-parent', branches: [] });
    expect(again.calls).toEqual([]);
  });

  it('after a restart between the restore and the status write, records the restore Neon did instead of restoring again', async () => {
    const f = fakes(neonBranch('2026-06-01T11:59:00Z'));
    const b = branchObject({ [RESET]: 'sha-1' }, { resetPending: { request: 'sha-1', startedAt: '2026-06-01T11:58:59Z' } });
    await resetFromParent(deps, b, f.ctx, { client: f.client, projectId: 'proj-1', branch: neonBranch('2026-06-01T11:59:00Z'), parentId: 'br-parent', branches: [] });
    expect(f.calls).toEqual(['get']);
    expect(f.saved).toEqual([{ reset: { request: 'sha-1', completedAt: '2026-06-01T12:00:00Z', sourceBranchId: 'br-parent' }, resetPending: undefined }]);
    // A pending record whose restore Neon never did (no last_reset_at after it) is restored.
    const g = fakes(neonBranch());
    await resetFromParent(deps, b, g.ctx, { client: g.client, projectId: 'proj-1', branch: neonBranch(), parentId: 'br-parent', branches: [] });
    expect(g.calls[0]).toBe('restore br-pr from br-parent');
  });

  it('a new branch records the value without a restore; a parent-less or schema-only branch is refused naming the annotation', async () => {
    const f = fakes(neonBranch());
    expect(resetAnsweredByCreation(deps, branchObject({ [RESET]: 'sha-1' }), 'br-parent')).toEqual({
      reset: { request: 'sha-1', completedAt: '2026-06-01T12:00:00Z', sourceBranchId: 'br-parent' },
    });
    expect(resetAnsweredByCreation(deps, branchObject({}), 'br-parent')).toEqual({});

    const schemaOnly = branchObject({ [RESET]: 'x' }, {}, { initSource: 'schema-only' });
    await expect(
      resetFromParent(deps, schemaOnly, f.ctx, { client: f.client, projectId: 'proj-1', branch: neonBranch(), parentId: 'br-parent', branches: [] }),
    ).rejects.toThrow(new BlockedError('InvalidSpec', `annotation ${RESET}: Neon branch br-pr cannot be reset from its parent: it is a schema-only branch, and a restore would copy the parent's data into it; remove the annotation`, 'onChange'));
    const root = { ...neonBranch(), default: true };
    await expect(
      resetFromParent(deps, branchObject({ [RESET]: 'x' }), f.ctx, { client: f.client, projectId: 'proj-1', branch: root, parentId: undefined, branches: [root] }),
    ).rejects.toThrow(/it has no parent branch to restore from/);
    expect(f.calls).toEqual([]);
  });

  it('passes the preserve name from its annotation and records it', async () => {
    const f = fakes(neonBranch('2026-06-01T12:00:00Z'));
    const b = branchObject({ [RESET]: 'sha-2', 'neon-operator.dev/reset-preserve-under-name': 'pr-before-sha-2' });
    await resetFromParent(deps, b, f.ctx, { client: f.client, projectId: 'proj-1', branch: neonBranch(), parentId: 'br-parent', branches: [] });
    expect(f.calls[0]).toBe('restore br-pr from br-parent as pr-before-sha-2');
    expect(f.saved[1]).toMatchObject({ reset: { request: 'sha-2', preservedUnderName: 'pr-before-sha-2' } });
  });
});
