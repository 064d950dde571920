/**
 * Typed errors of the Neon API client. Every error carries what a controller needs to decide what to do
 * next (status, Neon's code, the request id to quote to Neon support, the route template) and whether the
 * request may have been applied on Neon's side. Messages never contain secrets: they are built from the
 * route template, the status and Neon's error message, which is passed through `redactSecrets`.
 */
import { redactSecrets } from './redact.ts';

export interface NeonErrorDetails {
  /** HTTP status, or 0 when no response was received. */
  status: number;
  /** Neon's machine-readable code (often the empty string). */
  code: string;
  /** Neon's message, redacted. */
  neonMessage: string;
  /** The X-Request-ID this client sent (Neon echoes it as `request_id`). */
  requestId: string;
  method: string;
  /** Route template, e.g. `/projects/{project_id}/branches`; never the concrete URL. */
  route: string;
  /** True when the request may have reached Neon and been applied. */
  mayHaveApplied: boolean;
  /** Seconds Neon asked us to wait (429 Retry-After), when sent. */
  retryAfterMs?: number;
  cause?: unknown;
}

export class NeonApiError extends Error {
  override readonly name: string = 'NeonApiError';
  readonly status: number;
  readonly code: string;
  readonly neonMessage: string;
  readonly requestId: string;
  readonly method: string;
  readonly route: string;
  readonly mayHaveApplied: boolean;

  constructor(details: NeonErrorDetails) {
    const neonMessage = redactSecrets(details.neonMessage);
    const code = details.code ? ` ${details.code}` : '';
    super(
      `Neon API ${details.method} ${details.route} failed: ${details.status || 'no response'}${code}` +
        `${neonMessage ? `: ${neonMessage}` : ''} (request_id ${details.requestId})`,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.status = details.status;
    this.code = details.code;
    this.neonMessage = neonMessage;
    this.requestId = details.requestId;
    this.method = details.method;
    this.route = details.route;
    this.mayHaveApplied = details.mayHaveApplied;
  }
}

/** 404: the resource does not exist (or is not visible to this API key). */
export class NotFoundError extends NeonApiError {
  override readonly name = 'NotFoundError';
}

/** 409: e.g. a branch with that name exists (`BRANCH_ALREADY_EXISTS`), a read_write endpoint exists. */
export class ConflictError extends NeonApiError {
  override readonly name = 'ConflictError';
}

/** 423: the project has conflicting operations in flight; nothing was applied, always safe to retry. */
export class LockedError extends NeonApiError {
  override readonly name = 'LockedError';
}

/** 429: over Neon's rate limit; nothing was applied. */
export class RateLimitedError extends NeonApiError {
  override readonly name = 'RateLimitedError';
  /** How long Neon asked us to wait, from Retry-After (seconds or HTTP date), if sent. */
  readonly retryAfterMs: number | undefined;
  constructor(details: NeonErrorDetails) {
    super(details);
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** 400 / 422: the request is invalid as sent; retrying the same request will not help. */
export class InvalidRequestError extends NeonApiError {
  override readonly name = 'InvalidRequestError';
}

/** 401 / 403: the API key is missing, wrong, revoked, or lacks access. */
export class UnauthorizedError extends NeonApiError {
  override readonly name = 'UnauthorizedError';
}

/** 412: e.g. `reveal_password` on a project that does not store passwords. */
export class PreconditionFailedError extends NeonApiError {
  override readonly name = 'PreconditionFailedError';
}

/** 5xx (including 524, Cloudflare's origin timeout). Only 503 is known not to have been applied. */
export class ServerError extends NeonApiError {
  override readonly name = 'ServerError';
}

/** No (complete) response: connection refused or reset, timeout, TLS error. */
export class TransportError extends NeonApiError {
  override readonly name = 'TransportError';
}

/** A 2xx answer whose body does not match the schema this client relies on. */
export class MalformedResponseError extends NeonApiError {
  override readonly name = 'MalformedResponseError';
}

/**
 * A mutation may or may not have been applied (timeout after sending, connection reset, 5xx other than
 * 503, 524, unreadable success body). It was NOT retried, because Neon has no idempotency keys. The caller
 * must re-observe Neon (e.g. list branches by name or annotation) and adopt what it finds. `cause` holds
 * the underlying typed error.
 */
export class OutcomeUnknownError extends NeonApiError {
  override readonly name = 'OutcomeUnknownError';
  override readonly cause: NeonApiError;
  constructor(cause: NeonApiError) {
    super({
      status: cause.status,
      code: cause.code,
      neonMessage: `outcome unknown, re-observe before retrying (${cause.name}${cause.neonMessage ? `: ${cause.neonMessage}` : ''})`,
      requestId: cause.requestId,
      method: cause.method,
      route: cause.route,
      mayHaveApplied: true,
      cause,
    });
    this.cause = cause;
  }
}

/** An operation the caller waited for ended in `failed`, `error` or `cancelled`. */
export class OperationFailedError extends Error {
  override readonly name = 'OperationFailedError';
  readonly projectId: string;
  readonly operationId: string;
  readonly action: string;
  readonly status: string;
  readonly operationError: string | undefined;
  constructor(op: { id: string; project_id: string; action: string; status: string; error?: string | undefined }) {
    const detail = op.error ? `: ${redactSecrets(op.error)}` : '';
    super(`Neon operation ${op.action} ${op.id} on project ${op.project_id} ended ${op.status}${detail}`);
    this.projectId = op.project_id;
    this.operationId = op.id;
    this.action = op.action;
    this.status = op.status;
    this.operationError = op.error === undefined ? undefined : redactSecrets(op.error);
  }
}

/** Maps an HTTP error status to its typed error. */
export function errorForStatus(details: NeonErrorDetails): NeonApiError {
  const s = details.status;
  if (s === 404) return new NotFoundError(details);
  if (s === 409) return new ConflictError(details);
  if (s === 423) return new LockedError({ ...details, mayHaveApplied: false });
  if (s === 429) return new RateLimitedError({ ...details, mayHaveApplied: false });
  if (s === 400 || s === 422) return new InvalidRequestError(details);
  if (s === 401 || s === 403) return new UnauthorizedError(details);
  if (s === 412) return new PreconditionFailedError(details);
  if (s === 503) return new ServerError({ ...details, mayHaveApplied: false });
  if (s >= 500) return new ServerError(details);
  return new NeonApiError(details);
}
