// Adoption never implies deletion: what keeps a Neon resource when its object goes, and how a resource found
// after a crash is told apart from one that existed before.
import { describe, expect, it } from 'vitest';
import { keepsResource, matchesPendingCreate } from './ownership.ts';

describe('ownership of adopted resources', () => {
  const events: string[] = [];
  const ctx = { event: (_type: string, reason: string) => void events.push(reason) };

  it('keeps what Retain says, and what was adopted unless ownAdopted; deletes what was created', () => {
    events.length = 0;
    expect(keepsResource({ spec: { deletionPolicy: 'Retain' }, status: { origin: 'Created' } }, ctx, 'x')).toBe(true);
    expect(keepsResource({ spec: { deletionPolicy: 'Delete' }, status: { origin: 'Created' } }, ctx, 'x')).toBe(false);
    expect(keepsResource({ spec: { deletionPolicy: 'Delete' }, status: { origin: 'Adopted' } }, ctx, 'x')).toBe(true);
    expect(keepsResource({ spec: { deletionPolicy: 'Delete', ownAdopted: true }, status: { origin: 'Adopted' } }, ctx, 'x')).toBe(false);
    // Objects from before origin was recorded keep the deletion they had.
    expect(keepsResource({ spec: { deletionPolicy: 'Delete' }, status: {} }, ctx, 'x')).toBe(false);
    // The caller can say it is adopted whatever status says (a NeonProject with spec.projectId).
    expect(keepsResource({ spec: { deletionPolicy: 'Delete' }, status: {} }, ctx, 'x', true)).toBe(true);
    expect(events).toEqual(['Retained', 'Retained']);
  });

  it('a resource is the pending create only with the recorded name and a creation time after it started', () => {
    const pending = { startedAt: '2026-12-02T10:00:00Z', name: 'app' };
    expect(matchesPendingCreate(pending, 'app', '2026-12-02T10:00:03Z')).toBe(true);
    expect(matchesPendingCreate(pending, 'app', '2026-12-02T09:59:00Z')).toBe(true); // clock skew allowance
    expect(matchesPendingCreate(pending, 'app', '2026-12-02T09:50:00Z')).toBe(false); // existed before
    expect(matchesPendingCreate(pending, 'other', '2026-12-02T10:00:03Z')).toBe(false);
    expect(matchesPendingCreate(undefined, 'app', '2026-12-02T10:00:03Z')).toBe(false);
  });
});
