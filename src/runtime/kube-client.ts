// client-node's modules by path: its index loads every generated API class and model (about 40 MB resident),
// of which the transport uses none.
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { HttpMethod, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import { createHash } from 'node:crypto';
import { fetch, getGlobalDispatcher } from 'undici';
import { z } from 'zod';
import { InFlightLimit } from './in-flight-limit.ts';
import type { ObjectKey } from './reconcile.ts';

/** What the runtime needs to address one kind of resource through the API server. */
export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  /** URL segment, e.g. `secrets`, `neonprojects`. */
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const coreResources = {
  secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
  namespace: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  configMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  event: { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
} as const satisfies Record<string, ResourceType>;

export function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

/** Stable identity of a resource type, used to share informers. */
export function resourceTypeId(type: ResourceType): string {
  return `${type.plural}.${type.group || 'core'}/${type.version}`;
}

/** The URL path of a collection (no name) or an object, optionally a subresource such as `status`. */
export function resourcePath(
  type: ResourceType,
  at: { namespace?: string | undefined; name?: string | undefined; subresource?: string | undefined } = {},
): string {
  const base = type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
  const ns = type.namespaced && at.namespace ? `/namespaces/${encodeURIComponent(at.namespace)}` : '';
  let path = `${base}${ns}/${type.plural}`;
  if (at.name !== undefined) path += `/${encodeURIComponent(at.name)}`;
  if (at.subresource !== undefined) path += `/${at.subresource}`;
  return path;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** The metadata fields the runtime reads. Timestamps are the API server's RFC 3339 strings. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface KubeList<T> {
  items: T[];
  resourceVersion: string;
}

const statusSchema = z.looseObject({
  kind: z.literal('Status'),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().optional(),
});

/** A non-2xx answer from the API server, with its `Status` reason (`Conflict`, `NotFound`, `Expired`, …). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  readonly statusCode: number;
  readonly reason: string;
  constructor(statusCode: number, reason: string, message: string) {
    super(message);
    this.statusCode = statusCode;
    this.reason = reason;
  }

  /** Builds the error from a response body that may or may not be a `metav1.Status`. */
  static fromResponse(method: string, path: string, statusCode: number, body: unknown): KubeApiError {
    const status = statusSchema.safeParse(body);
    const reason = status.success ? (status.data.reason ?? '') : '';
    const detail = status.success ? (status.data.message ?? reason) : `HTTP ${statusCode}`;
    return new KubeApiError(statusCode, reason, `${method} ${path}: ${statusCode} ${detail}`);
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.statusCode === 404;
/** 409 with reason Conflict: the resourceVersion precondition failed; re-read and try again. */
export const isConflict = (e: unknown): boolean =>
  e instanceof KubeApiError && e.statusCode === 409 && e.reason !== 'AlreadyExists';
export const isAlreadyExists = (e: unknown): boolean =>
  e instanceof KubeApiError && e.statusCode === 409 && e.reason === 'AlreadyExists';
/** 410 Gone / Expired: the resourceVersion is too old to watch from; relist. */
export const isGone = (e: unknown): boolean => e instanceof KubeApiError && e.statusCode === 410;

export type QueryValue = string | number | boolean | undefined;

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Defaults to `application/json`. Patches must say which kind they are. */
  contentType?: string;
  /** The representation asked for; defaults to `application/json`. */
  accept?: string;
  signal?: AbortSignal;
}

/**
 * Ask the API server for metadata only (meta.k8s.io/v1 PartialObjectMetadata[List]), the way client-go's
 * metadata client and controller-runtime's metadata-only watches do. Deliberately without a bare
 * `application/json` fallback: a server that cannot answer in this form must refuse (406), not send the
 * full objects (for Secrets: their data) instead.
 */
export const METADATA_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
export const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

export interface WatchOptions {
  /** The representation of each event's object; defaults to `application/json`. */
  accept?: string;
}

/** The wire: one JSON request, or one watch stream. Swappable in tests. */
export interface KubeTransport {
  /** Resolves with the parsed JSON body of a 2xx answer; rejects with `KubeApiError` otherwise. */
  request(req: KubeRequest): Promise<unknown>;
  /**
   * Opens a watch (`watch=true` is added) and yields each event's parsed JSON line. Ends when the server
   * closes the stream; rejects with `KubeApiError` on a non-200 answer, or with the network error.
   */
  watch(path: string, query: Record<string, QueryValue>, signal: AbortSignal, options?: WatchOptions): AsyncIterable<unknown>;
}

export const PatchType = {
  merge: 'application/merge-patch+json',
  apply: 'application/apply-patch+yaml',
  json: 'application/json-patch+json',
} as const;
export type PatchType = keyof typeof PatchType;

export interface PatchOptions {
  type: PatchType;
  subresource?: string;
  /** Required for server-side apply. */
  fieldManager?: string;
  /** Server-side apply only: take ownership of conflicting fields. */
  force?: boolean;
  signal?: AbortSignal;
}

/**
 * A generic, resource-type driven client over any transport. Works for core kinds and custom resources
 * alike, and lets every patch say its content type (client-node 2.x's generated methods default to JSON
 * patch, which is not what merge patches or server-side apply need).
 */
/** How many versions written by this process are remembered: well beyond what the watches lag behind. */
const OWN_VERSIONS_KEPT = 20_000;

function versionId(obj: KubeObject | undefined): string | undefined {
  const uid = obj?.metadata?.uid;
  const rv = obj?.metadata?.resourceVersion;
  return uid && rv ? `${uid}@${rv}` : undefined;
}

export class KubeClient {
  readonly transport: KubeTransport;
  /** `uid@resourceVersion` of the versions this client's own writes produced, oldest first (bounded). */
  readonly #ownVersions = new Set<string>();
  constructor(transport: KubeTransport) {
    this.transport = transport;
  }

  /**
   * True when `obj` is exactly a version this client wrote (its answer to a create, patch or replace): the
   * watch event of such a version tells the writer nothing it does not know, so controllers need not requeue
   * for it. A version that also carries someone else's change has another resourceVersion.
   */
  wroteVersion(obj: KubeObject): boolean {
    const id = versionId(obj);
    return id !== undefined && this.#ownVersions.has(id);
  }

  #remember<T>(answer: T): T {
    const id = versionId(answer as KubeObject);
    if (id !== undefined) {
      this.#ownVersions.add(id);
      if (this.#ownVersions.size > OWN_VERSIONS_KEPT) this.#ownVersions.delete(this.#ownVersions.values().next().value as string);
    }
    return answer;
  }

  /** Reads one object; `undefined` when it does not exist. */
  async get<T extends KubeObject>(type: ResourceType, key: ObjectKey, signal?: AbortSignal): Promise<T | undefined> {
    try {
      return (await this.transport.request({
        method: 'GET',
        path: resourcePath(type, key),
        ...(signal ? { signal } : {}),
      })) as T;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * Reads only the metadata of one object (a PartialObjectMetadata: labels, owner references, UID, …, never
   * e.g. a Secret's data), with the type's apiVersion and kind; `undefined` when it does not exist.
   */
  async getMetadata(type: ResourceType, key: ObjectKey, signal?: AbortSignal): Promise<KubeObject | undefined> {
    try {
      const answer = await this.transport.request({
        method: 'GET',
        path: resourcePath(type, key),
        accept: METADATA_ACCEPT,
        ...(signal ? { signal } : {}),
      });
      return asMetadataOf(type, answer as KubeObject);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * Lists all objects (following `continue` pages); `namespace` undefined means all namespaces. With
   * `metadataOnly` the server sends a PartialObjectMetadataList, and each item comes back as metadata with
   * the type's apiVersion and kind.
   */
  async list<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    options: { labelSelector?: string; pageSize?: number; metadataOnly?: boolean; signal?: AbortSignal } = {},
  ): Promise<KubeList<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = listSchema.parse(
        await this.transport.request({
          method: 'GET',
          path: resourcePath(type, { namespace }),
          query: { limit: options.pageSize ?? 500, continue: cont, labelSelector: options.labelSelector },
          ...(options.metadataOnly ? { accept: METADATA_LIST_ACCEPT } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        }),
      );
      for (const item of page.items) items.push((options.metadataOnly ? asMetadataOf(type, item as KubeObject) : item) as T);
      resourceVersion = page.metadata.resourceVersion ?? '';
      cont = page.metadata.continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  }

  async create<T extends KubeObject>(type: ResourceType, obj: T, options: { fieldManager?: string; signal?: AbortSignal } = {}): Promise<T> {
    return this.#remember((await this.transport.request({
      method: 'POST',
      path: resourcePath(type, { namespace: obj.metadata?.namespace }),
      query: { fieldManager: options.fieldManager },
      body: { apiVersion: apiVersionOf(type), kind: type.kind, ...obj },
      ...(options.signal ? { signal: options.signal } : {}),
    })) as T);
  }

  /** PUT; fails with a conflict when `obj.metadata.resourceVersion` is stale. */
  async replace<T extends KubeObject>(type: ResourceType, obj: T, options: { subresource?: string; signal?: AbortSignal } = {}): Promise<T> {
    return this.#remember((await this.transport.request({
      method: 'PUT',
      path: resourcePath(type, { namespace: obj.metadata?.namespace, name: obj.metadata?.name, subresource: options.subresource }),
      body: { apiVersion: apiVersionOf(type), kind: type.kind, ...obj },
      ...(options.signal ? { signal: options.signal } : {}),
    })) as T);
  }

  async patch<T extends KubeObject>(type: ResourceType, key: ObjectKey, patch: unknown, options: PatchOptions): Promise<T> {
    if (options.type === 'apply' && !options.fieldManager) throw new Error('server-side apply needs a fieldManager');
    return this.#remember((await this.transport.request({
      method: 'PATCH',
      path: resourcePath(type, { ...key, subresource: options.subresource }),
      query: { fieldManager: options.fieldManager, force: options.type === 'apply' ? options.force : undefined },
      body: patch,
      contentType: PatchType[options.type],
      ...(options.signal ? { signal: options.signal } : {}),
    })) as T);
  }

  /** Deletes; resolves `false` when it was already gone. */
  async delete(
    type: ResourceType,
    key: ObjectKey,
    options: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'; preconditions?: { uid?: string; resourceVersion?: string }; signal?: AbortSignal } = {},
  ): Promise<boolean> {
    try {
      await this.transport.request({
        method: 'DELETE',
        path: resourcePath(type, key),
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: options.propagationPolicy, preconditions: options.preconditions },
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }
}

/**
 * A PartialObjectMetadata says `meta.k8s.io/v1 PartialObjectMetadata`; callers know it as the type they asked
 * for (controller-runtime sets the GVK back the same way). Anything but metadata is dropped, so even a
 * server that ignored the Accept header leaves no data behind in a cache.
 */
export function asMetadataOf(type: ResourceType, obj: KubeObject): KubeObject {
  return { apiVersion: apiVersionOf(type), kind: type.kind, ...(obj.metadata ? { metadata: obj.metadata } : {}) };
}

const listSchema = z.object({
  metadata: z.looseObject({ resourceVersion: z.string().optional(), continue: z.string().optional() }),
  items: z.array(z.unknown()).nullable().transform((items) => items ?? []),
});

function buildUrl(server: string, path: string, query: Record<string, QueryValue> | undefined): URL {
  const url = new URL(server.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  return url;
}

/** A digest of what makes a TLS connection to the API server: its address, proxy and TLS material. */
function tlsIdentity(cluster: { server?: string; proxyUrl?: string } | null | undefined, agentOptions: object): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify([cluster?.server, cluster?.proxyUrl]));
  for (const [name, value] of Object.entries(agentOptions).sort(([a], [b]) => a.localeCompare(b))) {
    if (value === undefined) continue;
    hash.update(`\0${name}=`);
    hash.update(Buffer.isBuffer(value) ? value : JSON.stringify(value));
  }
  return hash.digest('hex');
}

/** Requests (not watches) to the API server in flight at once, by default. */
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT = 16;

/**
 * The HTTP transport over a kubeconfig: authentication (tokens, client certificates, exec plugins) comes
 * from client-node's `KubeConfig`, the request itself goes through undici's fetch, like client-node's
 * own `Watch`.
 */
export function httpTransport(
  kubeConfig: KubeConfig,
  options: { userAgent?: string; requestTimeoutMs?: number; maxRequestsInFlight?: number } = {},
): KubeTransport {
  // A request the API server never answers must not hold a reconcile (or a lease renewal) forever.
  // Watches are exempt: their liveness is the informer's stall detector's job.
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  // Over HTTP/1.1 every request in flight is a connection of its own (a TLS session: ~150 kB resident,
  // measured), so requests (not watches, which each keep one) are limited; the others wait their turn in
  // order. The timeout runs from the send, not from the wait.
  const inFlight = new InFlightLimit(options.maxRequestsInFlight ?? DEFAULT_MAX_REQUESTS_IN_FLIGHT);
  const server = (): string => {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    return cluster.server;
  };
  // client-node builds a new connection pool (undici Agent) for every request in applySecurityAuthentication,
  // through its `createDispatcher(cluster, agentOptions)`; using each one would open fresh connections per
  // request and leave idle pools behind. Authentication goes through a view of the caller's KubeConfig whose
  // createDispatcher hands out one kept pool per TLS identity instead (server, proxy, CA, client certificate
  // and key, ...), so nothing is built per request, and a client certificate that changes (an exec
  // credential plugin's, a kubeconfig file's) gets a pool of its own; the pool of the old one is closed once
  // its requests are done.
  // The pools speak HTTP/1.1 only: undici 8 negotiates HTTP/2 with a TLS API server by default, and its
  // HTTP/2 client can raise connection teardown errors (an idle session closing) as uncaught exceptions,
  // which would stop the operator. Every dispatch through a pool asks for HTTP/1.1 (undici's per-dispatch
  // `allowH2`), which keeps such connections in a separate, HTTP/1.1 pool of the same Agent.
  type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;
  type Cluster = ReturnType<KubeConfig['getCurrentCluster']>;
  // The method applySecurityAuthentication calls for each request's pool (private in client-node's types;
  // the transport tests fail if a client-node release stops calling it).
  type WithCreateDispatcher = { createDispatcher(cluster: Cluster, agentOptions: object): Dispatcher | undefined };
  const original = kubeConfig as unknown as WithCreateDispatcher;
  if (typeof original.createDispatcher !== 'function') throw new Error('this @kubernetes/client-node has no KubeConfig.createDispatcher');
  const http1Only: Parameters<Dispatcher['compose']>[0] = (dispatch) => (opts, handler) => dispatch({ ...opts, allowH2: false } as typeof opts, handler);
  const kept = new Map<string, { identity: string; pool: Dispatcher; own: Dispatcher | undefined }>();
  const poolFor = (cluster: Cluster, agentOptions: object): Dispatcher => {
    const slot = JSON.stringify([cluster?.name, cluster?.server, kubeConfig.getCurrentUser()?.name]);
    const identity = tlsIdentity(cluster, agentOptions);
    const current = kept.get(slot);
    if (current?.identity === identity) return current.pool;
    // No dispatcher of its own (an https server trusted by the system's CAs, no client certificate): undici's
    // global one, still asked for HTTP/1.1, and never closed here.
    const own = original.createDispatcher(cluster, agentOptions);
    const pool = (own ?? getGlobalDispatcher()).compose(http1Only);
    kept.set(slot, { identity, pool, own });
    if (current?.own) void current.own.close().catch(() => undefined);
    return pool;
  };
  const auth = Object.create(kubeConfig, { createDispatcher: { value: poolFor } }) as KubeConfig;
  const prepare = async (method: HttpMethod, url: URL) => {
    const ctx = new RequestContext(url.toString(), method);
    await auth.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), accept: 'application/json' };
    if (options.userAgent) headers['user-agent'] = options.userAgent;
    const dispatcher = ctx.getDispatcher();
    if (!dispatcher) throw new Error('kubeconfig authentication set no connection pool');
    return { headers, dispatcher };
  };
  const send = async (req: KubeRequest): Promise<unknown> => {
    const url = buildUrl(server(), req.path, req.query);
    const { headers, dispatcher } = await prepare(req.method as HttpMethod, url);
    if (req.accept) headers['accept'] = req.accept;
    if (req.body !== undefined) headers['content-type'] = req.contentType ?? 'application/json';
    const timeout = AbortSignal.timeout(requestTimeoutMs);
    const response = await fetch(url, {
      method: req.method,
      headers,
      dispatcher,
      ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
      signal: req.signal ? AbortSignal.any([req.signal, timeout]) : timeout,
    });
    const text = await response.text();
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    if (!response.ok) throw KubeApiError.fromResponse(req.method, req.path, response.status, body);
    return body;
  };
  return {
    async request(req) {
      const release = await inFlight.acquire(req.signal);
      try {
        return await send(req);
      } finally {
        release();
      }
    },
    async *watch(path, query, signal, watchOptions) {
      const url = buildUrl(server(), path, { ...query, watch: true });
      const { headers, dispatcher } = await prepare(HttpMethod.GET, url);
      if (watchOptions?.accept) headers['accept'] = watchOptions.accept;
      const response = await fetch(url, { method: 'GET', headers, signal, dispatcher });
      if (response.status !== 200 || !response.body) {
        const text = await response.text().catch(() => '');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        throw KubeApiError.fromResponse('WATCH', path, response.status, body);
      }
      const decoder = new TextDecoder();
      let buffered = '';
      for await (const chunk of response.body) {
        buffered += decoder.decode(chunk as Uint8Array, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line) yield JSON.parse(line) as unknown;
        }
      }
      const rest = (buffered + decoder.decode()).trim();
      if (rest) yield JSON.parse(rest) as unknown;
    },
  };
}
