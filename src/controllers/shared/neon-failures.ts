import {
  ConflictError,
  InvalidRequestError,
  NeonApiError,
  NotFoundError,
  OperationFailedError,
  OutcomeUnknownError,
  PreconditionFailedError,
  UnauthorizedError,
} from '../../neon/index.ts';

/** What a failed Neon call means for the object's Ready condition. */
export interface NeonFailure {
  /** CamelCase condition and Event reason. */
  reason: string;
  /** For the user: Neon's own message (already redacted by the client), never a secret. */
  message: string;
  /**
   * True when retrying the same request cannot succeed until something changes (the spec, the key,
   * Neon's state): the object shows it on its condition and an Event, and is retried with backoff.
   */
  permanent: boolean;
}

/** Classifies an error thrown by a Neon call; undefined for errors that are not Neon's. */
export function classifyNeonFailure(err: unknown): NeonFailure | undefined {
  if (err instanceof OperationFailedError) {
    return {
      reason: 'NeonOperationFailed',
      message: `Neon operation ${err.action} ended ${err.status}${err.operationError ? `: ${err.operationError}` : ''}`,
      permanent: true,
    };
  }
  if (!(err instanceof NeonApiError)) return undefined;
  const said = err.neonMessage ? `: ${err.neonMessage}` : '';
  if (err instanceof OutcomeUnknownError) {
    return { reason: 'NeonOutcomeUnknown', message: 'Neon did not confirm the last change; checking what was applied before trying again', permanent: false };
  }
  if (err instanceof UnauthorizedError) {
    return {
      reason: 'NeonUnauthorized',
      message: `Neon refused the API key (HTTP ${err.status})${said}; check NEON_API_KEY or the Secret named by apiKeySecretRef`,
      permanent: true,
    };
  }
  if (err instanceof InvalidRequestError) {
    return { reason: 'NeonRejected', message: `Neon rejected ${err.method} ${err.route} (HTTP ${err.status})${said}`, permanent: true };
  }
  if (err instanceof ConflictError) {
    return { reason: 'NeonConflict', message: `Neon reported a conflict on ${err.method} ${err.route} (HTTP 409)${said}`, permanent: true };
  }
  if (err instanceof NotFoundError) {
    return { reason: 'NeonNotFound', message: `Neon answered not found on ${err.method} ${err.route}${said}`, permanent: true };
  }
  if (err instanceof PreconditionFailedError) {
    return { reason: 'NeonPreconditionFailed', message: `Neon refused ${err.method} ${err.route} (HTTP 412)${said}`, permanent: true };
  }
  if (err.status >= 400 && err.status < 500 && err.status !== 423 && err.status !== 429) {
    return { reason: 'NeonRejected', message: `Neon rejected ${err.method} ${err.route} (HTTP ${err.status})${said}`, permanent: true };
  }
  return {
    reason: 'NeonUnavailable',
    message: `Neon is busy or unreachable (${err.status ? `HTTP ${err.status}` : 'no response'}); retrying with backoff`,
    permanent: false,
  };
}

/** True for a Neon 404: the resource (or its project or branch) does not exist. */
export function isNeonNotFound(err: unknown): boolean {
  return err instanceof NotFoundError;
}
