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

@Controller('vault')
@UseGuards(ApiKeyGuard)
export class VaultController {
  @Get()
  open(@CurrentApiKey() apiKey: ApiKey) {
    return { prefix: apiKey.prefix };
  }
}

/** One guarded route, to throw hostile headers at. */
@Module({})
export class HostileInputAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: HostileInputAppModule,
      imports: [
        TypeOrmModule.forRoot({ ...database, autoLoadEntities: true, synchronize: true }),
        // The hasher is not under test here; cost 4 keeps the wrong-secret cases fast.
        ApiKeyModule.forRoot({ hasher: new BcryptApiKeyHasher({ cost: 4 }) }),
      ],
      controllers: [VaultController],
    };
  }
}
