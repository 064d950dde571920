import { KubeApiError, type KubeClient, type KubeObject, type ResourceType } from './kube-client.ts';
import { createMergePatch } from './merge-patch.ts';
import { keyOf } from './informer.ts';

export type StatusOf<T> = T extends { status?: infer S } ? S : never;

export interface StatusWriteResult<T> {
  /** False when the desired status equalled the current one and no request was made. */
  written: boolean;
  object: T;
}

/**
 * Writes `desired` as the object's status through the `/status` subresource, stamping
 * `observedGeneration` from `obj.metadata.generation`. Sends a merge patch of only what differs from
 * `obj.status` (removed fields become null) and makes no request at all when nothing differs. Without a
 * resourceVersion precondition (status belongs to this controller alone; level-based reconciling repairs
 * any stale read on the next pass) unless `preconditionOnResourceVersion` is set.
 */
export async function writeStatus<T extends KubeObject & { status?: object }>(
  client: KubeClient,
  type: ResourceType,
  obj: T,
  desired: Omit<NonNullable<StatusOf<T>>, 'observedGeneration'>,
  options: { signal?: AbortSignal; preconditionOnResourceVersion?: boolean } = {},
): Promise<StatusWriteResult<T>> {
  const stamped: Record<string, unknown> = { ...(desired as Record<string, unknown>) };
  if (obj.metadata?.generation !== undefined) stamped.observedGeneration = obj.metadata.generation;
  const diff = createMergePatch(obj.status ?? {}, stamped);
  if (diff === undefined) return { written: false, object: obj };
  const patch: Record<string, unknown> = { status: diff };
  if (options.preconditionOnResourceVersion) {
    if (!obj.metadata?.resourceVersion) throw new Error('resourceVersion precondition needs obj.metadata.resourceVersion');
    patch.metadata = { resourceVersion: obj.metadata.resourceVersion };
  }
  try {
    const object = await client.patch<T>(type, keyOf(obj), patch, {
      type: 'merge',
      subresource: 'status',
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { written: true, object };
  } catch (e) {
    // A status write for an object that has just been deleted is not an error worth a retry.
    if (e instanceof KubeApiError && e.statusCode === 404) return { written: false, object: obj };
    throw e;
  }
}
