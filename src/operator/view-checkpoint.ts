/**
 * The project view's checkpoint: what the operator knows of each Neon project (branch, compute, role and database
 * lists, and how far it has read the project's operations) is kept in one ConfigMap of the operator's namespace,
 * so that a restarted operator checks each project's latest operations instead of reading every branch's roles
 * and databases again. It holds no secret: the view never holds a password.
 *
 * One key per account and Neon API URL (`<hash>.json.gz`, gzip'd JSON), written with a JSON merge patch so
 * several operators (other releases, tests) sharing the namespace never overwrite each other's keys. Only the
 * leader writes, at most every `intervalMs` and only when it changed, and once more on a graceful stop.
 * A checkpoint that cannot be read or written costs calls, never correctness: the view then reads Neon.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../clock.ts';
import type { NeonClient } from '../neon/index.ts';
import type { ViewSnapshot } from '../neon/project-view.ts';
import { coreResources, isAlreadyExists, isNotFound, type KubeClient, type KubeObject } from '../runtime/index.ts';

/** ConfigMaps hold at most 1 MiB; a snapshot above this is not written (the view then starts empty). */
const MAX_BYTES = 768 * 1024;
/** A key not written for this long belongs to an operator that is gone (another URL, a rotated key). */
const STALE_MS = 7 * 24 * 3600_000;

const snapshotSchema = z.object({
  version: z.literal(1),
  savedAt: z.number(),
  projects: z.record(
    z.string(),
    z.object({
      signal: z.object({
        since: z.number().nullable(),
        baseline: z.number().nullable(),
        checkedAt: z.number().nullable(),
        newest: z.number().nullable(),
        seen: z.array(z.tuple([z.string(), z.number()])),
      }),
      own: z.array(z.tuple([z.string(), z.number(), z.enum(['all', 'roles'])])),
      lists: z.array(
        z.object({
          name: z.string().regex(/^(branches|endpoints|roles\/[a-z0-9-]+|databases\/[a-z0-9-]+)$/),
          at: z.number().nullable(),
          entries: z.array(z.tuple([z.string(), z.unknown()])),
        }),
      ),
    }),
  ),
});

interface ConfigMap extends KubeObject {
  binaryData?: Record<string, string>;
}

export interface ViewCheckpointOptions {
  kube: KubeClient;
  namespace: string;
  name: string;
  clock: Clock;
  log: Logger;
  /** Least time between two writes. */
  intervalMs: number;
  /** True while this process may write (the leader). */
  leading: () => boolean;
}

/** The ConfigMap key of one account at one Neon API URL. */
export function checkpointKey(client: Pick<NeonClient, 'account' | 'baseUrl'>): string {
  return `${createHash('sha256').update(`${client.baseUrl}\n${client.account}`).digest('hex').slice(0, 16)}.json.gz`;
}

export class ViewCheckpoint {
  readonly #o: ViewCheckpointOptions;
  /** What the ConfigMap held at start, by key; taken by each client once. */
  readonly #loaded = new Map<string, ViewSnapshot>();
  /** What was last written (or read), by key: an unchanged snapshot is not written again. */
  readonly #written = new Map<string, string>();
  readonly #clients = new Set<NeonClient>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #saving: Promise<void> | undefined;
  #writeWarned = false;

  constructor(options: ViewCheckpointOptions) {
    this.#o = options;
  }

  /** Reads the ConfigMap; a missing or unreadable one is an empty checkpoint. */
  async load(): Promise<void> {
    let cm: ConfigMap | undefined;
    try {
      cm = await this.#o.kube.get<ConfigMap>(coreResources.configMap, { namespace: this.#o.namespace, name: this.#o.name });
    } catch (err) {
      this.#o.log.warn({ err, configMap: `${this.#o.namespace}/${this.#o.name}` }, 'could not read the Neon view checkpoint; starting without it');
      return;
    }
    for (const [key, value] of Object.entries(cm?.binaryData ?? {})) {
      try {
        const parsed = snapshotSchema.parse(JSON.parse(gunzipSync(Buffer.from(value, 'base64')).toString('utf8')));
        this.#loaded.set(key, parsed as unknown as ViewSnapshot);
      } catch (err) {
        this.#o.log.warn({ err, key }, 'ignoring an unreadable Neon view checkpoint entry');
      }
    }
  }

  /** Registers a client: it takes what the checkpoint holds for its account, and is saved from now on. */
  attach(client: NeonClient): void {
    if (this.#clients.has(client)) return;
    this.#clients.add(client);
    const snapshot = this.#loaded.get(checkpointKey(client));
    if (!snapshot) return;
    this.#loaded.delete(checkpointKey(client));
    const restored = client.restoreView(snapshot);
    this.#o.log.info({ projects: restored, account: client.account }, 'Neon view restored from its checkpoint');
  }

  /** Saves every `intervalMs` while leading. */
  start(): void {
    this.#timer ??= setInterval(() => void this.save(), this.#o.intervalMs);
    this.#timer.unref();
  }

  /**
   * Stops the timer; with `write`, writes once more whatever changed (a graceful stop, while still the leader).
   */
  async stop(write: boolean): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#saving;
    if (write) await this.#save(true);
  }

  /** Writes each client's snapshot that changed since the last write. Never throws. */
  save(): Promise<void> {
    this.#saving ??= this.#save().finally(() => {
      this.#saving = undefined;
    });
    return this.#saving;
  }

  async #save(force = false): Promise<void> {
    if (!force && !this.#o.leading()) return;
    const changes: Record<string, string | null> = {};
    const pending = new Map<string, string>();
    for (const client of this.#clients) {
      const snapshot = client.viewSnapshot();
      if (!snapshot || Object.keys(snapshot.projects).length === 0) continue;
      const key = checkpointKey(client);
      const json = JSON.stringify(snapshot.projects);
      if (this.#written.get(key) === json) continue;
      const data = gzipSync(`{"version":${String(snapshot.version)},"savedAt":${String(this.#o.clock.now())},"projects":${json}}`).toString('base64');
      if (data.length > MAX_BYTES) {
        this.#o.log.warn({ account: client.account, bytes: data.length }, 'the Neon view checkpoint is too large for a ConfigMap; not written');
        continue;
      }
      changes[key] = data;
      pending.set(key, json);
    }
    // Keys no client of this process took, last written a week ago or more: their operator is gone.
    for (const [key, snapshot] of this.#loaded) {
      if (this.#o.clock.now() - (snapshot as ViewSnapshot & { savedAt: number }).savedAt < STALE_MS) continue;
      changes[key] = null;
      this.#loaded.delete(key);
    }
    if (pending.size === 0 && Object.keys(changes).length === 0) return;
    try {
      await this.#write(changes);
      for (const [key, json] of pending) this.#written.set(key, json);
    } catch (err) {
      // Said once at warn (e.g. RBAC without the ConfigMap rule), then at debug: it costs calls after a restart only.
      this.#o.log[this.#writeWarned ? 'debug' : 'warn']({ err, configMap: `${this.#o.namespace}/${this.#o.name}` }, 'could not write the Neon view checkpoint');
      this.#writeWarned = true;
    }
  }

  async #write(changes: Record<string, string | null>): Promise<void> {
    const key = { namespace: this.#o.namespace, name: this.#o.name };
    try {
      await this.#o.kube.patch(coreResources.configMap, key, { binaryData: changes }, { type: 'merge' });
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const binaryData = Object.fromEntries(Object.entries(changes).filter((e): e is [string, string] => e[1] !== null));
    try {
      await this.#o.kube.create<ConfigMap>(coreResources.configMap, {
        metadata: { ...key, labels: { 'app.kubernetes.io/managed-by': 'neon-operator', 'app.kubernetes.io/component': 'neon-view-checkpoint' } },
        binaryData,
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await this.#o.kube.patch(coreResources.configMap, key, { binaryData: changes }, { type: 'merge' });
    }
  }
}
