import { Controller, Get, Module, UseGuards, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import {
  ApiKeyGuard,
  ApiKeyModule,
  BcryptApiKeyHasher,
  CurrentApiKey,
  type ApiKey,
} from '../../lib/index.js';

@Controller('things')
@UseGuards(ApiKeyGuard)
export class ThingsController {
  @Get()
  list(@CurrentApiKey() apiKey: ApiKey) {
    return { prefix: apiKey.prefix };
  }
}

/** Keys sent as bearer tokens, `Authorization: Bearer <key>`, for clients that speak nothing else. */
@Module({})
export class CustomKeywordAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: CustomKeywordAppModule,
      imports: [
        TypeOrmModule.forRoot({ ...database, autoLoadEntities: true, synchronize: true }),
        ApiKeyModule.forRoot({
          keyword: 'Bearer',
          realm: 'things',
          hasher: new BcryptApiKeyHasher({ cost: 4 }),
        }),
      ],
      controllers: [ThingsController],
    };
  }
}
