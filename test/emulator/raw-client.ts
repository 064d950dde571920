/**
 * A deliberately plain HTTP caller for the emulator's own tests: no retries, no parsing beyond JSON,
 * so each test sees exactly what the emulator answered.
 */
// Test-only and deliberately loose: the tests poke into answers by field name, and the fidelity suite,
// not these types, is what checks the answers' shapes against Neon's spec.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonBody = any;

export interface RawResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or undefined for an empty body. */
  body: JsonBody;
}

export class RawClient {
  readonly baseUrl: string;
  /** null sends no Authorization header. */
  readonly apiKey: string | null;

  constructor(baseUrl: string, apiKey: string | null = 'test-key') {
    this.baseUrl = baseUrl;
    this.apiKey = apiKey;
  }

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
    const h: Record<string, string> = { accept: 'application/json', ...headers };
    if (this.apiKey !== null) h['authorization'] = `Bearer ${this.apiKey}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: h,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) };
  }

  get(path: string, headers?: Record<string, string>): Promise<RawResponse> {
    return this.call('GET', path, undefined, headers);
  }
  post(path: string, body?: unknown): Promise<RawResponse> {
    return this.call('POST', path, body);
  }
  patch(path: string, body: unknown): Promise<RawResponse> {
    return this.call('PATCH', path, body);
  }
  delete(path: string): Promise<RawResponse> {
    return this.call('DELETE', path);
  }
}
