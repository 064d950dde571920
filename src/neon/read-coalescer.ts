import type { Clock } from '../clock.ts';
import { waitAbortably } from './abortable-wait.ts';

/**
 * Shares reads of one project between the reconciles that ask for them at about the same time: an identical
 * read already in flight is joined instead of sent again, and its answer serves identical reads for
 * `freshMs` afterwards. Anything that may have changed the project in Neon — a mutation sent through this
 * client (its start and its end), the end of operations waited for — forgets what was read of it, so a
 * reconcile always sees its own changes. Changes made outside the operator are seen at most `freshMs` later.
 *
 * Only idempotent reads that carry no secret go through here (never reveal_password).
 */
export class ReadCoalescer {
  readonly #clock: Clock;
  readonly #freshMs: number;
  /** Per project, bumped by everything that may change it: an entry from an older generation is not served. */
  readonly #generation = new Map<string, number>();
  readonly #entries = new Map<string, { project: string; generation: number; at: number; value: Promise<unknown>; settled: boolean }>();

  constructor(options: { clock: Clock; freshMs: number }) {
    this.#clock = options.clock;
    this.#freshMs = options.freshMs;
  }

  /**
   * The answer of `read` for `request` (which must identify it within the project: path and query), shared as
   * described above. A caller's `signal` abandons only its own wait; the shared request goes on for the others.
   */
  async read<T>(project: string, request: string, read: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const key = `${project}\n${request}`;
    const generation = this.#generation.get(project) ?? 0;
    const now = this.#clock.now();
    let entry = this.#entries.get(key);
    if (!entry || entry.generation !== generation || (entry.settled && now - entry.at >= this.#freshMs)) {
      const value = read();
      const created = { project, generation, at: now, value: value as Promise<unknown>, settled: false };
      entry = created;
      this.#entries.set(key, created);
      value.then(
        () => {
          created.settled = true;
          created.at = this.#clock.now();
        },
        () => {
          // A failed read is not shared with later callers.
          if (this.#entries.get(key) === created) this.#entries.delete(key);
        },
      );
      this.#prune(now);
    }
    return waitAbortably(entry.value as Promise<T>, signal);
  }

  /** Forgets every read of `project` (a mutation or an operation's end may have changed it). */
  invalidate(project: string): void {
    this.#generation.set(project, (this.#generation.get(project) ?? 0) + 1);
    for (const [key, entry] of this.#entries) if (entry.project === project) this.#entries.delete(key);
  }

  #prune(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.settled && now - entry.at >= this.#freshMs) this.#entries.delete(key);
    }
  }
}
