import { parseNeonBranch, parseNeonDatabase, parseNeonEndpoint, parseNeonProject, parseNeonRole, postgresDatabaseName, postgresRoleName, type NeonDatabase, type NeonEndpoint, type NeonRole } from '../../api/index.ts';
import { keyOf, type Controller, type KubeObject, type ResourceType } from '../../runtime/index.ts';
import { BlockedError } from './blocked.ts';
import type { ControllerDeps } from './deps.ts';
import { resourceTypes } from './kinds.ts';
import { lookup, type BranchTargetSpec } from './references.ts';

/** Something on a Neon branch only one object may manage: a role or database name, or the branch's read_write compute. */
export interface Claim {
  projectId: string;
  branchId: string;
  name: string;
}

/** One object of a kind, as far as claims go. */
export interface Claimant {
  name: string;
  uid: string | undefined;
  creationTimestamp: string | undefined;
  /** What its status says it manages (it created or adopted it). */
  recorded: Claim | undefined;
  /** What its spec asks for, with the branch as the informer stores resolve it now. */
  wanted: Claim | undefined;
}

export function sameClaim(a: Claim | undefined, b: Claim | undefined): boolean {
  return a !== undefined && b !== undefined && a.projectId === b.projectId && a.branchId === b.branchId && a.name === b.name;
}

/** Precedence for one claim: who recorded it, then the older object, then the name (so every pass agrees). */
function ranksBefore(claim: Claim, a: Claimant, b: Claimant): boolean {
  const aRecorded = sameClaim(a.recorded, claim);
  const bRecorded = sameClaim(b.recorded, claim);
  if (aRecorded !== bRecorded) return aRecorded;
  const at = a.creationTimestamp ?? '\uffff';
  const bt = b.creationTimestamp ?? '\uffff';
  if (at !== bt) return at < bt;
  return a.name < b.name;
}

/**
 * The object that holds `claim` instead of `self`, if any: among the others that record it in status or
 * ask for it in their spec, the one that recorded it wins, else the oldest (creationTimestamp, then name).
 * Undefined when `self` holds it or nobody else wants it.
 */
export function holderOf(claim: Claim, self: Claimant, others: readonly Claimant[]): Claimant | undefined {
  let holder = self;
  for (const other of others) {
    if (other.uid !== undefined && other.uid === self.uid) continue;
    if (!sameClaim(other.recorded, claim) && !sameClaim(other.wanted, claim)) continue;
    if (ranksBefore(claim, other, holder)) holder = other;
  }
  return holder === self ? undefined : holder;
}

/** How a kind's objects claim things on their branch. */
export interface ClaimKind<T> {
  kind: string;
  type: ResourceType;
  parse(raw: unknown): T;
  /** The name claimed on the branch; undefined when the object claims nothing (a read_only compute). */
  nameOf(obj: T): string | undefined;
  recordedOf(obj: T): Claim | undefined;
  describe(claim: Claim): string;
}

type BranchTargetObject = { metadata: { name: string; uid?: string | undefined; creationTimestamp?: string | undefined; namespace?: string | undefined }; spec: BranchTargetSpec };

function recorded(status: { projectId?: string | undefined; branchId?: string | undefined } | undefined, name: string | undefined): Claim | undefined {
  const { projectId, branchId } = status ?? {};
  return projectId && branchId && name ? { projectId, branchId, name } : undefined;
}

const READ_WRITE = 'read_write';

export const endpointClaims: ClaimKind<NeonEndpoint> = {
  kind: 'NeonEndpoint',
  type: resourceTypes.endpoint,
  parse: parseNeonEndpoint,
  nameOf: (e) => (e.spec.type === READ_WRITE ? READ_WRITE : undefined),
  recordedOf: (e) => (e.spec.type === READ_WRITE && e.status?.endpointId ? recorded(e.status, READ_WRITE) : undefined),
  describe: (c) => `the read_write compute of Neon branch ${c.branchId} (Neon allows one per branch)`,
};

/** Roles and databases: unique by name on a branch (spec.name, else metadata.name). */
function nameClaims<T>(
  kind: string,
  type: ResourceType,
  parse: (raw: unknown) => T,
  nameOf: (obj: T) => string,
  recordedOf: (obj: T) => Claim | undefined,
): ClaimKind<T> {
  const what = kind === 'NeonRole' ? 'role' : 'database';
  return { kind, type, parse, nameOf, recordedOf, describe: (c) => `${what} ${c.name} on Neon branch ${c.branchId}` };
}

export const roleClaims = nameClaims<NeonRole>('NeonRole', resourceTypes.role, parseNeonRole, postgresRoleName, (r) => recorded(r.status, r.status?.roleName));
export const databaseClaims = nameClaims<NeonDatabase>('NeonDatabase', resourceTypes.database, parseNeonDatabase, postgresDatabaseName, (d) => recorded(d.status, d.status?.databaseName));

/** The branch a spec names, from what the referenced objects recorded (no readiness required, no Neon call). */
function storedTarget(deps: ControllerDeps, namespace: string, spec: BranchTargetSpec): { projectId: string; branchId: string } | undefined {
  if (spec.branchRef) {
    const branch = lookup(deps, resourceTypes.branch, namespace, spec.branchRef.name, parseNeonBranch);
    const { projectId, branchId } = branch?.status ?? {};
    return projectId && branchId ? { projectId, branchId } : undefined;
  }
  if (spec.projectRef) {
    const project = lookup(deps, resourceTypes.project, namespace, spec.projectRef.name, parseNeonProject);
    const { projectId, defaultBranchId } = project?.status ?? {};
    return projectId && defaultBranchId ? { projectId, branchId: defaultBranchId } : undefined;
  }
  return spec.projectId && spec.branchId ? { projectId: spec.projectId, branchId: spec.branchId } : undefined;
}

function claimantOf<T extends BranchTargetObject>(deps: ControllerDeps, kind: ClaimKind<T>, obj: T): Claimant {
  const name = kind.nameOf(obj);
  const target = name === undefined ? undefined : storedTarget(deps, obj.metadata.namespace ?? '', obj.spec);
  return {
    name: obj.metadata.name,
    uid: obj.metadata.uid,
    creationTimestamp: obj.metadata.creationTimestamp,
    recorded: kind.recordedOf(obj),
    wanted: target && name !== undefined ? { ...target, name } : undefined,
  };
}

/**
 * Throws BlockedError(Conflict) naming the other object when another object of the namespace holds what
 * `self` would manage on `target` (see holderOf). Reads only the informer store: call it before any Neon
 * call, so an object in conflict costs Neon nothing.
 */
export function assertUnclaimed<T extends BranchTargetObject>(deps: ControllerDeps, kind: ClaimKind<T>, self: T, target: { projectId: string; branchId: string }): void {
  const name = kind.nameOf(self);
  if (name === undefined) return;
  const claim: Claim = { ...target, name };
  const others = deps.informers
    .informer<KubeObject>(kind.type)
    .list(self.metadata.namespace)
    .flatMap((raw) => {
      try {
        return [claimantOf(deps, kind, kind.parse(raw))];
      } catch {
        return []; // an unreadable object claims nothing
      }
    });
  const holder = holderOf(claim, claimantOf(deps, kind, self), others);
  if (!holder) return;
  const why = sameClaim(holder.recorded, claim) ? 'which manages it' : 'which was created first';
  throw new BlockedError(
    'Conflict',
    `${kind.describe(claim)} is already claimed by ${kind.kind} ${holder.name}, ${why}; delete one of the two or point this one elsewhere`,
    'backoff',
  );
}

/**
 * Objects of the namespace that lost a claim (Ready reason Conflict): requeued when another object of
 * their kind is deleted or changes its spec, as that may free what they wait for.
 */
export function conflictedPeers(objects: readonly KubeObject[], changed: KubeObject): KubeObject[] {
  return objects.filter((obj) => {
    if (obj.metadata?.uid === changed.metadata?.uid) return false;
    const conditions = (obj as { status?: { conditions?: Array<{ type: string; reason?: string }> } }).status?.conditions ?? [];
    return conditions.some((c) => c.type === 'Ready' && c.reason === 'Conflict');
  });
}

/**
 * Requeues the losers of a claim when another object of their kind is deleted or changes its spec (it
 * may have let go of what they wait for), instead of leaving them to their backoff, which grows to minutes.
 */
export function requeueConflictsOnRelease(controller: Controller): void {
  const requeuePeers = (changed: KubeObject): void => {
    for (const peer of conflictedPeers(controller.informer.list(changed.metadata?.namespace), changed)) controller.enqueue(keyOf(peer));
  };
  controller.informer.on({
    update: (oldObj, newObj) => {
      if (oldObj.metadata?.generation !== newObj.metadata?.generation) requeuePeers(newObj);
    },
    delete: requeuePeers,
  });
}
