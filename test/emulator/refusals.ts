import { ApiError } from './router.ts';

// What Neon refuses although the OpenAPI spec lets it through (the spec only says `minimum: 0.25` for a
// compute size and `type: string` for names and regions). Each rule cites the page it comes from; the
// emulator's README lists them. The status (400) and the wording are ours: Neon does not document them.

/** https://neon.com/docs/introduction/regions ("AWS regions", "Azure regions"). */
export const NEON_REGIONS: readonly string[] = [
  'aws-us-east-1',
  'aws-us-east-2',
  'aws-us-west-2',
  'aws-eu-central-1',
  'aws-eu-west-2',
  'aws-ap-southeast-1',
  'aws-ap-southeast-2',
  'aws-sa-east-1',
  'azure-eastus2',
  'azure-westus3',
  'azure-gwc',
];

/**
 * https://neon.com/docs/manage/computes#compute-size-and-autoscaling-configuration: 0.25, 0.5, then every
 * whole CU up to 16, then every second CU up to 56.
 */
export const COMPUTE_SIZES: readonly number[] = [
  0.25,
  0.5,
  ...Array.from({ length: 16 }, (_, i) => i + 1),
  ...Array.from({ length: 20 }, (_, i) => 18 + 2 * i),
];
/** Same page: autoscaling spans 0.25 to 16 CU, and max minus min may not exceed 8 CU. */
export const AUTOSCALING_MAX_CU = 16;
export const AUTOSCALING_MAX_SPREAD_CU = 8;

/** https://neon.com/docs/manage/roles#protected-role-names */
const PROTECTED_ROLE_NAMES = new Set(['neon_superuser', 'cloud_admin', 'zenith_admin', 'public', 'none']);
/** https://neon.com/faqs/create-new-database-neon-project ("Reserved names … aren't permitted"). */
const RESERVED_DATABASE_NAMES = new Set(['postgres', 'template0', 'template1']);
/** Postgres identifiers are NAMEDATALEN - 1 = 63 bytes; the spec's role name says "Cannot exceed 63 bytes". */
const POSTGRES_NAME_MAX_BYTES = 63;

/**
 * https://neon.com/docs/introduction/history-window ("Defaults and plan limits"): the longest history window of
 * each plan. A CRD cannot know the account's plan, so only Neon can refuse a window above it.
 */
export const PLAN_HISTORY_RETENTION_MAX_SECONDS = { free: 6 * 3600, launch: 7 * 86400, scale: 30 * 86400 } as const;
export type NeonPlan = keyof typeof PLAN_HISTORY_RETENTION_MAX_SECONDS;

export function requireHistoryRetention(seconds: number | undefined, plan: NeonPlan): void {
  const max = PLAN_HISTORY_RETENTION_MAX_SECONDS[plan];
  if (seconds !== undefined && seconds > max) {
    throw new ApiError(400, `history_retention_seconds: ${seconds} exceeds the ${plan} plan's maximum of ${max} seconds`);
  }
}

/** https://neon.com/docs/guides/branch-expiration#timestamp-format-requirements: at most 30 days ahead. */
export const MAX_EXPIRY_MS = 30 * 24 * 3600 * 1000;

export function requireRegion(regionId: string, emulatorRegion: string): void {
  if (regionId !== emulatorRegion && !NEON_REGIONS.includes(regionId)) {
    throw new ApiError(400, `region_id "${regionId}" is not a supported region`);
  }
}

/** `field` names the request field, e.g. `endpoint.autoscaling_limit_max_cu`. */
export function requireComputeSize(field: string, cu: number | undefined): void {
  if (cu !== undefined && !COMPUTE_SIZES.includes(cu)) {
    throw new ApiError(400, `${field}: ${cu} is not a supported compute size (0.25, 0.5, 1 to 16, then even sizes up to 56)`);
  }
}

/** Sizes first, then the range: min ≤ max, and a range (min ≠ max) within 16 CU and 8 CU wide. */
export function requireAutoscalingLimits(prefix: string, min: number | undefined, max: number | undefined, current?: { min: number; max: number }): void {
  requireComputeSize(`${prefix}autoscaling_limit_min_cu`, min);
  requireComputeSize(`${prefix}autoscaling_limit_max_cu`, max);
  const lo = min ?? current?.min;
  const hi = max ?? current?.max;
  if (lo === undefined || hi === undefined) return;
  if (lo > hi) throw new ApiError(400, 'autoscaling_limit_min_cu must not exceed autoscaling_limit_max_cu');
  if (lo !== hi && hi > AUTOSCALING_MAX_CU) {
    throw new ApiError(400, `autoscaling_limit_max_cu: autoscaling supports at most ${AUTOSCALING_MAX_CU} CU; larger computes have a fixed size (min = max)`);
  }
  if (hi - lo > AUTOSCALING_MAX_SPREAD_CU) {
    throw new ApiError(400, `autoscaling range ${lo}-${hi} CU is wider than ${AUTOSCALING_MAX_SPREAD_CU} CU`);
  }
}

function requirePostgresName(what: 'role' | 'database', name: string): void {
  if (name.length === 0) throw new ApiError(400, `${what} name must not be empty`);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > POSTGRES_NAME_MAX_BYTES) {
    throw new ApiError(400, `${what} name "${name}" is ${bytes} bytes long; it cannot exceed ${POSTGRES_NAME_MAX_BYTES} bytes`);
  }
}

export function requireRoleName(name: string): void {
  requirePostgresName('role', name);
  if (name.startsWith('pg_') || PROTECTED_ROLE_NAMES.has(name)) throw new ApiError(400, `role name "${name}" is protected and cannot be used`);
}

export function requireDatabaseName(name: string): void {
  requirePostgresName('database', name);
  if (RESERVED_DATABASE_NAMES.has(name)) throw new ApiError(400, `database name "${name}" is reserved and cannot be used`);
}

// RFC 3339 section 5.6 date-time: a time zone (Z or ±hh:mm) is required.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Epoch ms of an RFC 3339 timestamp; 400 naming `field` otherwise. */
export function parseTimestamp(field: string, value: string): number {
  const ms = RFC3339.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new ApiError(400, `${field}: "${value}" is not an RFC 3339 timestamp with a time zone`);
  return ms;
}

/** https://neon.com/docs/guides/branch-expiration: in the future, at most 30 days ahead. */
export function requireExpiry(value: string, now: number): void {
  const at = parseTimestamp('expires_at', value);
  if (at <= now) throw new ApiError(400, `expires_at ${value} is in the past`);
  if (at - now > MAX_EXPIRY_MS) throw new ApiError(400, `expires_at ${value} is more than 30 days from now`);
}

/**
 * A point in the parent's history (https://neon.com/docs/introduction/history-window): not in the future and
 * not older than the project's history retention.
 */
export function requireParentTimestamp(value: string, now: number, historyRetentionSeconds: number): void {
  const at = parseTimestamp('parent_timestamp', value);
  if (at > now) throw new ApiError(400, `parent_timestamp ${value} is in the future`);
  if (now - at > historyRetentionSeconds * 1000) {
    throw new ApiError(400, `parent_timestamp ${value} is outside the project's history retention of ${historyRetentionSeconds} seconds`);
  }
}
