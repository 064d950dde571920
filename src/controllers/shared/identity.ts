/**
 * Identity that outlives status. A restore (Velero, a GitOps re-create, a move to another cluster) brings
 * objects back without their status, where the operator records the Neon IDs. So the IDs are also kept in
 * annotations of the object, which a restore keeps (as crossplane-runtime keeps `crossplane.io/external-name`):
 * written right after a create (or an adoption) by the frame, together with the status field they mirror, and
 * removed when that field is (a resource deleted outside, about to be created again).
 *
 * An object with no ID in status but one in its annotation adopts exactly that resource, and never creates a
 * second one; if it is gone in Neon, the object says so (`IdentityNotFound`) and waits for the user, who removes
 * the annotation to have a new one created. Roles and databases are identified by their name on their branch
 * (the spec holds it), so only their origin is kept.
 *
 * Annotations are written by whoever can edit the object: they are never trusted more than the spec. A project
 * ID goes through the tenancy rule like `spec.projectId` (see tenancy.ts, `restoredProjectOrigin`); an origin
 * only decides whether deletion deletes, which `spec.ownAdopted` lets the same user decide anyway.
 */
import { NEON_ID_PATTERN, originValues, type Origin } from '../../api/index.ts';
import { BlockedError } from './blocked.ts';
import { NotReadyError } from './not-ready.ts';

export const PROJECT_ID_ANNOTATION = 'neon-operator.dev/project-id';
export const BRANCH_ID_ANNOTATION = 'neon-operator.dev/branch-id';
export const ENDPOINT_ID_ANNOTATION = 'neon-operator.dev/endpoint-id';
/** `Created` or `Adopted`: what `status.origin` said, so deletion behaves the same after a restore. */
export const ORIGIN_ANNOTATION = 'neon-operator.dev/origin';

/** Which status field each identity annotation of a kind mirrors (field → annotation key). */
export type IdentityFields = Readonly<Record<string, string>>;

export const projectIdentity: IdentityFields = { projectId: PROJECT_ID_ANNOTATION, origin: ORIGIN_ANNOTATION };
export const branchIdentity: IdentityFields = { branchId: BRANCH_ID_ANNOTATION, origin: ORIGIN_ANNOTATION };
export const endpointIdentity: IdentityFields = { endpointId: ENDPOINT_ID_ANNOTATION, origin: ORIGIN_ANNOTATION };
/** Roles and databases: their name on the branch identifies them; only the origin is kept. */
export const nameIdentity: IdentityFields = { origin: ORIGIN_ANNOTATION };

type Annotated = { metadata: { annotations?: Record<string, string> | undefined } };

/**
 * The annotation changes that mirror a status write: a field the write sets gives its annotation that value, a
 * field it removes (explicitly `undefined`) removes the annotation, a field it does not mention leaves it (an
 * object restored without status keeps its annotations until it has adopted). Merge-patch form (`null` removes);
 * undefined when nothing changes.
 */
export function identityPatch(identity: IdentityFields, fields: Record<string, unknown>, current: Record<string, string> | undefined): Record<string, string | null> | undefined {
  const patch: Record<string, string | null> = {};
  for (const [field, key] of Object.entries(identity)) {
    if (!(field in fields)) continue;
    const value = fields[field];
    if (typeof value === 'string' && value !== '' && current?.[key] !== value) patch[key] = value;
    else if (value === undefined && current?.[key] !== undefined) patch[key] = null;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** The Neon ID an identity annotation holds; undefined when absent. A malformed one is refused as InvalidSpec. */
export function annotatedId(obj: Annotated, key: string): string | undefined {
  const value = obj.metadata.annotations?.[key];
  if (value === undefined) return undefined;
  if (!NEON_ID_PATTERN.test(value)) {
    throw new NotReadyError('InvalidSpec', `annotation ${key} is "${value.slice(0, 64)}", not a Neon ID; correct it or remove it`);
  }
  return value;
}

/** The origin a restored object had (its annotation); undefined when absent or not a known value. */
export function annotatedOrigin(obj: Annotated): Origin | undefined {
  const value = obj.metadata.annotations?.[ORIGIN_ANNOTATION];
  return (originValues as readonly string[]).includes(value ?? '') ? (value as Origin) : undefined;
}

/**
 * The resource an identity annotation names is gone in Neon (deleted, or the object was restored from a backup
 * older than its deletion). Nothing is created in its place without the user's say: a Warning Event, and the
 * object waits until it changes.
 */
export function identityNotFound(what: string, id: string, key: string, where: string): BlockedError {
  return new BlockedError(
    'IdentityNotFound',
    `${what} ${id} named by the annotation ${key} does not exist in ${where} (deleted in Neon, or this object was restored from ` +
      `a backup older than that). Nothing is created in its place automatically: remove the annotation ${key} to have a new one created.`,
    'onChange',
  );
}
