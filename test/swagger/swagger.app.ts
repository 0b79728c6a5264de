import { Body, Controller, Get, Module, Post, UseGuards, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { DataSourceOptions } from 'typeorm';
import {
  AllowApiKeyOr,
  ApiKeyGuard,
  ApiKeyModule,
  CurrentApiKey,
  RequireScopes,
  SkipApiKey,
  type ApiKey,
} from '../../lib/index.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { PartnerApiKey, PartnerApiKeyGuard, UserSessionGuard } from '../support/partner-keys.js';
import { typeOrmFor } from '../support/scenario-app.js';

/** Protected by the global guard alone; one method needs a scope. */
@Controller('items')
export class ItemsController {
  @Get()
  list(@CurrentApiKey() apiKey: ApiKey) {
    return { key: apiKey.name };
  }

  @Post()
  @RequireScopes('items:write')
  create(@Body() body: { name?: string }) {
    return { created: body?.name ?? null };
  }

  /** A default key OR a partner key. */
  @Get('any-key')
  @AllowApiKeyOr(PartnerApiKeyGuard)
  anyKey() {
    return { ok: true };
  }

  /** A default key OR a user session (a guard the document has a scheme for). */
  @Get('or-session')
  @AllowApiKeyOr(UserSessionGuard)
  orSession() {
    return { ok: true };
  }

  /** Both a default key and a partner key. */
  @Get('both')
  @UseGuards(PartnerApiKeyGuard)
  both() {
    return { ok: true };
  }
}

/** Open: the global guard skipped for the whole class. */
@Controller('health')
@SkipApiKey()
export class HealthController {
  @Get()
  health() {
    return { status: 'ok' };
  }
}

/** Partner keys only: the default guard skipped, the partner one named. */
@Controller('partner')
@SkipApiKey()
@UseGuards(PartnerApiKeyGuard)
export class PartnerController {
  @Get()
  orders(@CurrentApiKey() apiKey: PartnerApiKey) {
    return { key: apiKey.name };
  }
}

/** A global ApiKeyGuard for default keys read from `Authorization`, partner keys from a header. */
@Module({})
export class SwaggerAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: SwaggerAppModule,
      imports: [
        typeOrmFor(database),
        ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
        ApiKeyModule.forRoot({
          name: 'partner',
          entity: PartnerApiKey,
          header: 'X-Partner-Key',
          hasher: FAST_BCRYPT,
        }),
      ],
      controllers: [ItemsController, HealthController, PartnerController],
      providers: [{ provide: APP_GUARD, useClass: ApiKeyGuard }, UserSessionGuard],
    };
  }
}
