import type { DynamicModule } from '@nestjs/common';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { ThrottlerModule } from '@nestjs/throttler';

/**
 * The throttler of the sample app: counters in Redis when `redisUrl` is set (`REDIS_URL`), so
 * every instance started with it shares each key's budget; in memory otherwise, for one instance.
 */
export function sampleThrottlerModule(redisUrl: string | undefined): DynamicModule {
  return ThrottlerModule.forRoot({
    throttlers: [{ ttl: 60_000, limit: 5 }],
    storage: redisUrl ? new ThrottlerStorageRedisService(redisUrl) : undefined,
  });
}
