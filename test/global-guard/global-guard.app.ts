import { Controller, Get, Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import {
  ApiKeyGuard,
  ApiKeyModule,
  BcryptApiKeyHasher,
  CurrentApiKey,
  RequireScopes,
  SkipApiKey,
  type ApiKey,
} from '../../lib/index.js';

/** No decorators: protected by the global guard alone, except where a method opts out. */
@Controller('items')
export class ItemsController {
  @Get()
  list(@CurrentApiKey() apiKey: ApiKey) {
    return { prefix: apiKey.prefix };
  }

  @Get('health')
  @SkipApiKey()
  health(@CurrentApiKey() apiKey: ApiKey | undefined) {
    return { status: 'ok', key: apiKey?.prefix ?? null };
  }

  @Get('admin')
  @RequireScopes('items:admin')
  admin(@CurrentApiKey() apiKey: ApiKey) {
    return { admin: apiKey.prefix };
  }
}

/** Opened as a whole, with one method protected again. */
@Controller('docs')
@SkipApiKey()
export class DocsController {
  @Get()
  index() {
    return { docs: true };
  }

  @Get('changelog')
  changelog() {
    return { changelog: true };
  }

  @Get('private')
  @SkipApiKey(false)
  privateNotes(@CurrentApiKey() apiKey: ApiKey) {
    return { private: apiKey.prefix };
  }
}

/** `ApiKeyGuard` as `APP_GUARD`: every route needs a key unless marked `@SkipApiKey()`. */
@Module({})
export class GlobalGuardAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: GlobalGuardAppModule,
      imports: [
        TypeOrmModule.forRoot({ ...database, autoLoadEntities: true, synchronize: true }),
        ApiKeyModule.forRoot({ hasher: new BcryptApiKeyHasher({ cost: 4 }) }),
      ],
      controllers: [ItemsController, DocsController],
      providers: [{ provide: APP_GUARD, useClass: ApiKeyGuard }],
    };
  }
}
