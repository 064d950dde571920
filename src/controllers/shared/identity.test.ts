import { describe, expect, it } from 'vitest';
import { BlockedError } from './blocked.ts';
import { annotatedId, annotatedOrigin, BRANCH_ID_ANNOTATION, branchIdentity, identityNotFound, identityPatch, ORIGIN_ANNOTATION } from './identity.ts';
import { NotReadyError } from './not-ready.ts';

const withAnnotations = (annotations?: Record<string, string>) => ({ metadata: { annotations } });

describe('identity annotations', () => {
  it('mirror the status fields a write sets or removes, and leave alone what it does not mention', () => {
    expect(identityPatch(branchIdentity, { branchId: 'br-a', origin: 'Created' }, undefined)).toEqual({ [BRANCH_ID_ANNOTATION]: 'br-a', [ORIGIN_ANNOTATION]: 'Created' });
    // Unchanged: no write.
    expect(identityPatch(branchIdentity, { branchId: 'br-a', state: 'ready' }, { [BRANCH_ID_ANNOTATION]: 'br-a' })).toBeUndefined();
    // A branch deleted outside: its ID is cleared from status, and from the annotation, so it can be created again.
    expect(identityPatch(branchIdentity, { branchId: undefined, state: undefined }, { [BRANCH_ID_ANNOTATION]: 'br-a', [ORIGIN_ANNOTATION]: 'Created' })).toEqual({ [BRANCH_ID_ANNOTATION]: null });
    // A restored object's first status write (a condition, waiting for its project) keeps its annotations.
    expect(identityPatch(branchIdentity, {}, { [BRANCH_ID_ANNOTATION]: 'br-a' })).toBeUndefined();
  });

  it('read a Neon ID and an origin; a malformed ID is InvalidSpec, an unknown origin is ignored', () => {
    expect(annotatedId(withAnnotations({ [BRANCH_ID_ANNOTATION]: 'br-quiet-night-a1b2c3d4' }), BRANCH_ID_ANNOTATION)).toBe('br-quiet-night-a1b2c3d4');
    expect(annotatedId(withAnnotations(), BRANCH_ID_ANNOTATION)).toBeUndefined();
    expect(() => annotatedId(withAnnotations({ [BRANCH_ID_ANNOTATION]: '../other' }), BRANCH_ID_ANNOTATION)).toThrow(NotReadyError);
    expect(annotatedOrigin(withAnnotations({ [ORIGIN_ANNOTATION]: 'Created' }))).toBe('Created');
    expect(annotatedOrigin(withAnnotations({ [ORIGIN_ANNOTATION]: 'Mine' }))).toBeUndefined();
  });

  it('a resource gone in Neon waits for the user, with a message that says how to get a new one', () => {
    const err = identityNotFound('Neon branch', 'br-x', BRANCH_ID_ANNOTATION, 'project p-1');
    expect(err).toBeInstanceOf(BlockedError);
    expect(err).toMatchObject({ reason: 'IdentityNotFound', retry: 'onChange' });
    expect(err.message).toMatch(/remove the annotation neon-operator.dev\/branch-id/);
  });
});
