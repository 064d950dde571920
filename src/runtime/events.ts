import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { toKubeMicroTime } from './conditions.ts';
import { describeError } from './informer.ts';
import { apiVersionOf, coreResources, isNotFound, type KubeClient, type KubeObject, type ResourceType } from './kube-client.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventInput {
  type: EventType;
  /** CamelCase: why (`Created`, `NeonApiError`, `DeletedOutside`). */
  reason: string;
  /** CamelCase: what the controller did or failed to do (`Create`, `Reconcile`, `Delete`). */
  action: string;
  /** Human-readable; never a secret. Cut to 1 kB (events.k8s.io's limit). */
  note: string;
}

export interface EventRecorderOptions {
  client: KubeClient;
  clock: Clock;
  log: Logger;
  /** e.g. `example.dev/operator`. */
  reportingController: string;
  /** This replica, e.g. the pod name. */
  reportingInstance: string;
  /** Repeats of the same event within this window update one Event's series. Default 10 min. */
  seriesWindowMs?: number;
  /** Series updates for one Event are written at most this often; repeats in between are only counted. Default 60 s. */
  minUpdateIntervalMs?: number;
  /** Distinct series remembered (oldest forgotten first). Default 4096. */
  maxTracked?: number;
}

interface Series {
  namespace: string;
  name: string;
  count: number;
  firstAt: number;
  writtenAt: number;
  writtenCount: number;
}

const MAX_NOTE_BYTES = 1024;

/**
 * Records events.k8s.io/v1 Events about objects, aggregated so a reconcile loop cannot spam: the same
 * (object, type, reason, action, note) within `seriesWindowMs` becomes one Event whose `series.count`
 * grows, written at most every `minUpdateIntervalMs`. Recording never throws: an Event is best-effort
 * and must not fail a reconcile.
 */
export class EventRecorder {
  readonly #options: EventRecorderOptions;
  readonly #series = new Map<string, Series>();

  constructor(options: EventRecorderOptions) {
    this.#options = options;
  }

  async record(type: ResourceType, obj: KubeObject, event: EventInput): Promise<void> {
    const { clock, client } = this.#options;
    const meta = obj.metadata ?? {};
    const note = truncateUtf8(event.note, MAX_NOTE_BYTES);
    const id = [meta.uid ?? `${meta.namespace}/${meta.name}`, event.type, event.reason, event.action, note].join('\u0000');
    const now = clock.now();
    const window = this.#options.seriesWindowMs ?? 10 * 60_000;
    const existing = this.#series.get(id);
    try {
      if (existing && now - existing.firstAt < window) {
        existing.count++;
        if (now - existing.writtenAt < (this.#options.minUpdateIntervalMs ?? 60_000)) return;
        try {
          await client.patch(
            coreResources.event,
            { namespace: existing.namespace, name: existing.name },
            { series: { count: existing.count, lastObservedTime: toKubeMicroTime(now) } },
            { type: 'merge' },
          );
          existing.writtenAt = now;
          existing.writtenCount = existing.count;
          return;
        } catch (e) {
          if (!isNotFound(e)) throw e;
          // The Event expired (the API server keeps them for an hour): start a new one below.
        }
      }
      const namespace = meta.namespace || 'default';
      const name = `${meta.name ?? 'object'}.${now.toString(16)}${randomBytes(2).toString('hex')}`;
      await client.create(coreResources.event, {
        metadata: { namespace, name },
        eventTime: toKubeMicroTime(now),
        reportingController: this.#options.reportingController,
        reportingInstance: this.#options.reportingInstance,
        action: event.action,
        reason: event.reason,
        note,
        type: event.type,
        regarding: {
          apiVersion: apiVersionOf(type),
          kind: type.kind,
          name: meta.name,
          namespace: meta.namespace,
          uid: meta.uid,
          resourceVersion: meta.resourceVersion,
        },
      } as KubeObject);
      this.#series.delete(id);
      this.#series.set(id, { namespace, name, count: 1, firstAt: now, writtenAt: now, writtenCount: 1 });
      const max = this.#options.maxTracked ?? 4096;
      while (this.#series.size > max) {
        const oldest = this.#series.keys().next().value;
        if (oldest === undefined) break;
        this.#series.delete(oldest);
      }
    } catch (err) {
      this.#options.log.warn({ err: describeError(err), reason: event.reason }, 'could not record event');
    }
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // Cut on a character boundary, leaving room for the ellipsis.
  let cut = bytes.subarray(0, maxBytes - 3).toString('utf8');
  if (cut.endsWith('\uFFFD')) cut = cut.slice(0, -1);
  return `${cut}...`;
}
