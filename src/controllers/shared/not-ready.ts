/**
 * Thrown by a reconciler when something it depends on (a referenced object, an API key Secret, the
 * parent branch in Neon) is not there yet. The frame turns it into `Ready=False` with `reason` and
 * `message`, without an error log: the object waits and is requeued when the dependency changes (and by
 * a slow safety requeue).
 */
export class NotReadyError extends Error {
  override readonly name = 'NotReadyError';
  /** CamelCase condition reason, e.g. `ProjectNotReady`. */
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}
