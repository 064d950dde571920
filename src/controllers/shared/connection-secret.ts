import { applySecret, coreResources, type KubeObject, type ResourceType, type SecretObject } from '../../runtime/index.ts';
import type { ControllerDeps } from './deps.ts';
import { FIELD_MANAGER } from './kinds.ts';
import { NotReadyError } from './not-ready.ts';
import { PASSWORD_CHECK_ANNOTATION, passwordCheck } from './role-password.ts';

/** What an application needs to connect; the password is a secret and only ever goes into the Secret. */
export interface ConnectionInfo {
  host: string;
  poolerHost: string;
  port?: number;
  dbname: string;
  username: string;
  password: string;
  /**
   * When the password was last known to be the role's current one: the role's `updated_at` in Neon at that
   * time. Written with a digest of the password as the Secret's PASSWORD_CHECK_ANNOTATION, so a later pass
   * knows the Secret still holds the current password without asking Neon to reveal it.
   */
  roleUpdatedAt?: string | undefined;
}

/** The keys of every connection Secret the operator writes (a test checks a Secret has exactly these). */
export const CONNECTION_SECRET_KEYS = [
  'host',
  'pooled-host',
  'port',
  'dbname',
  'username',
  'password',
  'uri',
  'pooled-uri',
  'jdbc-uri',
  'pgpass',
  'DATABASE_URL',
] as const;

/** Neon's pooled host: the endpoint ID with `-pooler` appended (`ep-x.region…` → `ep-x-pooler.region…`). */
export function poolerHostOf(host: string): string {
  const dot = host.indexOf('.');
  if (dot < 0) return `${host}-pooler`;
  const first = host.slice(0, dot);
  return first.endsWith('-pooler') ? host : `${first}-pooler${host.slice(dot)}`;
}

/** pgpass fields escape `\` and `:` with a backslash. */
function pgpassField(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll(':', '\\:');
}

/**
 * The Secret's keys, in the names apps and frameworks expect (CloudNativePG's plus pooled variants and
 * DATABASE_URL). Every URI says `sslmode=require` (Neon only accepts TLS) and URL-encodes user, password
 * and database name.
 */
export function connectionSecretData(c: ConnectionInfo): Record<string, string> {
  const port = c.port ?? 5432;
  const user = encodeURIComponent(c.username);
  const password = encodeURIComponent(c.password);
  const db = encodeURIComponent(c.dbname);
  const uri = (host: string) => `postgresql://${user}:${password}@${host}:${port}/${db}?sslmode=require`;
  return {
    host: c.host,
    'pooled-host': c.poolerHost,
    port: String(port),
    dbname: c.dbname,
    username: c.username,
    password: c.password,
    uri: uri(c.host),
    'pooled-uri': uri(c.poolerHost),
    'jdbc-uri': `jdbc:postgresql://${c.host}:${port}/${db}?user=${user}&password=${password}&sslmode=require`,
    pgpass: `${[c.host, String(port), c.dbname, c.username, c.password].map(pgpassField).join(':')}\n`,
    DATABASE_URL: uri(c.host),
  };
}

/** Reads a Secret; undefined when it does not exist. */
export function readSecret(deps: ControllerDeps, namespace: string, name: string, signal?: AbortSignal): Promise<SecretObject | undefined> {
  return deps.kube.get<SecretObject>(coreResources.secret, { namespace, name }, signal);
}

/**
 * Reads only a Secret's metadata (owner references, labels, UID): enough to tell whose it is, and none of
 * its data is sent, which matters when the Secret turns out to be someone else's.
 */
export function readSecretMetadata(deps: Pick<ControllerDeps, 'kube'>, namespace: string, name: string, signal?: AbortSignal): Promise<KubeObject | undefined> {
  return deps.kube.getMetadata(coreResources.secret, { namespace, name }, signal);
}

/** A key of a Secret, decoded; undefined when absent. */
export function secretValue(secret: SecretObject | undefined, key: string): string | undefined {
  const encoded = secret?.data?.[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
}

/**
 * Throws NotReadyError `SecretConflict` when a Secret of the target's name exists and belongs to someone
 * else: the operator never takes over a Secret it did not write. Call it before a create whose answer
 * carries a password, so the password is not lost to a Secret that cannot be written.
 */
export function assertSecretOwned(current: KubeObject | undefined, target: Pick<ConnectionSecretTarget, 'name' | 'owner'>): void {
  if (!current) return;
  const ownerUid = target.owner.object.metadata?.uid;
  const refs = current.metadata?.ownerReferences ?? [];
  const ours = refs.some((r) => r.uid === ownerUid) || (refs.length === 0 && current.metadata?.labels?.['app.kubernetes.io/managed-by'] === 'neon-operator');
  if (!ours) {
    throw new NotReadyError(
      'SecretConflict',
      `Secret ${target.name} already exists and is not managed by this ${target.owner.type.kind}; delete it or choose another secret name`,
    );
  }
}

export interface ConnectionSecretTarget {
  namespace: string;
  name: string;
  /** The object whose deletion garbage-collects the Secret. */
  owner: { type: ResourceType; object: KubeObject };
  current?: SecretObject | undefined;
}

/**
 * Writes the connection Secret (server-side apply, owned by `owner`, labelled with its source). No
 * request when it is already up to date. Returns whether it changed. Refuses (NotReadyError
 * `SecretConflict`) to take over a Secret of that name that something else owns.
 */
export async function writeConnectionSecret(
  deps: ControllerDeps,
  target: ConnectionSecretTarget,
  info: ConnectionInfo,
  signal?: AbortSignal,
): Promise<boolean> {
  const ownerName = target.owner.object.metadata?.name ?? '';
  const current = target.current ?? (await readSecret(deps, target.namespace, target.name, signal));
  assertSecretOwned(current, target);
  const { changed } = await applySecret(
    deps.kube,
    {
      namespace: target.namespace,
      name: target.name,
      stringData: connectionSecretData(info),
      ...(info.roleUpdatedAt ? { annotations: { [PASSWORD_CHECK_ANNOTATION]: passwordCheck(info.roleUpdatedAt, info.password) } } : {}),
      labels: {
        'app.kubernetes.io/managed-by': 'neon-operator',
        'neon-operator.dev/source-kind': target.owner.type.kind,
        'neon-operator.dev/source-name': ownerName,
      },
      owner: target.owner,
    },
    { fieldManager: FIELD_MANAGER, current, ...(signal ? { signal } : {}) },
  );
  return changed;
}

/**
 * Deletes the Secret the object wrote under a name it no longer uses (spec.secret.name changed), only if
 * it is owned by `owner` (decided from its metadata alone) and with a UID precondition. Idempotent.
 */
export async function deleteOldSecret(
  deps: Pick<ControllerDeps, 'kube'>,
  namespace: string,
  oldName: string | undefined,
  newName: string,
  owner: KubeObject,
  signal?: AbortSignal,
): Promise<boolean> {
  if (!oldName || oldName === newName) return false;
  const old = await readSecretMetadata(deps, namespace, oldName, signal);
  const uid = owner.metadata?.uid;
  if (!old || !uid || !(old.metadata?.ownerReferences ?? []).some((r) => r.uid === uid)) return false;
  return deps.kube.delete(coreResources.secret, { namespace, name: oldName }, { preconditions: { uid: old.metadata?.uid ?? '' }, ...(signal ? { signal } : {}) });
}
