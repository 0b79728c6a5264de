/**
 * nestjs-api-key/throttler: `@nestjs/throttler` limits per API key. Needs `@nestjs/throttler`;
 * for several instances, a shared storage such as `@nest-lab/throttler-storage-redis`.
 */
export {
  ApiKeyThrottlerGuard,
  type ApiKeyRateLimit,
  type ApiKeyWithRateLimits,
} from './api-key-throttler.guard.js';
