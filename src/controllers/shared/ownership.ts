/**
 * Adoption never implies deletion: an object that found its Neon resource existing (by ID, by name, or the
 * project's default) records `status.origin: Adopted`, and its deletion leaves that resource in Neon unless
 * the spec says `ownAdopted: true`. What the operator created itself (including what it finds again after a
 * crash, through the pending-create record or the branch's UID annotation) is `Created`.
 */
import type { DeletionPolicy, Origin, PendingCreate } from '../../api/index.ts';
import type { SyncContext } from './frame.ts';

/**
 * How far before the recorded start of a create a resource may have been created and still be ours: Neon's
 * timestamps have second precision and its clock is not ours.
 */
const PENDING_CREATE_SLACK_MS = 2 * 60_000;

/** True when a resource named `name`, created at `createdAt`, is the one the pending create record describes. */
export function matchesPendingCreate(pending: PendingCreate | undefined, name: string, createdAt: string): boolean {
  if (!pending || pending.name !== name) return false;
  return Date.parse(createdAt) >= Date.parse(pending.startedAt) - PENDING_CREATE_SLACK_MS;
}

/** The sentence an Adopted Event ends with: what deletion will do. */
export function adoptedNote(spec: { deletionPolicy: DeletionPolicy; ownAdopted?: boolean | undefined }): string {
  if (spec.deletionPolicy === 'Retain') return 'deleting this object leaves it in Neon (deletionPolicy Retain)';
  return spec.ownAdopted
    ? 'deleting this object deletes it in Neon (ownAdopted)'
    : 'it existed before, so deleting this object leaves it in Neon (set spec.ownAdopted: true to delete it too)';
}

/** The Adopted Event for what a pass found existing: an interrupted create of ours (Created) or a resource that existed before. */
export function announceFound(
  ctx: Pick<SyncContext, 'event'>,
  origin: Origin,
  what: string,
  spec: { deletionPolicy: DeletionPolicy; ownAdopted?: boolean | undefined },
): void {
  ctx.event('Normal', 'Adopted', 'Create', origin === 'Created' ? `found ${what} from an interrupted create` : `adopted ${what}; ${adoptedNote(spec)}`);
}

/**
 * True when deleting the object must leave its Neon resource in place: deletionPolicy Retain, or a resource
 * it adopted without `ownAdopted`. The latter is said in an Event, so a user who expected a deletion sees why.
 */
export function keepsResource(
  obj: { spec: { deletionPolicy: DeletionPolicy; ownAdopted?: boolean | undefined }; status?: { origin?: Origin | undefined } | undefined },
  ctx: Pick<SyncContext, 'event'>,
  what: string,
  adopted = obj.status?.origin === 'Adopted',
): boolean {
  if (obj.spec.deletionPolicy === 'Retain') return true;
  if (!adopted || obj.spec.ownAdopted) return false;
  ctx.event('Normal', 'Retained', 'Delete', `left ${what} in Neon: this object adopted it rather than created it (spec.ownAdopted is not set)`);
  return true;
}
