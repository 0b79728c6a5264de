import { Controller, Get, Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { DataSourceOptions } from 'typeorm';
import {
  ApiKeyGuard,
  ApiKeyModule,
  CurrentApiKey,
  RequireScopes,
  SkipApiKey,
  type ApiKey,
} from '../../lib/index.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { typeOrmFor } from '../support/scenario-app.js';

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
      imports: [typeOrmFor(database), ApiKeyModule.forRoot({ hasher: FAST_BCRYPT })],
      controllers: [ItemsController, DocsController],
      providers: [{ provide: APP_GUARD, useClass: ApiKeyGuard }],
    };
  }
}
