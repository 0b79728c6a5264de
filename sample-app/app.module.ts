import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKeyModule } from '../lib/index.js';
import { ApiKeyMetricsModule } from '../lib/metrics/index.js';
import { sampleKeyAdmin } from './admin/key-admin.js';
import type { SampleConfig } from './config.js';
import {
  initializeSampleDataSource,
  sampleApiKeyOptions,
  sampleDataSourceOptions,
} from './database.js';
import { HealthController } from './health.controller.js';
import { LimitedController } from './limited.controller.js';
import { MetricsController } from './metrics.controller.js';
import { PartnerApiKey } from './partners/partner-api-key.entity.js';
import { Partner } from './partners/partner.entity.js';
import {
  PARTNER_KEYS,
  PartnerOrdersController,
  PartnersController,
} from './partners/partners.controller.js';
import { ProjectsController } from './projects.controller.js';
import { sampleThrottlerModule } from './rate-limits.js';
import { ReportsController } from './reports.controller.js';
import { SAMPLE_CONFIG } from './sample-config.token.js';
import { sampleSecretScanning } from './secret-scanning.js';
import { UserTokenGuard } from './user-token.guard.js';

/** The sample application, configured from the environment (see `loadSampleConfig`). */
@Module({})
export class AppModule {
  static forRoot(config: SampleConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ({
            ...sampleDataSourceOptions(config.database),
            retryAttempts: 2,
            retryDelay: 1000,
          }),
          dataSourceFactory: (options) => initializeSampleDataSource(options!),
        }),
        TypeOrmModule.forFeature([Partner]),
        // Default key type: ApiKey in api_keys, guarded by ApiKeyGuard.
        // API_KEY_REVOCATION_SYNC=notify caches its rows, kept current by change notifications.
        ApiKeyModule.forRoot({
          ...sampleApiKeyOptions(config.apiKeyHeader),
          ...(config.revocationSync && { revocationSync: config.revocationSync }),
        }),
        // Partner keys: their own table, service and guard; refused once their partner is inactive.
        // In notify mode a trigger on the partners table also empties the cache when one changes.
        ApiKeyModule.forRoot<PartnerApiKey>({
          ...sampleApiKeyOptions(config.apiKeyHeader),
          ...(config.revocationSync && { revocationSync: config.revocationSync }),
          name: PARTNER_KEYS,
          entity: PartnerApiKey,
          usableWhere: { partner: { active: true } },
        }),
        sampleThrottlerModule(config.redisUrl, config.redisKeyPrefix),
        // The key admin pages (/admin/keys and a partner's own), behind HTTP Basic.
        ...sampleKeyAdmin(),
        sampleSecretScanning(),
        // api_key_verifications_total and the cold-path gauge, served at /metrics.
        ApiKeyMetricsModule.forRoot(),
      ],
      controllers: [
        HealthController,
        ProjectsController,
        ReportsController,
        PartnerOrdersController,
        PartnersController,
        LimitedController,
        MetricsController,
      ],
      providers: [{ provide: SAMPLE_CONFIG, useValue: config }, UserTokenGuard],
    };
  }
}
