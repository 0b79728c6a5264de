import {
  Controller,
  Get,
  Module,
  UseGuards,
  type DynamicModule,
  type Provider,
  type Type,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  AllowApiKeyOr,
  ApiKeyGuard,
  ApiKeyModule,
  BcryptApiKeyHasher,
  RequireScopes,
  SkipApiKey,
} from '../../lib/index.js';
import { PartnerApiKey, PartnerApiKeyGuard, UserSessionGuard } from '../support/partner-keys.js';

// Each controller below is one way of combining the decorators that would leave a route open,
// or do nothing, while reading as protected. Each must stop the app at boot.

@Controller('scopes-without-guard')
export class ScopesWithoutGuardController {
  @Get()
  @RequireScopes('admin')
  admin() {}
}

@Controller('class-scopes-without-guard')
@RequireScopes('admin')
export class ClassScopesWithoutGuardController {
  @Get()
  list() {}
}

@Controller('skipped-or')
export class SkippedOrController {
  @Get()
  @SkipApiKey()
  @AllowApiKeyOr(UserSessionGuard)
  either() {}
}

@Controller('skipped-scopes')
export class SkippedScopesController {
  @Get()
  @SkipApiKey()
  @RequireScopes('admin')
  admin() {}
}

@Controller('skip-unguarded-registration')
export class SkipPartnerWithoutPartnerGuardController {
  @Get()
  @SkipApiKey('partner')
  open() {}
}

@Controller('skip-unknown-registration')
export class SkipUnknownRegistrationController {
  @Get()
  @SkipApiKey('yes')
  open() {}
}

@Controller('skip-without-guard')
export class SkipWithoutGuardController {
  @Get()
  @SkipApiKey()
  open() {}
}

@Controller('guard-and-skip')
export class GuardAndSkipController {
  @Get()
  @UseGuards(ApiKeyGuard)
  @SkipApiKey()
  open() {}
}

@Controller('two-registrations-or')
export class TwoRegistrationsOrController {
  @Get()
  @UseGuards(PartnerApiKeyGuard)
  @AllowApiKeyOr(UserSessionGuard)
  either() {}
}

@Controller('or-itself')
export class OrItselfController {
  @Get()
  @UseGuards(PartnerApiKeyGuard)
  @AllowApiKeyOr(PartnerApiKeyGuard)
  either() {}
}

// The documented forms, which boot.

@Controller('health')
export class HealthController {
  @Get()
  @SkipApiKey()
  health() {}
}

@Controller('partner')
@SkipApiKey()
@UseGuards(PartnerApiKeyGuard)
export class PartnerController {
  @Get()
  @RequireScopes('orders:read')
  @AllowApiKeyOr(UserSessionGuard)
  orders() {}

  @Get('default-too')
  @SkipApiKey(false)
  both() {}
}

@Controller('projects')
@UseGuards(ApiKeyGuard)
@RequireScopes('projects:read')
export class ProjectsController {
  @Get()
  list() {}

  @Get('public')
  @SkipApiKey()
  open() {}
}

@Controller('reports')
export class ReportsController {
  @Get()
  @AllowApiKeyOr(UserSessionGuard)
  @RequireScopes('reports:read')
  list() {}

  @Get('partner')
  @UseGuards(PartnerApiKeyGuard)
  @AllowApiKeyOr(UserSessionGuard)
  partner() {}

  @Get('any-key')
  @AllowApiKeyOr(PartnerApiKeyGuard)
  anyKey() {}
}

/**
 * An app with a default and a partner registration around the given controllers and providers;
 * `global` adds ApiKeyGuard as APP_GUARD.
 */
export function scannerApp(
  controllers: Type[],
  options: { global?: boolean; imports?: DynamicModule['imports']; providers?: Provider[] } = {},
): DynamicModule {
  const hasher = new BcryptApiKeyHasher({ cost: 4 });
  @Module({})
  class ScannerAppModule {}
  return {
    module: ScannerAppModule,
    imports: [
      TypeOrmModule.forRoot({
        type: 'better-sqlite3',
        database: ':memory:',
        autoLoadEntities: true,
        synchronize: true,
      }),
      ApiKeyModule.forRoot({ hasher }),
      ApiKeyModule.forRoot({ name: 'partner', entity: PartnerApiKey, hasher }),
      ...(options.imports ?? []),
    ],
    controllers,
    providers: [
      UserSessionGuard,
      ...(options.global ? [{ provide: APP_GUARD, useClass: ApiKeyGuard }] : []),
      ...(options.providers ?? []),
    ],
  };
}
