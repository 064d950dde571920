import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

/**
 * Validates answers against Neon's official OpenAPI 3.0 spec (`public-v2-for-users.gen.yaml` from
 * `@neondatabase/api-client`). Ajv understands the OpenAPI 3.0 `nullable` keyword natively; the spec's
 * extension keywords (`x-*`, `example`) are ignored (strict: false).
 */

const require = createRequire(import.meta.url);

export function specPath(): string {
  return require.resolve('@neondatabase/api-client/public-v2-for-users.gen.yaml');
}

export interface SpecDocument {
  paths: Record<
    string,
    Record<string, { responses?: Record<string, SpecResponse>; requestBody?: { required?: boolean; content?: Record<string, { schema?: unknown }> } }>
  >;
  components: { responses?: Record<string, SpecResponse> };
}

interface SpecResponse {
  $ref?: string;
  content?: Record<string, { schema?: unknown }>;
}

let cachedSpec: SpecDocument | undefined;

export function loadSpec(): SpecDocument {
  cachedSpec ??= parse(readFileSync(specPath(), 'utf8')) as SpecDocument;
  return cachedSpec;
}

function pointerEscape(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function describe(e: ErrorObject): string {
  return `${e.instancePath || '(root)'} ${e.message ?? e.keyword}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`;
}

type SchemaNode = Record<string, unknown>;

function resolveRef(spec: SpecDocument, node: SchemaNode): SchemaNode {
  let n = node;
  for (let i = 0; i < 20 && typeof n['$ref'] === 'string'; i++) {
    const parts = (n['$ref'] as string).replace(/^#\//, '').split('/');
    let target: unknown = spec;
    for (const part of parts) target = (target as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (typeof target !== 'object' || target === null) return {};
    n = target as SchemaNode;
  }
  return n;
}

/**
 * The spec leaves objects open (no `additionalProperties: false`), so a misspelt optional field would
 * pass schema validation. This walk reports every field the spec does not document, at any depth.
 * Objects described only through oneOf/anyOf are not inspected (their shape is ambiguous).
 */
export function undocumentedFields(spec: SpecDocument, schema: unknown, value: unknown, path = ''): string[] {
  if (typeof schema !== 'object' || schema === null) return [];
  const node = resolveRef(spec, schema as SchemaNode);
  if (Array.isArray(value)) {
    return node['items'] ? value.flatMap((v, i) => undocumentedFields(spec, node['items'], v, `${path}/${i}`)) : [];
  }
  if (typeof value !== 'object' || value === null) return [];
  const parts = [node, ...((node['allOf'] as unknown[] | undefined) ?? []).map((s) => resolveRef(spec, s as SchemaNode))];
  if (parts.some((p) => p['oneOf'] || p['anyOf'])) return [];
  const props = new Map<string, unknown>();
  let additional: unknown;
  for (const p of parts) {
    for (const [k, v] of Object.entries((p['properties'] as Record<string, unknown> | undefined) ?? {})) props.set(k, v);
    if (p['additionalProperties'] !== undefined) additional = p['additionalProperties'];
  }
  if (props.size === 0 && additional === undefined) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const sub = props.get(k) ?? (typeof additional === 'object' ? additional : undefined);
    if (sub === undefined && additional !== true) out.push(`${path}/${k} is not documented`);
    else out.push(...undocumentedFields(spec, sub, v, `${path}/${k}`));
  }
  return out;
}

/** Compiles schema pointers into the spec once and checks values against them. */
class SpecChecker {
  readonly spec = loadSpec();
  readonly #ajv: Ajv;
  readonly #compiled = new Map<string, ValidateFunction>();

  constructor() {
    this.#ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, logger: false });
    // ajv-formats is CommonJS: under Node's ESM interop its function is the module's `default` export.
    const formats = addFormatsModule as unknown as { default?: (a: Ajv) => void } & ((a: Ajv) => void);
    (formats.default ?? formats)(this.#ajv);
    this.#ajv.addSchema(this.spec as object, 'neon');
  }

  /** Problems of `value` against the schema at `pointer` (a `neon#/...` JSON pointer), prefixed with `label`. */
  check(pointer: string, schema: unknown, value: unknown, label: string): string[] {
    let validate = this.#compiled.get(pointer);
    if (validate === undefined) {
      validate = this.#ajv.compile({ $ref: pointer });
      this.#compiled.set(pointer, validate);
    }
    const problems = validate(value) ? [] : (validate.errors ?? []).map((e) => `${label}: ${describe(e)}`);
    for (const p of undocumentedFields(this.spec, schema, value)) problems.push(`${label}: ${p}`);
    return problems;
  }
}

/**
 * Returns a function that checks one answer: `(method, route template, status, parsed body)` → list of
 * problems, empty when the answer matches the operation's documented response for that status (or its
 * `default` response) and carries no undocumented field. An undocumented route or method is itself a problem.
 */
export function createResponseValidator(): (method: string, route: string, status: number, body: unknown) => string[] {
  const checker = new SpecChecker();
  const spec = checker.spec;
  return (method, route, status, body) => {
    const m = method.toLowerCase();
    const op = spec.paths[route]?.[m];
    if (!op?.responses) return [`${method} ${route} is not in the spec`];
    const statusKey = String(status);
    const key = op.responses[statusKey] ? statusKey : 'default';
    let response = op.responses[key];
    if (!response) return [`${method} ${route} does not document status ${status}`];
    let pointer = `neon#/paths/${pointerEscape(route)}/${m}/responses/${key}`;
    if (response.$ref) {
      const name = response.$ref.split('/').pop() ?? '';
      response = spec.components.responses?.[name];
      if (!response) return [`unresolved response ${name}`];
      pointer = `neon#/components/responses/${pointerEscape(name)}`;
    }
    const schema = response.content?.['application/json']?.schema;
    if (schema === undefined) {
      return body === undefined ? [] : [`${method} ${route} ${status}: the spec documents no body, got one`];
    }
    if (body === undefined) return [`${method} ${route} ${status}: the spec documents a JSON body, got none`];
    return checker.check(`${pointer}/content/application~1json/schema`, schema, body, `${method} ${route} ${status}`);
  };
}

/**
 * Returns a function that checks one request a client sent: `(method, route template, parsed body)` →
 * problems, empty when the body matches the operation's documented request body (no undocumented fields
 * either) or the operation takes no body and none was sent.
 */
export function createRequestValidator(): (method: string, route: string, body: unknown) => string[] {
  const checker = new SpecChecker();
  const spec = checker.spec;
  return (method, route, body) => {
    const m = method.toLowerCase();
    const op = spec.paths[route]?.[m];
    if (!op) return [`${method} ${route} is not in the spec`];
    const requestBody = op.requestBody;
    const schema = requestBody?.content?.['application/json']?.schema;
    if (schema === undefined) return body === undefined ? [] : [`${method} ${route}: the spec documents no request body, got one`];
    if (body === undefined) return requestBody?.required ? [`${method} ${route}: the request body is required`] : [];
    const pointer = `neon#/paths/${pointerEscape(route)}/${m}/requestBody/content/application~1json/schema`;
    return checker.check(pointer, schema, body, `${method} ${route} request`);
  };
}
