import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../clock.ts';
import { NeonClient, type NeonScheduler } from '../../neon/index.ts';
import { coreResources, type KubeClient, type SecretObject } from '../../runtime/index.ts';
import type { RecordedApiKeyRef } from '../../api/index.ts';
import { NotReadyError } from './not-ready.ts';

/** A Secret key holding a Neon API key, in a given namespace. */
export interface ApiKeyRef {
  namespace: string;
  name: string;
  key: string;
}

/** The `status.apiKeySecretRef` form of `ref`: the namespace is left out when it is the object's own. */
export function recordedKeyRef(ref: ApiKeyRef, objectNamespace: string): RecordedApiKeyRef {
  return { ...(ref.namespace !== objectNamespace ? { namespace: ref.namespace } : {}), name: ref.name, key: ref.key };
}

/**
 * True when a recorded account names a Secret in another namespace. The operator never records one (every key
 * it uses is in the object's own namespace), so such a status was written by someone else and is not trusted:
 * status never grants access to another namespace's key.
 */
export function isForeignRecord(recorded: RecordedApiKeyRef | undefined, objectNamespace: string): boolean {
  return recorded?.namespace !== undefined && recorded.namespace !== objectNamespace;
}

/** The account recorded in an object's status (undefined: the operator's own key, or a foreign record, which is ignored). */
export function keyRefFromStatus(recorded: RecordedApiKeyRef | undefined, objectNamespace: string): ApiKeyRef | undefined {
  return recorded && !isForeignRecord(recorded, objectNamespace) ? { namespace: objectNamespace, name: recorded.name, key: recorded.key } : undefined;
}

/** True when both name the same Secret key (or both the operator's own key). */
export function sameKeyRef(a: ApiKeyRef | undefined, b: ApiKeyRef | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.namespace === b.namespace && a.name === b.name && a.key === b.key;
}

export interface NeonAccountsOptions {
  scheduler: NeonScheduler;
  kube: KubeClient;
  baseUrl: string;
  /** The operator's own key; undefined when every object must name a key Secret. */
  defaultApiKey: string | undefined;
  clock: Clock;
  log: Logger;
  /** How long a read of a project is shared with identical reads (NeonClientOptions.readFreshMs). */
  readFreshMs?: number;
  /** How long a project's lists serve reconciles (NeonClientOptions.viewMaxAgeMs). */
  viewMaxAgeMs?: number;
  /** A project's view found a change the operator did not make (NeonClientOptions.onProjectChanged). */
  onProjectChanged?: (projectId: string) => void;
  /** Called with each client made after construction (see `clients()` for those made before). */
  onClient?: (client: NeonClient) => void;
}

/**
 * Chooses the NeonClient for an object: the operator's own key, or the key in the Secret an object names
 * (`apiKeySecretRef`). Clients are cached per Secret and per key value (a rotated key gets a new client),
 * and all of them share the one scheduler: the Secret is read on every call, so a rotated key is used from
 * the next pass on. A client built from a Secret stays cached after the Secret is deleted, so finalizers
 * can still clean up while a namespace is being deleted (in this process; after a restart the recorded
 * `status.apiKeySecretRef` Secret must still exist).
 */
export class NeonAccounts {
  readonly #options: NeonAccountsOptions;
  readonly #default: NeonClient | undefined;
  readonly #byKeyHash = new Map<string, NeonClient>();
  readonly #lastByRef = new Map<string, NeonClient>();

  constructor(options: NeonAccountsOptions) {
    this.#options = options;
    this.#default = options.defaultApiKey ? this.#clientFor(options.defaultApiKey) : undefined;
  }

  /** The client for `ref`, or the default client. Throws NotReadyError when the key cannot be read. */
  async clientFor(ref: ApiKeyRef | undefined, signal?: AbortSignal): Promise<NeonClient> {
    if (!ref) {
      if (!this.#default) {
        throw new NotReadyError('ApiKeyMissing', 'the operator has no Neon API key of its own (NEON_API_KEY) and this object names none (apiKeySecretRef)');
      }
      return this.#default;
    }
    const refId = `${ref.namespace}/${ref.name}:${ref.key}`;
    const secret = await this.#options.kube.get<SecretObject>(coreResources.secret, { namespace: ref.namespace, name: ref.name }, signal);
    const encoded = secret?.data?.[ref.key];
    if (encoded === undefined) {
      const cached = this.#lastByRef.get(refId);
      if (cached) return cached;
      throw new NotReadyError(
        'ApiKeySecretNotFound',
        secret ? `Secret ${ref.name} has no key "${ref.key}" with the Neon API key` : `Secret ${ref.name} with the Neon API key was not found`,
      );
    }
    const apiKey = Buffer.from(encoded, 'base64').toString('utf8').trim();
    if (!apiKey) throw new NotReadyError('ApiKeySecretNotFound', `key "${ref.key}" of Secret ${ref.name} is empty`);
    const client = this.#clientFor(apiKey);
    this.#lastByRef.set(refId, client);
    return client;
  }

  /** Every client made so far. */
  clients(): NeonClient[] {
    return [...new Set(this.#byKeyHash.values())];
  }

  /** Closes every client's connections. */
  async close(): Promise<void> {
    const all = new Set([...this.#byKeyHash.values()]);
    await Promise.all([...all].map((c) => c.close()));
  }

  #clientFor(apiKey: string): NeonClient {
    const hash = createHash('sha256').update(apiKey).digest('hex');
    let client = this.#byKeyHash.get(hash);
    if (!client) {
      client = new NeonClient({
        apiKey,
        scheduler: this.#options.scheduler,
        baseUrl: this.#options.baseUrl,
        clock: this.#options.clock,
        logger: this.#options.log,
        ...(this.#options.readFreshMs !== undefined ? { readFreshMs: this.#options.readFreshMs } : {}),
        ...(this.#options.viewMaxAgeMs !== undefined ? { viewMaxAgeMs: this.#options.viewMaxAgeMs } : {}),
        ...(this.#options.onProjectChanged ? { onProjectChanged: this.#options.onProjectChanged } : {}),
      });
      this.#byKeyHash.set(hash, client);
      this.#options.onClient?.(client);
    }
    return client;
  }
}
