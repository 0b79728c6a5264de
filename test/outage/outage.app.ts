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

@Controller('orders')
@UseGuards(ApiKeyGuard)
export class OrdersController {
  @Get()
  list(@CurrentApiKey() apiKey: ApiKey) {
    return { prefix: apiKey.prefix };
  }
}

/** An app whose key store the test takes away and gives back while it runs. */
@Module({})
export class OutageAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: OutageAppModule,
      imports: [
        TypeOrmModule.forRoot({ ...database, autoLoadEntities: true, synchronize: true }),
        ApiKeyModule.forRoot({ hasher: new BcryptApiKeyHasher({ cost: 4 }) }),
      ],
      controllers: [OrdersController],
    };
  }
}
