/**
 * Thrown by a reconciler, before any Neon call, when the object cannot proceed because of how it is
 * declared: another object already claims what it would manage (`Conflict`), or its parent chain loops
 * (`InvalidSpec`). The frame turns it into `Ready=False` with `reason`, one Warning Event when the
 * condition is new (not one per retry) and a debug log line per pass.
 */
export class BlockedError extends Error {
  override readonly name = 'BlockedError';
  /** CamelCase condition reason. */
  readonly reason: string;
  /**
   * `backoff`: looked at again with the per-key exponential backoff (the other object may go away);
   * `onChange`: only when the object or one it references changes (and at the resync).
   */
  readonly retry: 'backoff' | 'onChange';
  constructor(reason: string, message: string, retry: 'backoff' | 'onChange') {
    super(message);
    this.reason = reason;
    this.retry = retry;
  }
}
