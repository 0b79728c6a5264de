import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKeyModule } from '../lib/index.js';
import type { SampleConfig } from './config.js';
import { sampleApiKeyOptions, sampleDataSourceOptions } from './database.js';
import { HealthController } from './health.controller.js';
import { PartnerApiKey } from './partners/partner-api-key.entity.js';
import { Partner } from './partners/partner.entity.js';
import {
  PARTNER_KEYS,
  PartnerOrdersController,
  PartnersController,
} from './partners/partners.controller.js';
import { ProjectsController } from './projects.controller.js';
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
        TypeOrmModule.forRoot({
          ...sampleDataSourceOptions(config.database),
          migrationsRun: true,
          retryAttempts: 2,
          retryDelay: 1000,
        }),
        TypeOrmModule.forFeature([Partner]),
        // Default key type: ApiKey in api_keys, guarded by ApiKeyGuard.
        ApiKeyModule.forRoot(sampleApiKeyOptions(config.apiKeyHeader)),
        // Partner keys: their own table, service and guard; refused once their partner is inactive.
        ApiKeyModule.forRoot<PartnerApiKey>({
          ...sampleApiKeyOptions(config.apiKeyHeader),
          name: PARTNER_KEYS,
          entity: PartnerApiKey,
          usableWhere: { partner: { active: true } },
        }),
        sampleSecretScanning(),
      ],
      controllers: [
        HealthController,
        ProjectsController,
        ReportsController,
        PartnerOrdersController,
        PartnersController,
      ],
      providers: [{ provide: SAMPLE_CONFIG, useValue: config }, UserTokenGuard],
    };
  }
}
