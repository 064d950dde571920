import { parseNeonDatabase, parseNeonEndpoint, postgresDatabaseName, type NeonRole } from '../../api/index.ts';
import type { NeonClient } from '../../neon/index.ts';
import type { ControllerDeps } from '../shared/deps.ts';
import { resourceTypes } from '../shared/kinds.ts';
import { NotReadyError } from '../shared/not-ready.ts';
import { isReady, lookup, type ResolvedBranch } from '../shared/references.ts';

export interface SecretDatabase {
  name: string;
  /** False while a referenced NeonDatabase is not Ready: the Secret is written, Ready waits. */
  ready: boolean;
  waitingFor?: string;
}

/**
 * The database the role's Secret points at. A referenced NeonDatabase only has to exist (its name is
 * known from its spec): it may itself wait for this role to exist as its owner, so requiring it to be
 * Ready here would deadlock.
 */
export async function secretDatabase(deps: ControllerDeps, r: NeonRole, target: ResolvedBranch, signal: AbortSignal): Promise<SecretDatabase> {
  if (r.spec.databaseName) {
    // Not managed by the operator: it only has to exist on the branch.
    const name = r.spec.databaseName;
    const exists = (await target.client.listDatabases(target.projectId, target.branchId, { signal })).some((d) => d.name === name);
    return { name, ready: exists, ...(exists ? {} : { waitingFor: `database ${name} on branch ${target.branchId}` }) };
  }
  const refName = r.spec.databaseRef?.name ?? '';
  const db = lookup(deps, resourceTypes.database, r.metadata.namespace ?? '', refName, parseNeonDatabase);
  if (!db) throw new NotReadyError('DatabaseNotReady', `NeonDatabase ${refName} does not exist yet`);
  const name = postgresDatabaseName(db);
  const ready = isReady(db) && db.status?.databaseName === name;
  return { name, ready, ...(ready ? {} : { waitingFor: `NeonDatabase ${refName}` }) };
}

export interface SecretEndpoint {
  id: string;
  host: string;
}

/** The compute the role's Secret points at: endpointRef, endpointId, or the branch's read_write compute. */
export async function secretEndpoint(deps: ControllerDeps, r: NeonRole, target: ResolvedBranch & { client: NeonClient }, signal: AbortSignal): Promise<SecretEndpoint> {
  const namespace = r.metadata.namespace ?? '';
  if (r.spec.endpointRef) {
    const name = r.spec.endpointRef.name;
    const ep = lookup(deps, resourceTypes.endpoint, namespace, name, parseNeonEndpoint);
    if (!ep) throw new NotReadyError('EndpointNotReady', `NeonEndpoint ${name} does not exist yet`);
    const { endpointId, host, branchId } = ep.status ?? {};
    if (!endpointId || !host || !isReady(ep)) throw new NotReadyError('EndpointNotReady', `waiting for NeonEndpoint ${name} to become Ready`);
    if (branchId !== target.branchId) {
      throw new NotReadyError('EndpointNotReady', `NeonEndpoint ${name} is on branch ${branchId ?? 'unknown'}, not on the role's branch ${target.branchId}`);
    }
    return { id: endpointId, host };
  }
  if (r.spec.endpointId) {
    const ep = (await target.client.listEndpoints(target.projectId, { signal })).find((e) => e.id === r.spec.endpointId);
    if (!ep) throw new NotReadyError('EndpointNotReady', `Neon compute ${r.spec.endpointId} does not exist`);
    return { id: ep.id, host: ep.host };
  }
  const rw = (await target.client.listEndpoints(target.projectId, { signal })).find((e) => e.branch_id === target.branchId && e.type === 'read_write');
  if (!rw) {
    throw new NotReadyError('EndpointNotReady', `branch ${target.branchId} has no read-write compute yet; create a NeonEndpoint for it or name one with endpointRef`);
  }
  return { id: rw.id, host: rw.host };
}
