import { Controller, Get, Module, UseGuards, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import {
  ApiKeyGuard,
  ApiKeyModule,
  BcryptApiKeyHasher,
  CurrentApiKey,
  type ApiKey,
  type ApiKeyOptions,
} from '../../lib/index.js';

@Controller('vault')
@UseGuards(ApiKeyGuard)
export class VaultController {
  @Get()
  open(@CurrentApiKey() apiKey: ApiKey) {
    return { prefix: apiKey.prefix };
  }
}

/** One guarded route, with keys read as `options` say, to fuzz the requests it is sent. */
@Module({})
export class FuzzAppModule {
  static register(database: DataSourceOptions, options: ApiKeyOptions = {}): DynamicModule {
    return {
      module: FuzzAppModule,
      imports: [
        TypeOrmModule.forRoot({ ...database, autoLoadEntities: true, synchronize: true }),
        // The hasher is not under test here; cost 4 keeps near misses of the stored key fast.
        ApiKeyModule.forRoot({ hasher: new BcryptApiKeyHasher({ cost: 4 }), ...options }),
      ],
      controllers: [VaultController],
    };
  }
}
