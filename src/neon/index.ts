/**
 * The operator's only door to the Neon API. Create ONE NeonScheduler per process and one NeonClient per
 * API key; every call goes through the scheduler's rate budget, project lanes and safe retries.
 */
export { NeonClient, accountKeyFor, DEFAULT_NEON_BASE_URL } from './client.ts';
export type {
  NeonClientOptions,
  CallOptions,
  ProjectCreateInput,
  ProjectUpdateInput,
  ProjectSettingsInput,
  BranchCreateInput,
  BranchEndpointInput,
  BranchUpdateInput,
  BranchRestoreInput,
  EndpointCreateInput,
  EndpointUpdateInput,
  ConnectionUriInput,
  ListBranchesInput,
} from './client.ts';
export { NeonScheduler } from './scheduler.ts';
export type {
  NeonSchedulerOptions,
  SchedulerEvent,
  SchedulerStats,
  RetryPolicy,
  OperationPollPolicy,
  RouteStats,
} from './scheduler.ts';
export { RateBudget, neonRateLimits, parseRetryAfter, fullJitterBackoff } from './rate-budget.ts';
export type { RateLimits, BackoffPolicy } from './rate-budget.ts';
export {
  NeonApiError,
  NotFoundError,
  ConflictError,
  LockedError,
  RateLimitedError,
  InvalidRequestError,
  UnauthorizedError,
  PreconditionFailedError,
  ServerError,
  TransportError,
  MalformedResponseError,
  OutcomeUnknownError,
  OperationFailedError,
} from './errors.ts';
export { redactSecrets, registerSecret, pinoRedactPaths } from './redact.ts';
export { inFlightStatuses, successStatuses } from './schemas.ts';
export type {
  Operation,
  OperationStatus,
  Project,
  ProjectListItem,
  Branch,
  Endpoint,
  EndpointType,
  EndpointState,
  Role,
  Database,
  Annotation,
  AnnotationValue,
  AnonymizedBranchStatus,
  MaskingRule,
  ConnectionDetails,
  CreatedProjectResponse,
  CreatedBranchResponse,
  BranchOperationsResponse,
  BranchesListResponse,
  EndpointOperationsResponse,
  RoleOperationsResponse,
  DatabaseOperationsResponse,
  OperationsListResponse,
  ProjectsListResponse,
} from './schemas.ts';
