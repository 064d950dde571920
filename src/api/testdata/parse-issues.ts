import { expect } from 'vitest';
import { ResourceParseError } from '../resource.ts';

/** The issues of parsing `obj`, as `path: message` lines; empty when it parses. */
export function issuesOf(parse: (o: unknown) => unknown, obj: unknown): string[] {
  try {
    parse(obj);
  } catch (e) {
    expect(e).toBeInstanceOf(ResourceParseError);
    return (e as ResourceParseError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}
