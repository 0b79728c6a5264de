import 'reflect-metadata';
import { Controller, Get, Logger, Module, type Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { Entity } from 'typeorm';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FAST_BCRYPT } from '../../test/support/key-store.js';
import { RequireScopes, SkipApiKey } from '../api-key.decorators.js';
import { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { ApiKeyGuard } from '../api-key.guard.js';
import { ApiKeyModule } from '../api-key.module.js';
import { ApiKeyRouteScanner } from './route-scanner.js';
import { ApiKeyService } from '../api-key.service.js';
import { IN_MEMORY_SQLITE, typeOrmFor } from '../../test/support/scenario-app.js';

@Entity('partner_keys')
class PartnerKey extends AbstractApiKey {}

@Controller('health')
class HealthController {
  @Get()
  @SkipApiKey()
  health() {}
}

@Controller('admin')
class AdminController {
  @Get()
  @RequireScopes('admin')
  admin() {}
}

/** An app of two registrations around the given controllers, not yet initialised. */
async function createApp(controllers: Type[]) {
  @Module({
    imports: [
      typeOrmFor(IN_MEMORY_SQLITE),
      ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
      ApiKeyModule.forRoot({ name: 'partner', entity: PartnerKey, hasher: FAST_BCRYPT }),
    ],
    controllers,
  })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  return moduleRef.createNestApplication({ logger: false });
}

describe('ApiKeyRouteScanner', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterEach(() => vi.restoreAllMocks());

  it('scans an application once, however many registrations provide it', async () => {
    const scans = vi.spyOn(ApiKeyRouteScanner.prototype as any, 'routes');
    const app = await createApp([HealthController]);
    await expect(app.init()).rejects.toBeInstanceOf(ApiKeyConfigurationError);
    expect(scans).toHaveBeenCalledTimes(1);
    await app.close();
  });

  it('finds a guard given to app.useGlobalGuards(), not only APP_GUARD providers', async () => {
    const scans = vi.spyOn(ApiKeyRouteScanner.prototype as any, 'routes');
    const app = await createApp([HealthController]);
    app.useGlobalGuards(new ApiKeyGuard(app.get(ApiKeyService), new Reflector()));
    // The same app refuses to start without the global guard (the first case above).
    await expect(app.init()).resolves.toBe(app);
    expect(scans).toHaveBeenCalledTimes(1);
    await app.close();
  });

  it('names the route, the decorator and the fix', async () => {
    const app = await createApp([AdminController]);
    const error = await app.init().then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(ApiKeyConfigurationError);
    expect((error as ApiKeyConfigurationError).option).toBe('@RequireScopes()');
    expect((error as Error).message).toBe(
      'ApiKeyModule option "@RequireScopes()": AdminController.admin requires scope "admin", but no API key guard protects it, so the route is open to anyone. ' +
        "Fix: add @UseGuards(ApiKeyGuard) (or your registration's createApiKeyGuard(name)) to AdminController.admin or its controller, or register ApiKeyGuard as APP_GUARD; or remove @RequireScopes().",
    );
    await app.close();
  });
});
