import { ApiError, bodyObject, optBoolean, requireBranch, requireNoConflict, requireProject, type RequestContext, type Router } from './router.ts';
import type { BranchRecord, EmulatorState, ProjectRecord } from './state.ts';
import { isoTime } from './views.ts';

// Anonymized branches (Beta in the spec): `createProjectBranchAnonymized` (BranchAnonymizedCreateRequest),
// `getMaskingRules` / `updateMaskingRules` (MaskingRule, MaskingRulesResponse), `getAnonymizedBranchStatus`
// and `startAnonymization` (AnonymizedBranchStatusResponse) of `public-v2-for-users.gen.yaml`.
//
// The spec gives the states (created, initialized, initialization_error, anonymizing, anonymized, error) and
// that a start is accepted "in the initialized, error, or anonymized state". Inferred, not documented: a new
// branch is `created` until its create_branch operation ends, then `initialized`; a run takes
// `durations.anonymize` ms (default 2000) and ends `anonymized`, or `error` when a rule names a database the
// branch does not have; refusals answer 400 (bad rules), 404 (not an anonymized branch) and 409 (wrong state).

export interface MaskingRule {
  database_name: string;
  schema_name: string;
  table_name: string;
  column_name: string;
  masking_function?: string;
  masking_value?: string;
}

export type AnonymizationState = 'created' | 'initialized' | 'initialization_error' | 'anonymizing' | 'anonymized' | 'error';

export interface AnonymizationRecord {
  createdAt: number;
  updatedAt: number;
  /** The branch's create_branch operation: `created` until it ends. */
  initializedAt: number;
  rules: MaskingRule[];
  /** The latest run, if any: `anonymizing` between start and end, then its outcome. */
  run?: { startedAt: number; endsAt: number; outcome: 'anonymized' | 'error'; message: string; maskedColumns: number };
}

const records = new WeakMap<BranchRecord, AnonymizationRecord>();

/** The anonymization of a branch, for tests (undefined: not an anonymized branch). */
export function anonymizationOf(branch: BranchRecord): AnonymizationRecord | undefined {
  return records.get(branch);
}

/** The state at `now`, derived from the clock like every other state of the emulator. */
export function anonymizationState(a: AnonymizationRecord, now: number): AnonymizationState {
  if (a.run) {
    if (now < a.run.endsAt) return now < a.initializedAt ? 'created' : 'anonymizing';
    return a.run.outcome;
  }
  return now < a.initializedAt ? 'created' : 'initialized';
}

const RULE_FIELDS = ['database_name', 'schema_name', 'table_name', 'column_name'] as const;

/** `masking_rules` as sent (400 naming the entry and field otherwise). */
function parseRules(raw: unknown): MaskingRule[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new ApiError(400, 'masking_rules must be an array');
  return raw.map((r: unknown, i) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new ApiError(400, `masking_rules[${i}] must be an object`);
    const o = r as Record<string, unknown>;
    const rule: Partial<MaskingRule> = {};
    for (const f of RULE_FIELDS) {
      const v = o[f];
      if (typeof v !== 'string' || v === '') throw new ApiError(400, `masking_rules[${i}].${f} is required`);
      rule[f] = v;
    }
    for (const f of ['masking_function', 'masking_value'] as const) {
      const v = o[f];
      if (v !== undefined && typeof v !== 'string') throw new ApiError(400, `masking_rules[${i}].${f} must be a string`);
      if (typeof v === 'string') rule[f] = v;
    }
    if (rule.masking_function === undefined && rule.masking_value === undefined) {
      throw new ApiError(400, `masking_rules[${i}]: masking_function or masking_value is required`);
    }
    return rule as MaskingRule;
  });
}

function startRun(state: EmulatorState, branch: BranchRecord, a: AnonymizationRecord): void {
  const now = state.now();
  const startedAt = Math.max(now, a.initializedAt);
  const missing = a.rules.find((r) => !branch.databases.has(r.database_name));
  const duration = Math.max(0, state.durations['anonymize'] ?? 2000);
  a.run = {
    startedAt,
    endsAt: startedAt + duration,
    outcome: missing ? 'error' : 'anonymized',
    message: missing ? `database "${missing.database_name}" does not exist on the branch` : `anonymized ${a.rules.length} columns`,
    maskedColumns: missing ? 0 : a.rules.length,
  };
  a.updatedAt = now;
}

function statusView(project: ProjectRecord, branch: BranchRecord, a: AnonymizationRecord, now: number): Record<string, unknown> {
  const st = anonymizationState(a, now);
  const run = a.run;
  const ended = run !== undefined && now >= run.endsAt;
  return {
    project_id: project.id,
    branch_id: branch.id,
    state: st,
    ...(st === 'anonymizing' ? { status_message: `anonymizing ${a.rules.length} columns` } : {}),
    ...(ended && run ? { status_message: run.message } : {}),
    created_at: isoTime(a.createdAt),
    updated_at: isoTime(ended && run ? Math.max(a.updatedAt, run.endsAt) : a.updatedAt),
    ...(ended && run?.outcome === 'error' ? { failed_at: isoTime(run.endsAt) } : {}),
    ...(run && now >= run.startedAt
      ? {
          last_run: {
            started_at: isoTime(run.startedAt),
            ...(ended ? { completed_at: isoTime(run.endsAt), masked_columns: run.maskedColumns } : {}),
          },
        }
      : {}),
  };
}

function requireAnonymized(ctx: RequestContext): { project: ProjectRecord; branch: BranchRecord; a: AnonymizationRecord } {
  const project = requireProject(ctx);
  const branch = requireBranch(ctx, project);
  const a = records.get(branch);
  if (!a) throw new ApiError(404, 'branch is not an anonymized branch');
  return { project, branch, a };
}

export function registerAnonymizedRoutes(router: Router): void {
  // The branch itself is made exactly as `POST …/branches` makes one, from `branch_create` and `annotation_value`.
  const createBranch = router.routes.find((r) => r.method === 'POST' && r.template === '/projects/{project_id}/branches');
  if (!createBranch) throw new Error('register the branch routes before the anonymized-branch routes');

  router.add('POST', '/projects/{project_id}/branch_anonymized', (ctx) => {
    const { state } = ctx;
    const project = requireProject(ctx);
    const body = bodyObject(ctx);
    const rules = parseRules(body['masking_rules']);
    const start = optBoolean(body, 'start_anonymization') ?? false;
    const branchCreate = body['branch_create'];
    if (branchCreate !== undefined && (typeof branchCreate !== 'object' || branchCreate === null || Array.isArray(branchCreate))) {
      throw new ApiError(400, 'branch_create must be an object');
    }
    const reply = createBranch.handler({
      ...ctx,
      body: { ...(branchCreate as Record<string, unknown> | undefined), ...(body['annotation_value'] !== undefined ? { annotation_value: body['annotation_value'] } : {}) },
    });
    const created = (reply.body as { branch: { id: string } }).branch;
    const branch = project.branches.get(created.id);
    if (!branch) throw new Error('the created branch is missing');
    const now = state.now();
    const createOp = branch.readyOperationId ? state.operation(project, branch.readyOperationId) : undefined;
    const a: AnonymizationRecord = { createdAt: now, updatedAt: now, initializedAt: createOp?.endAt ?? now, rules };
    records.set(branch, a);
    if (start) startRun(state, branch, a);
    return reply;
  });

  router.add('GET', '/projects/{project_id}/branches/{branch_id}/masking_rules', (ctx) => {
    const { a } = requireAnonymized(ctx);
    return { status: 200, body: { masking_rules: a.rules.map((r) => ({ ...r })) } };
  });

  router.add('PATCH', '/projects/{project_id}/branches/{branch_id}/masking_rules', (ctx) => {
    const { state } = ctx;
    const { a } = requireAnonymized(ctx);
    const body = bodyObject(ctx);
    if (body['masking_rules'] === undefined) throw new ApiError(400, 'masking_rules is required');
    const rules = parseRules(body['masking_rules']);
    if (anonymizationState(a, state.now()) === 'anonymizing') throw new ApiError(409, 'masking rules cannot change while anonymization is running');
    a.rules = rules;
    a.updatedAt = state.now();
    return { status: 200, body: { masking_rules: a.rules.map((r) => ({ ...r })) } };
  });

  router.add('GET', '/projects/{project_id}/branches/{branch_id}/anonymized_status', (ctx) => {
    const { project, branch, a } = requireAnonymized(ctx);
    return { status: 200, body: statusView(project, branch, a, ctx.state.now()) };
  });

  router.add('POST', '/projects/{project_id}/branches/{branch_id}/anonymize', (ctx) => {
    const { state } = ctx;
    const { project, branch, a } = requireAnonymized(ctx);
    const current = anonymizationState(a, state.now());
    // Spec: "Starts the anonymization process for an anonymized branch that is in the initialized, error, or anonymized state."
    if (current !== 'initialized' && current !== 'error' && current !== 'anonymized') {
      throw new ApiError(409, `anonymization cannot start while the branch is ${current}`);
    }
    requireNoConflict(ctx, project);
    startRun(state, branch, a);
    return { status: 200, body: statusView(project, branch, a, state.now()) };
  });
}
