import { apiVersionOf, coreResources, type KubeClient, type KubeObject, type OwnerReference, type ResourceType } from './kube-client.ts';
import { jsonEqual } from './merge-patch.ts';

export interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

export interface DesiredSecret {
  namespace: string;
  name: string;
  /** Plain-text values; encoded to `data` here. */
  stringData: Record<string, string>;
  type?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The object that owns the Secret: it is garbage-collected with it, and its controller is requeued on changes. */
  owner?: { type: ResourceType; object: KubeObject };
  /** Set blockOwnerDeletion (needs update on the owner's `finalizers` subresource where that is enforced). */
  blockOwnerDeletion?: boolean;
}

/** The controller ownerReference for `object` of `type`. */
export function controllerReference(type: ResourceType, object: KubeObject, blockOwnerDeletion = false): OwnerReference {
  const { name, uid } = object.metadata ?? {};
  if (!name || !uid) throw new Error('an owner needs metadata.name and metadata.uid');
  return { apiVersion: apiVersionOf(type), kind: type.kind, name, uid, controller: true, ...(blockOwnerDeletion ? { blockOwnerDeletion } : {}) };
}

function encode(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
}

/** True when `current` already has the desired data, type, labels, annotations and owner (extra labels from others are fine). */
export function secretUpToDate(current: SecretObject, desired: DesiredSecret): boolean {
  const meta = current.metadata ?? {};
  const subset = (want: Record<string, string> | undefined, have: Record<string, string> | undefined) =>
    Object.entries(want ?? {}).every(([k, v]) => have?.[k] === v);
  if (!jsonEqual(current.data ?? {}, encode(desired.stringData))) return false;
  if ((current.type ?? 'Opaque') !== (desired.type ?? 'Opaque')) return false;
  if (!subset(desired.labels, meta.labels) || !subset(desired.annotations, meta.annotations)) return false;
  if (desired.owner) {
    const ref = controllerReference(desired.owner.type, desired.owner.object, desired.blockOwnerDeletion);
    if (!(meta.ownerReferences ?? []).some((r) => r.uid === ref.uid && r.controller === true)) return false;
  }
  return true;
}

/**
 * Creates or updates a Secret to exactly the desired keys with server-side apply (`fieldManager` owns
 * them; keys it applied before and no longer wants are removed; others' fields are left alone). Makes
 * no request when `current` (e.g. from an informer) is already up to date. Idempotent. The values
 * never appear in errors: only the Secret's name does.
 */
export async function applySecret(
  client: KubeClient,
  desired: DesiredSecret,
  options: { fieldManager: string; current?: SecretObject | undefined; signal?: AbortSignal },
): Promise<{ changed: boolean }> {
  if (options.current && secretUpToDate(options.current, desired)) return { changed: false };
  const body = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: desired.name,
      namespace: desired.namespace,
      ...(desired.labels ? { labels: desired.labels } : {}),
      ...(desired.annotations ? { annotations: desired.annotations } : {}),
      ...(desired.owner ? { ownerReferences: [controllerReference(desired.owner.type, desired.owner.object, desired.blockOwnerDeletion)] } : {}),
    },
    type: desired.type ?? 'Opaque',
    data: encode(desired.stringData),
  };
  await client.patch(coreResources.secret, { namespace: desired.namespace, name: desired.name }, body, {
    type: 'apply',
    fieldManager: options.fieldManager,
    force: true,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { changed: true };
}
