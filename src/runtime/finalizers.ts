import { isNotFound, type KubeClient, type KubeObject, type ResourceType } from './kube-client.ts';
import { keyOf } from './informer.ts';

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

export function isBeingDeleted(obj: KubeObject): boolean {
  return obj.metadata?.deletionTimestamp !== undefined && obj.metadata.deletionTimestamp !== null;
}

async function patchFinalizers<T extends KubeObject>(
  client: KubeClient,
  type: ResourceType,
  obj: T,
  finalizers: string[],
  signal: AbortSignal | undefined,
): Promise<T> {
  const resourceVersion = obj.metadata?.resourceVersion;
  if (!resourceVersion) throw new Error('finalizer patch needs obj.metadata.resourceVersion');
  // Merge patch replaces the whole list; the resourceVersion precondition makes that safe against a
  // concurrent writer (it fails with 409 Conflict instead of dropping someone else's finalizer).
  return client.patch<T>(type, keyOf(obj), { metadata: { finalizers, resourceVersion } }, {
    type: 'merge',
    ...(signal ? { signal } : {}),
  });
}

/**
 * Adds `finalizer` unless present. Idempotent; no request when already there. Returns the object as it
 * now is. Does not add a finalizer to an object that is being deleted (the API server forbids it).
 * Throws a 409 KubeApiError when `obj` is stale: requeue and retry with a fresh read.
 */
export async function ensureFinalizer<T extends KubeObject>(
  client: KubeClient,
  type: ResourceType,
  obj: T,
  finalizer: string,
  signal?: AbortSignal,
): Promise<T> {
  if (hasFinalizer(obj, finalizer) || isBeingDeleted(obj)) return obj;
  return patchFinalizers(client, type, obj, [...(obj.metadata?.finalizers ?? []), finalizer], signal);
}

/**
 * Removes `finalizer` if present. Idempotent: no request when absent; `undefined` when the object is
 * gone (removing the last finalizer of a deleted object lets the API server delete it).
 * Throws a 409 KubeApiError when `obj` is stale.
 */
export async function removeFinalizer<T extends KubeObject>(
  client: KubeClient,
  type: ResourceType,
  obj: T,
  finalizer: string,
  signal?: AbortSignal,
): Promise<T | undefined> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  try {
    return await patchFinalizers(client, type, obj, (obj.metadata?.finalizers ?? []).filter((f) => f !== finalizer), signal);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}
