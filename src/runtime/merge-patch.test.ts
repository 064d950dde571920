import { describe, expect, it } from 'vitest';
import { createMergePatch, jsonEqual } from './merge-patch.ts';

describe('createMergePatch', () => {
  it('is undefined when nothing differs, regardless of key order', () => {
    expect(createMergePatch({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toBeUndefined();
    expect(jsonEqual({ a: undefined, b: 1 }, { b: 1 })).toBe(true);
  });

  it('sends only changed keys, nulls removed keys, recurses into objects, replaces arrays', () => {
    expect(
      createMergePatch(
        { host: 'a', id: 'x', nested: { keep: 1, drop: 2 }, list: [1, 2], gone: true },
        { host: 'b', id: 'x', nested: { keep: 1 }, list: [1], added: 'y' },
      ),
    ).toEqual({ host: 'b', nested: { drop: null }, list: [1], added: 'y', gone: null });
  });
});
