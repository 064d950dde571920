import type { z } from 'zod';

/**
 * One validation rule of a custom resource, written once and enforced twice: the API server runs `rule`
 * (CEL, emitted into the CRD as `x-kubernetes-validations`) when a manifest is admitted, and the operator
 * runs `check` when it parses what it reads, so both reject the same manifests with the same message.
 */
export interface CelRule<T> {
  /** CEL expression; `self` is the object the rule is attached to, `oldSelf` its previous value on update. */
  readonly rule: string;
  /** What the user reads when the rule fails. Names the field(s) concerned. */
  readonly message: string;
  /**
   * The field the rule is about, relative to the object the rule is attached to (e.g. `projectRef`,
   * `autoscaling.minCu`). Both the API server (`fieldPath`) and zod (issue `path`) report it as the
   * error's location.
   */
  readonly field?: string;
  /**
   * The same rule in TypeScript. It also runs when other fields of the object are invalid, so it must not
   * assume their types. Absent only for transition rules (those using `oldSelf`), which need the
   * previous object and can be checked by the API server alone.
   */
  readonly check?: (value: T) => boolean;
}

/** The shape a rule takes in a CRD (apiextensions.k8s.io/v1 ValidationRule). */
export interface KubernetesValidationRule {
  rule: string;
  message: string;
  fieldPath?: string;
}

/**
 * Attaches `rules` to `schema`: as CEL for the generated CRD (through zod metadata, read by the CRD
 * generator) and, for rules with a `check`, as a zod refinement that adds an issue at `field`.
 * Returns a schema of the same type, so inferred TypeScript types are unaffected.
 */
export function withRules<S extends z.ZodType>(schema: S, rules: readonly CelRule<z.output<S>>[]): S {
  let refined = schema;
  for (const r of rules) {
    const check = r.check;
    if (!check) continue;
    refined = refined.refine((value) => check(value), {
      message: r.message,
      path: r.field ? r.field.split('.') : [],
      // Run object rules even when a field inside is invalid, so every problem is reported at once (the
      // API server does the same); checks therefore must tolerate fields of the wrong type.
      when: (payload) => (typeof payload.value === 'object' && payload.value !== null) || payload.issues.length === 0,
    });
  }
  return refined.meta({ 'x-kubernetes-validations': toKubernetesRules(rules) });
}

/** The CEL side of rules, as the CRD carries them. */
export function toKubernetesRules(rules: readonly CelRule<never>[]): KubernetesValidationRule[] {
  return rules.map((r) => ({
    rule: r.rule,
    message: r.message,
    ...(r.field ? { fieldPath: `.${r.field}` } : {}),
  }));
}

/** A field is present on an object parsed by zod (optional fields are absent or undefined). */
export function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/**
 * A transition rule that makes `field` immutable once the object exists: it can be neither changed, nor
 * added, nor removed. Only the API server can check it (it needs the old object).
 */
export function immutable<T>(field: string, what = field): CelRule<T> {
  return {
    rule: `has(self.${field}) == has(oldSelf.${field}) && (!has(self.${field}) || self.${field} == oldSelf.${field})`,
    message: `${what} is immutable: it cannot be changed, added or removed after creation`,
    field,
  };
}

/** What an object-level rule sees: the whole object (only metadata.name and the spec matter). */
export interface ObjectRuleTarget {
  metadata: { name: string };
  spec: Readonly<Record<string, unknown>>;
}

/**
 * Object-level rules for a spec field that defaults to metadata.name and names a Postgres object (at most
 * 63 bytes): a long metadata.name needs the field set and, when `immutable`, the effective name cannot
 * change (leaving the field out and later writing the object's own name is no change).
 */
export function postgresNameDefaultingToMetadata(what: string, { immutable }: { immutable: boolean }): CelRule<ObjectRuleTarget>[] {
  const effective = (obj: string) => `(has(${obj}.spec.name) ? ${obj}.spec.name : ${obj}.metadata.name)`;
  const rules: CelRule<ObjectRuleTarget>[] = [
    {
      rule: 'has(self.spec.name) || size(self.metadata.name) <= 63',
      message: `spec.name (${what}) must be set when metadata.name is longer than 63 characters`,
      field: 'spec.name',
      check: (o) => typeof o.spec['name'] === 'string' || o.metadata.name.length <= 63,
    },
  ];
  if (immutable) {
    rules.push({
      rule: `${effective('self')} == ${effective('oldSelf')}`,
      message: `spec.name (${what}, default metadata.name) is immutable`,
      field: 'spec.name',
    });
  }
  return rules;
}
