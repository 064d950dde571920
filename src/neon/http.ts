/**
 * One HTTP attempt against the Neon API: keep-alive undici dispatcher, Bearer key, a fresh X-Request-ID,
 * a request timeout on the injected clock, the answer parsed with zod, failures mapped to typed errors.
 * It never retries; retry decisions belong to the scheduler. Logs carry the request id, method, route
 * template, status and duration, never the key, a body or a concrete URL.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Agent, request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import type { Clock } from '../clock.ts';
import { errorForStatus, MalformedResponseError, TransportError, type NeonApiError } from './errors.ts';
import { parseRetryAfter } from './rate-budget.ts';
import { redactSecrets } from './redact.ts';
import { ErrorBody } from './schemas.ts';

export interface HttpAttempt<S extends z.ZodType> {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
  /** Route template, e.g. `/projects/{project_id}/branches/{branch_id}`. */
  route: string;
  /** Values for the template's placeholders; URL-encoded here. */
  params?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Schema of the 2xx body. */
  schema: S;
  /** When true, a 204 answer is a success with value `null` (delete of something already gone). */
  allowNoContent?: boolean;
  signal?: AbortSignal | undefined;
  attempt: number;
  projectId?: string | undefined;
}

export interface HttpAnswer<T> {
  value: T;
  status: number;
  requestId: string;
}

export interface NeonHttpOptions {
  baseUrl: string;
  apiKey: string;
  clock: Clock;
  logger: Logger | undefined;
  dispatcher: Dispatcher;
  userAgent: string;
  requestTimeoutMs: number;
}

/** Error codes that mean the request never left this process, so nothing can have been applied. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

class RequestTimeout extends Error {
  override readonly name = 'RequestTimeout';
}

/**
 * Options of the keep-alive agent for the Neon API host. HTTP/1.1 only (`allowH2: false`): undici 8 offers
 * HTTP/2 by default, and its HTTP/2 client can still raise connection teardown errors (an idle session
 * closing, a peer's GOAWAY) as uncaught exceptions, which would stop the whole operator. Up to 32 parallel
 * keep-alive connections are plenty for 700 requests a minute.
 */
export const NEON_AGENT_OPTIONS = { keepAliveTimeout: 30_000, keepAliveMaxTimeout: 300_000, connections: 32, allowH2: false } as const;

/** A keep-alive agent suited to one API host. */
export function defaultNeonDispatcher(): Dispatcher {
  return new Agent(NEON_AGENT_OPTIONS);
}

export class NeonHttp {
  readonly #o: NeonHttpOptions;
  readonly #base: string;

  constructor(options: NeonHttpOptions) {
    this.#o = options;
    this.#base = options.baseUrl.replace(/\/+$/, '');
  }

  /** Performs exactly one attempt. Resolves with the parsed 2xx body (or null for an allowed 204). */
  async send<S extends z.ZodType>(a: HttpAttempt<S>): Promise<HttpAnswer<z.infer<S> | null>> {
    const requestId = randomUUID();
    const url = this.#url(a);
    const started = this.#o.clock.now();
    const log = (level: 'debug' | 'info' | 'warn', status: number, msg: string, extra: Record<string, unknown> = {}) => {
      this.#o.logger?.[level](
        {
          request_id: requestId,
          method: a.method,
          route: a.route,
          project_id: a.projectId,
          status,
          duration_ms: this.#o.clock.now() - started,
          attempt: a.attempt,
          ...extra,
        },
        msg,
      );
    };
    const fail = (details: { status: number; code?: string; message: string; mayHaveApplied: boolean; retryAfterMs?: number; cause?: unknown }, make = errorForStatus): NeonApiError =>
      make({
        status: details.status,
        code: details.code ?? '',
        neonMessage: details.message,
        requestId,
        method: a.method,
        route: a.route,
        mayHaveApplied: details.mayHaveApplied,
        ...(details.retryAfterMs !== undefined ? { retryAfterMs: details.retryAfterMs } : {}),
        ...(details.cause !== undefined ? { cause: details.cause } : {}),
      });

    const timeout = new AbortController();
    const abort = new AbortController();
    const onCallerAbort = () => abort.abort(a.signal?.reason);
    a.signal?.addEventListener('abort', onCallerAbort, { once: true });
    this.#o.clock.sleep(this.#o.requestTimeoutMs, timeout.signal).then(
      () => abort.abort(new RequestTimeout(`no answer within ${this.#o.requestTimeoutMs} ms`)),
      () => undefined,
    );

    let status = 0;
    let text = '';
    let retryAfter: string | undefined;
    try {
      const headers: Record<string, string> = {
        authorization: `Bearer ${this.#o.apiKey}`,
        accept: 'application/json',
        'user-agent': this.#o.userAgent,
        'x-request-id': requestId,
      };
      let body: string | undefined;
      if (a.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(a.body);
      }
      const res = await request(url, {
        method: a.method,
        headers,
        ...(body !== undefined ? { body } : {}),
        dispatcher: this.#o.dispatcher,
        signal: abort.signal,
      });
      status = res.statusCode;
      const ra = res.headers['retry-after'];
      retryAfter = Array.isArray(ra) ? ra[0] : ra;
      text = await res.body.text();
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const notSent = typeof code === 'string' && NOT_SENT_CODES.has(code) && status === 0;
      const reason = abort.signal.aborted ? abort.signal.reason : e;
      const message =
        reason instanceof RequestTimeout
          ? reason.message
          : `${typeof code === 'string' ? `${code}: ` : ''}${e instanceof Error ? e.message : String(e)}`;
      // A 2xx/4xx whose body broke off mid-way was still answered: only the read failed.
      const err = fail({ status, message, mayHaveApplied: !notSent, cause: reason }, (d) => new TransportError(d));
      log('warn', status, 'Neon request failed without a complete answer', { error: err.neonMessage, may_have_applied: err.mayHaveApplied });
      throw err;
    } finally {
      timeout.abort();
      a.signal?.removeEventListener('abort', onCallerAbort);
    }

    if (status >= 200 && status < 300) {
      if (status === 204 || text.trim() === '') {
        if (a.allowNoContent) {
          log('debug', status, 'Neon request');
          return { value: null, status, requestId };
        }
        const err = fail({ status, message: 'empty answer where a body was expected', mayHaveApplied: true }, (d) => new MalformedResponseError(d));
        log('warn', status, 'Neon answer unreadable', { error: err.neonMessage });
        throw err;
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        const err = fail({ status, message: 'answer is not JSON', mayHaveApplied: true }, (d) => new MalformedResponseError(d));
        log('warn', status, 'Neon answer unreadable', { error: err.neonMessage });
        throw err;
      }
      const parsed = a.schema.safeParse(json);
      if (!parsed.success) {
        // Paths and zod's messages only: the body itself may hold passwords.
        const issues = parsed.error.issues
          .slice(0, 5)
          .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
          .join('; ');
        const err = fail({ status, message: `answer does not match the expected schema: ${issues}`, mayHaveApplied: true }, (d) => new MalformedResponseError(d));
        log('warn', status, 'Neon answer unreadable', { error: err.neonMessage });
        throw err;
      }
      log('debug', status, 'Neon request');
      return { value: parsed.data as z.infer<S>, status, requestId };
    }

    let code = '';
    let message = '';
    try {
      const body = ErrorBody.safeParse(JSON.parse(text));
      if (body.success) {
        code = body.data.code ?? '';
        message = body.data.message ?? '';
      }
    } catch {
      message = text.slice(0, 200);
    }
    const retryAfterMs = status === 429 ? parseRetryAfter(retryAfter, this.#o.clock.now()) : undefined;
    const err = fail({
      status,
      code,
      message: redactSecrets(message),
      // 503 and 4xx were refused before anything was applied; other 5xx (500, 502, 504, 524) may have been.
      mayHaveApplied: status >= 500 && status !== 503,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
    log(status >= 500 || status === 429 ? 'warn' : 'info', status, 'Neon request answered with an error', {
      code,
      error: err.neonMessage,
    });
    throw err;
  }

  #url(a: HttpAttempt<z.ZodType>): string {
    const path = a.route.replace(/\{(\w+)\}/g, (_, name: string) => {
      const v = a.params?.[name];
      if (v === undefined) throw new Error(`missing path parameter ${name} for ${a.route}`);
      return encodeURIComponent(v);
    });
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(a.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const q = qs.toString();
    return `${this.#base}${path}${q ? `?${q}` : ''}`;
  }
}
