/**
 * Keeps secrets (API keys, role passwords, connection URIs with passwords) out of log lines and error
 * messages. Two layers: known secret values registered by the client (its API key) are replaced wherever
 * they appear, and patterns that look like credentials are masked even when nobody registered them.
 */

const knownSecrets = new Set<string>();

/** Registers a value (e.g. an API key) to be masked in everything `redactSecrets` sees. Process-wide. */
export function registerSecret(value: string): void {
  // Very short values would mask ordinary words; real keys and passwords are long.
  if (value.length >= 8) knownSecrets.add(value);
}

const MASK = '***';

const patterns: Array<[RegExp, string]> = [
  // postgres://user:password@host → postgres://user:***@host (any scheme).
  [/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@\s/]*@/gi, `$1${MASK}@`],
  // Authorization: Bearer <key>
  [/(bearer\s+)[^\s"',]+/gi, `$1${MASK}`],
  // "password":"..." or password=... in JSON, query strings or prose.
  [/("?password"?\s*[:=]\s*"?)[^"&\s,}]+/gi, `$1${MASK}`],
];

/** Returns `text` with registered secrets and credential-looking substrings masked. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  for (const [re, replacement] of patterns) out = out.replace(re, replacement);
  return out;
}

/**
 * Paths pino must censor when a caller logs a Neon object next to our fields. The client itself never logs
 * bodies; these guard against a controller logging a response it got from us.
 */
export const pinoRedactPaths: string[] = [
  'apiKey',
  'authorization',
  'headers.authorization',
  'password',
  '*.password',
  'uri',
  '*.uri',
  'connection_uri',
  '*.connection_uri',
  'connection_uris',
  '*.connection_uris',
];
