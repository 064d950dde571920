/** JSON values as they travel to and from the API server. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Structural equality of JSON-like values; object key order does not matter, `undefined` keys are absent. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (!jsonEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

/**
 * The RFC 7386 merge patch that turns `current` into `desired`, or `undefined` when they are already
 * equal (so callers can skip the API call). Keys missing from `desired` become `null`; arrays are
 * replaced as a whole, as merge patch does.
 */
export function createMergePatch(current: unknown, desired: unknown): Json | undefined {
  if (jsonEqual(current, desired)) return undefined;
  if (!isPlainObject(current) || !isPlainObject(desired)) return (desired ?? null) as Json;
  const patch: Record<string, Json> = {};
  for (const [k, v] of Object.entries(desired)) {
    if (v === undefined) continue;
    const sub = createMergePatch(current[k], v);
    if (sub !== undefined) patch[k] = sub;
  }
  for (const [k, v] of Object.entries(current)) {
    if (v !== undefined && desired[k] === undefined) patch[k] = null;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}
