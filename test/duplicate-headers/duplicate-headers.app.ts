import { Controller, Get, Module, UseGuards, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import {
  ApiKeyGuard,
  ApiKeyModule,
  BcryptApiKeyHasher,
  CurrentApiKey,
  createApiKeyGuard,
  type ApiKey,
} from '../../lib/index.js';

/** Keys read from `X-Api-Key` instead of `Authorization`: the same table, another registration. */
export const HeaderApiKeyGuard = createApiKeyGuard('header');

@Controller()
export class VaultController {
  @Get('authorization')
  @UseGuards(ApiKeyGuard)
  byAuthorization(@CurrentApiKey() apiKey: ApiKey) {
    return { prefix: apiKey.prefix };
  }

  @Get('header')
  @UseGuards(HeaderApiKeyGuard)
  byHeader(@CurrentApiKey() apiKey: ApiKey) {
    return { prefix: apiKey.prefix };
  }
}

/** One route per way of sending a key, to send each header twice. */
@Module({})
export class DuplicateHeadersAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    // The hasher is not under test here; cost 4 keeps the suite fast.
    const hasher = new BcryptApiKeyHasher({ cost: 4 });
    return {
      module: DuplicateHeadersAppModule,
      imports: [
        TypeOrmModule.forRoot({ ...database, autoLoadEntities: true, synchronize: true }),
        ApiKeyModule.forRoot({ hasher }),
        ApiKeyModule.forRoot({ name: 'header', header: 'X-Api-Key', hasher }),
      ],
      controllers: [VaultController],
    };
  }
}
