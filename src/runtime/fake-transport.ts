import type { KubeRequest, KubeTransport, QueryValue, WatchOptions } from './kube-client.ts';
import { KubeApiError } from './kube-client.ts';

/** One open watch stream that a test drives by hand. */
export class FakeWatchStream {
  readonly path: string;
  readonly query: Record<string, QueryValue>;
  readonly signal: AbortSignal;
  readonly options: WatchOptions;
  #queue: unknown[] = [];
  #ended = false;
  #error: unknown;
  #wake: (() => void) | undefined;

  constructor(path: string, query: Record<string, QueryValue>, signal: AbortSignal, options: WatchOptions = {}) {
    this.path = path;
    this.query = query;
    this.signal = signal;
    this.options = options;
    signal.addEventListener('abort', () => this.#wake?.(), { once: true });
  }

  send(event: unknown): void {
    this.#queue.push(event);
    this.#wake?.();
  }
  /** The server closes the stream normally. */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }
  /** The connection breaks. */
  fail(error: unknown): void {
    this.#error = error;
    this.#wake?.();
  }
  get closed(): boolean {
    return this.#ended || this.#error !== undefined || this.signal.aborted;
  }

  async *events(): AsyncGenerator<unknown> {
    for (;;) {
      if (this.signal.aborted) throw this.signal.reason;
      const next = this.#queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }
}

/**
 * A scripted transport for unit tests: requests go to `handle` (default: 404), watches become
 * `FakeWatchStream`s the test pushes events into. Every request is recorded.
 */
export class FakeTransport implements KubeTransport {
  readonly requests: KubeRequest[] = [];
  readonly watches: FakeWatchStream[] = [];
  /** A watch call fails at once with this error when set (consumed once). */
  failNextWatch: unknown;
  handle: (req: KubeRequest) => unknown = (req) => {
    throw new KubeApiError(404, 'NotFound', `${req.method} ${req.path}: 404 not found`);
  };

  async request(req: KubeRequest): Promise<unknown> {
    this.requests.push(req);
    return this.handle(req);
  }

  watch(path: string, query: Record<string, QueryValue>, signal: AbortSignal, options?: WatchOptions): AsyncIterable<unknown> {
    if (this.failNextWatch !== undefined) {
      const err = this.failNextWatch;
      this.failNextWatch = undefined;
      return {
        [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }),
      };
    }
    const stream = new FakeWatchStream(path, query, signal, options);
    this.watches.push(stream);
    return stream.events();
  }

  /** The most recent watch that is still open. */
  get openWatch(): FakeWatchStream | undefined {
    return this.watches.filter((w) => !w.closed).at(-1);
  }
}
