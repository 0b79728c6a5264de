import { Controller, Get, Module, Req, UseGuards, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import {
  AllowApiKeyOr,
  ApiKeyGuard,
  ApiKeyModule,
  BcryptApiKeyHasher,
  CurrentApiKey,
  RequireScopes,
  SkipApiKey,
  type ApiKey,
} from '../../lib/index.js';
import { PartnerApiKey, PartnerApiKeyGuard, UserSessionGuard } from '../support/partner-keys.js';

/** Which key got in (its name), and which user: each `null` when not that way. */
function who(apiKey: ApiKey | PartnerApiKey | undefined, request: { user?: { name: string } }) {
  return { key: apiKey?.name ?? null, user: request.user?.name ?? null };
}

/** Default keys: the global guard alone. */
@Controller('items')
export class ItemsController {
  @Get()
  list(@CurrentApiKey() apiKey: ApiKey) {
    return { key: apiKey.name };
  }

  /** A default key, or a partner key offered as the alternative. */
  @Get('any-key')
  @AllowApiKeyOr(PartnerApiKeyGuard)
  anyKey(@CurrentApiKey() apiKey: ApiKey | PartnerApiKey, @Req() request: { user?: any }) {
    return who(apiKey, request);
  }

  /** As above, with a scope both kinds of key must hold. */
  @Get('any-key/scoped')
  @AllowApiKeyOr(PartnerApiKeyGuard)
  @RequireScopes('orders:read')
  anyKeyScoped(@CurrentApiKey() apiKey: ApiKey | PartnerApiKey, @Req() request: { user?: any }) {
    return who(apiKey, request);
  }
}

/** Partner keys here, default keys elsewhere: the documented form under a global ApiKeyGuard. */
@Controller('partner')
@SkipApiKey()
@UseGuards(PartnerApiKeyGuard)
export class PartnerController {
  @Get()
  orders(@CurrentApiKey() apiKey: PartnerApiKey | undefined) {
    return { key: apiKey?.name ?? null };
  }

  /** A partner key OR a user session. */
  @Get('or-session')
  @AllowApiKeyOr(UserSessionGuard)
  orSession(@CurrentApiKey() apiKey: PartnerApiKey | undefined, @Req() request: { user?: any }) {
    return who(apiKey, request);
  }
}

/** No global guard: a partner key OR a user session, the partner guard named on the class or method. */
@Controller('orders')
@UseGuards(PartnerApiKeyGuard)
export class OrdersController {
  @Get()
  @AllowApiKeyOr(UserSessionGuard)
  list(@CurrentApiKey() apiKey: PartnerApiKey | undefined, @Req() request: { user?: any }) {
    return who(apiKey, request);
  }
}

@Controller('reports')
export class ReportsController {
  @Get()
  @UseGuards(PartnerApiKeyGuard)
  @AllowApiKeyOr(UserSessionGuard)
  list(@CurrentApiKey() apiKey: PartnerApiKey | undefined, @Req() request: { user?: any }) {
    return who(apiKey, request);
  }

  /** The plain form beside it: a default key OR a user session. */
  @Get('default')
  @AllowApiKeyOr(UserSessionGuard)
  defaults(@CurrentApiKey() apiKey: ApiKey | undefined, @Req() request: { user?: any }) {
    return who(apiKey, request);
  }
}

function registrations(database: DataSourceOptions) {
  // The hasher is not under test here; cost 4 keeps the suite fast.
  const hasher = new BcryptApiKeyHasher({ cost: 4 });
  return [
    TypeOrmModule.forRoot({ ...database, autoLoadEntities: true, synchronize: true }),
    ApiKeyModule.forRoot({ hasher }),
    ApiKeyModule.forRoot({ name: 'partner', entity: PartnerApiKey, hasher }),
  ];
}

/** A global ApiKeyGuard for default keys, and a partner key type beside it. */
@Module({})
export class GlobalWithPartnerAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: GlobalWithPartnerAppModule,
      imports: registrations(database),
      controllers: [ItemsController, PartnerController],
      providers: [{ provide: APP_GUARD, useClass: ApiKeyGuard }, UserSessionGuard],
    };
  }
}

/** The same two key types, guards placed per route. */
@Module({})
export class PerRoutePartnerAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: PerRoutePartnerAppModule,
      imports: registrations(database),
      controllers: [OrdersController, ReportsController],
      providers: [UserSessionGuard],
    };
  }
}
