/**
 * nestjs-api-key/metrics: Prometheus metrics of API key verification, through `prom-client` (an
 * optional peer dependency, needed only by apps importing this entry).
 */
export {
  API_KEY_COLD_PATH_QUEUE_METRIC,
  API_KEY_VERIFICATIONS_METRIC,
  ApiKeyMetrics,
  ApiKeyMetricsModule,
  type ApiKeyMetricsOptions,
} from './api-key-metrics.js';
