import type { NeonBranchSpec } from '../../api/index.ts';
import { NotFoundError, type AnonymizedBranchStatus, type Branch, type BranchCreateInput, type MaskingRule, type NeonClient } from '../../neon/index.ts';
import type { SyncContext, SyncOutcome } from '../shared/frame.ts';

// Neon's anonymized branches (Beta): the branch is created by `POST /projects/{id}/branch_anonymized` with its
// masking rules, and its data is masked by PostgreSQL Anonymizer; `GET …/anonymized_status` says how far that is.

type Anonymization = NonNullable<NeonBranchSpec['anonymization']>;

/** The spec's masking rules as Neon's MaskingRule. */
export function maskingRulesOf(a: Anonymization): MaskingRule[] {
  return a.maskingRules.map((r) => ({
    database_name: r.databaseName,
    schema_name: r.schemaName,
    table_name: r.tableName,
    column_name: r.columnName,
    ...(r.maskingFunction !== undefined ? { masking_function: r.maskingFunction } : {}),
    ...(r.maskingValue !== undefined ? { masking_value: r.maskingValue } : {}),
  }));
}

/** Creates the branch: an anonymized one when the spec asks for it, else an ordinary one. */
export function createBranchFor(client: NeonClient, projectId: string, spec: NeonBranchSpec, input: BranchCreateInput, o: { signal: AbortSignal }) {
  if (!spec.anonymization) return client.createBranch(projectId, input, o);
  return client.createAnonymizedBranch(projectId, { ...input, maskingRules: maskingRulesOf(spec.anonymization), start: spec.anonymization.start }, o);
}

function sameRules(a: readonly MaskingRule[], b: readonly MaskingRule[]): boolean {
  const key = (r: MaskingRule) =>
    JSON.stringify([r.database_name, r.schema_name, r.table_name, r.column_name, r.masking_function ?? null, r.masking_value ?? null]);
  return a.length === b.length && a.every((r, i) => key(r) === key(b[i] as MaskingRule));
}

/** Neon accepts a start in these states (spec, startAnonymization). */
const STARTABLE = new Set(['initialized', 'error', 'anonymized']);
/** How soon a branch whose data is being masked is looked at again (at least; the per-key backoff grows it). */
export const ANONYMIZING_RECHECK_MS = 2_000;

export interface AnonymizationOutcome {
  status: { anonymization: { state: string; message?: string; maskedColumns?: number; completedAt?: string } | undefined };
  /** Not Ready yet (masked data not ready): the condition to show; undefined when the data is masked. */
  notReady?: SyncOutcome['ready'] & { ok: false };
  backoff?: boolean;
}

/**
 * Brings the branch's masking rules to the spec (replacing Neon's when they differ, not while a run is in
 * progress) and starts anonymization when the spec asks for it and Neon's state allows it: after a rule
 * change, or when `start` was turned on. Never restarts a run that failed with unchanged rules (the
 * condition shows Neon's message until the rules change). Ready only once Neon says `anonymized`.
 */
export async function syncAnonymization(
  client: NeonClient,
  projectId: string,
  branch: Branch,
  spec: Anonymization,
  ctx: SyncContext,
): Promise<AnonymizationOutcome> {
  const o = { signal: ctx.signal };
  let st: AnonymizedBranchStatus;
  try {
    st = await client.getAnonymizedStatus(projectId, branch.id, o);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    return {
      status: { anonymization: undefined },
      notReady: {
        ok: false,
        reason: 'NotAnonymized',
        message: `Neon branch ${branch.id} is not an anonymized branch (it existed before, or was created without anonymization): its data is not masked. Delete it in Neon, or use a NeonBranch without spec.anonymization`,
      },
    };
  }
  const desired = maskingRulesOf(spec);
  if (st.state !== 'anonymizing' && !sameRules(await client.getMaskingRules(projectId, branch.id, o), desired)) {
    await client.updateMaskingRules(projectId, branch.id, desired, o);
    ctx.event('Normal', 'Updated', 'Update', `replaced the masking rules of Neon branch ${branch.id} (${desired.length} columns)`);
    if (spec.start && STARTABLE.has(st.state)) {
      st = await client.startAnonymization(projectId, branch.id, o);
      ctx.event('Normal', 'AnonymizationStarted', 'Update', `started anonymization of Neon branch ${branch.id} with the new masking rules`);
    }
  } else if (spec.start && st.state === 'initialized') {
    st = await client.startAnonymization(projectId, branch.id, o);
    ctx.event('Normal', 'AnonymizationStarted', 'Update', `started anonymization of Neon branch ${branch.id}`);
  }
  const status = {
    anonymization: {
      state: st.state,
      ...(st.status_message !== undefined ? { message: st.status_message.slice(0, 1024) } : {}),
      ...(st.last_run?.masked_columns !== undefined ? { maskedColumns: st.last_run.masked_columns } : {}),
      ...(st.last_run?.completed_at !== undefined ? { completedAt: st.last_run.completed_at } : {}),
    },
  };
  const said = st.status_message ? `: ${st.status_message}` : '';
  switch (st.state) {
    case 'anonymized':
      return { status };
    case 'initialized':
      if (!spec.start) {
        return {
          status,
          notReady: {
            ok: false,
            reason: 'AnonymizationNotStarted',
            message: `Neon branch ${branch.id} holds unmasked data until anonymization is started (spec.anonymization.start)`,
          },
        };
      }
      break;
    case 'error':
    case 'initialization_error':
      return {
        status,
        notReady: { ok: false, reason: 'AnonymizationFailed', message: `anonymization of Neon branch ${branch.id} failed${said}; fix spec.anonymization.maskingRules to run it again` },
        backoff: true,
      };
  }
  return {
    status,
    notReady: { ok: false, reason: 'Anonymizing', message: `Neon branch ${branch.id} is being anonymized (${st.state})${said}; it is Ready once its data is masked` },
    backoff: true,
  };
}
