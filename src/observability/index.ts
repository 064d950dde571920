// Observability: Prometheus metrics bound to the runtime's and the Neon scheduler's hooks, and the HTTP
// endpoint for /metrics, /healthz and /readyz. The only module that knows both sides and prom-client.
export {
  METRIC_PREFIX,
  OperatorMetrics,
  type ControllerSource,
  type LeaderSource,
  type ManagerSource,
  type OperatorMetricsOptions,
  type SchedulerSource,
} from './metrics.ts';
export { startObservabilityServer, type ObservabilityServer, type ObservabilityServerOptions } from './server.ts';
export { EventLoopWatch, type EventLoopWatchOptions } from './event-loop-watch.ts';
