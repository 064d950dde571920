import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../clock.ts';
import { NeonClient, type NeonScheduler } from '../../neon/index.ts';
import { coreResources, type KubeClient, type SecretObject } from '../../runtime/index.ts';
import { NotReadyError } from './not-ready.ts';

/** A Secret key holding a Neon API key, in a given namespace. */
export interface ApiKeyRef {
  namespace: string;
  name: string;
  key: string;
}

export interface NeonAccountsOptions {
  scheduler: NeonScheduler;
  kube: KubeClient;
  baseUrl: string;
  /** The operator's own key; undefined when every object must name a key Secret. */
  defaultApiKey: string | undefined;
  clock: Clock;
  log: Logger;
}

/**
 * Chooses the NeonClient for an object: the operator's own key, or the key in the Secret an object names
 * (`apiKeySecretRef`). Clients are cached per Secret and per key value (a rotated key gets a new client),
 * and all of them share the one scheduler. A client built from a Secret stays cached after the Secret is
 * deleted, so finalizers can still clean up while a namespace is being deleted.
 */
export class NeonAccounts {
  readonly #options: NeonAccountsOptions;
  readonly #default: NeonClient | undefined;
  readonly #byKeyHash = new Map<string, NeonClient>();
  readonly #lastByRef = new Map<string, NeonClient>();
  readonly #byProject = new Map<string, NeonClient>();

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

  /**
   * Remembers which client reached a Neon project, so cleanup can still use the right account when the
   * object that named the key (a NeonProject with apiKeySecretRef) is already gone.
   */
  noteProject(projectId: string, client: NeonClient): void {
    this.#byProject.set(projectId, client);
  }

  /** The client last used for `projectId`, if any. */
  clientForProjectId(projectId: string): NeonClient | undefined {
    return this.#byProject.get(projectId);
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
      });
      this.#byKeyHash.set(hash, client);
    }
    return client;
  }
}
