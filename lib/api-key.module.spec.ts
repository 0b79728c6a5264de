import 'reflect-metadata';
import { Injectable, Logger, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import { Column, Entity, type DataSource } from 'typeorm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FAST_BCRYPT } from '../test/support/key-store.js';
import {
  API_KEY_MODULE_OPTIONS,
  getApiKeyOptionsToken,
  getApiKeyRepositoryToken,
} from './api-key.constants.js';
import { AbstractApiKey, ApiKey } from './api-key.entity.js';
import { ApiKeyConfigurationError, ApiKeyRevocationError } from './api-key.errors.js';
import { createApiKeyGuard } from './guards/factory.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeyModule } from './api-key.module.js';
import type {
  ApiKeyOptions,
  ApiKeyOptionsFactory,
  ResolvedApiKeyOptions,
} from './api-key.options.js';
import { ApiKeyService, getApiKeyServiceToken } from './api-key.service.js';
import { IN_MEMORY_SQLITE, typeOrmFor } from '../test/support/scenario-app.js';

@Entity('module_spec_partner_keys')
class PartnerApiKey extends AbstractApiKey {
  @Column({ type: 'varchar', length: 36 })
  partnerId!: string;
}

@Injectable()
class OptionsFromClass implements ApiKeyOptionsFactory {
  createApiKeyOptions(): ApiKeyOptions {
    return { keyword: 'Bearer', hasher: FAST_BCRYPT };
  }
}

function tokenOf(provider: Provider): unknown {
  return typeof provider === 'function' ? provider : provider.provide;
}

/** Runs `attempt` and returns the configuration error it threw. */
async function configurationError(attempt: () => unknown): Promise<ApiKeyConfigurationError> {
  const error = await (async () => attempt())().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiKeyConfigurationError);
  return error as ApiKeyConfigurationError;
}

describe('ApiKeyModule.forRoot shape', () => {
  it('provides and exports the service, the guard and the options of the default registration', () => {
    const module = ApiKeyModule.forRoot();
    expect(module.module).toBe(ApiKeyModule);
    expect(module.global).toBe(false);
    expect(module.exports).toEqual(
      expect.arrayContaining([
        ApiKeyService,
        ApiKeyGuard,
        API_KEY_MODULE_OPTIONS,
        getApiKeyRepositoryToken(),
      ]),
    );
    expect(module.providers!.map(tokenOf)).toEqual(
      expect.arrayContaining([
        ApiKeyService,
        ApiKeyGuard,
        API_KEY_MODULE_OPTIONS,
        getApiKeyRepositoryToken(),
      ]),
    );
  });

  it('is global only when asked', () => {
    expect(ApiKeyModule.forRoot({ isGlobal: true }).global).toBe(true);
    expect(ApiKeyModule.forRoot({ isGlobal: false }).global).toBe(false);
  });

  it('exports the named tokens and guard of a named registration, and none of the default ones', () => {
    const module = ApiKeyModule.forRoot({ name: 'partner', entity: PartnerApiKey });
    const PartnerGuard = createApiKeyGuard('partner');
    expect(PartnerGuard).not.toBe(ApiKeyGuard);
    expect(createApiKeyGuard('partner')).toBe(PartnerGuard);
    expect(module.exports).toEqual(
      expect.arrayContaining([
        'API_KEY:SERVICE:partner',
        PartnerGuard,
        getApiKeyOptionsToken('partner'),
        getApiKeyRepositoryToken('partner'),
      ]),
    );
    expect(getApiKeyServiceToken('partner')).toBe('API_KEY:SERVICE:partner');
    expect(module.exports).not.toContain(ApiKeyService);
    expect(module.exports).not.toContain(ApiKeyGuard);
  });

  it('refuses a bad registration at once, naming the field', async () => {
    expect((await configurationError(() => ApiKeyModule.forRoot({ name: 'not ok' }))).option).toBe(
      'name',
    );
    expect(
      (await configurationError(() => ApiKeyModule.forRoot({ entity: Object as any }))).option,
    ).toBe('entity');
    expect(
      (await configurationError(() => ApiKeyModule.forRoot({ isGlobal: 'yes' as any }))).option,
    ).toBe('isGlobal');
  });

  it('checks key options when its options provider runs, with the same messages as forRootAsync', async () => {
    const module = ApiKeyModule.forRoot({ headers: 'X-Api-Key' } as ApiKeyOptions);
    const optionsProvider = module.providers!.find(
      (p) => tokenOf(p) === API_KEY_MODULE_OPTIONS,
    ) as { useFactory: () => unknown };
    expect((await configurationError(() => optionsProvider.useFactory())).option).toBe('headers');
  });
});

describe('ApiKeyModule.forRootAsync shape', () => {
  const useFactory = () => ({});

  it('is global only when asked, and exports the service and guard', () => {
    const module = ApiKeyModule.forRootAsync({ useFactory });
    expect(module.global).toBe(false);
    expect(ApiKeyModule.forRootAsync({ useFactory, isGlobal: true }).global).toBe(true);
    expect(module.exports).toEqual(
      expect.arrayContaining([ApiKeyService, ApiKeyGuard, API_KEY_MODULE_OPTIONS]),
    );
  });

  it('passes imports through and exports named tokens for a named registration', () => {
    @Module({})
    class ConfigLikeModule {}
    const module = ApiKeyModule.forRootAsync({
      name: 'partner',
      entity: PartnerApiKey,
      imports: [ConfigLikeModule],
      useFactory,
    });
    expect(module.imports).toEqual([ConfigLikeModule]);
    expect(module.exports).toEqual(
      expect.arrayContaining(['API_KEY:SERVICE:partner', createApiKeyGuard('partner')]),
    );
  });

  it.each([
    ['none', {}],
    ['useFactory and useClass', { useFactory, useClass: OptionsFromClass }],
    ['useClass and useExisting', { useClass: OptionsFromClass, useExisting: OptionsFromClass }],
    ['all three', { useFactory, useClass: OptionsFromClass, useExisting: OptionsFromClass }],
  ])('refuses %s of useFactory/useClass/useExisting', async (_case, options) => {
    const error = await configurationError(() => ApiKeyModule.forRootAsync(options));
    expect(error.option).toBe('forRootAsync');
    expect(error.message).toMatch(/exactly one of useFactory, useClass or useExisting/);
  });

  it('refuses an isGlobal that is not a boolean, as forRoot does', async () => {
    const error = await configurationError(() =>
      ApiKeyModule.forRootAsync({ useFactory, isGlobal: 'yes' as any }),
    );
    expect(error.option).toBe('isGlobal');
  });

  it('refuses an unknown field, naming it', async () => {
    const error = await configurationError(() =>
      ApiKeyModule.forRootAsync({ useFactory, inject: [], injects: [] } as any),
    );
    expect(error.option).toBe('injects');
    const keyOption = await configurationError(() =>
      ApiKeyModule.forRootAsync({ useFactory, header: 'X-Api-Key' } as any),
    );
    expect(keyOption.option).toBe('header');
    expect(keyOption.message).toMatch(/return it from useFactory/);
  });
});

describe('ApiKeyModule booted on SQLite', () => {
  let close: (() => Promise<void>) | undefined;

  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function boot(apiKeyModule: DynamicModule, autoLoadEntities = true) {
    @Module({
      imports: [
        TypeOrmModule.forRoot({
          type: 'better-sqlite3',
          database: ':memory:',
          autoLoadEntities,
          synchronize: true,
        }),
        apiKeyModule,
      ],
    })
    class AppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    close = () => moduleRef.close();
    return moduleRef;
  }

  it('forRoot gives a working service and guard over the ApiKey table, with revocation locked', async () => {
    const moduleRef = await boot(ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }));
    const service = moduleRef.get(ApiKeyService);
    expect(moduleRef.get(ApiKeyGuard)).toBeInstanceOf(ApiKeyGuard);
    const { apiKey, key } = await service.create({ name: 'booted' });
    expect(await service.isValid(key)).toBe(true);
    await service.revoke(apiKey.id);
    const repository = moduleRef.get<DataSource>(getDataSourceToken()).getRepository(ApiKey);
    await expect(repository.update(apiKey.id, { revokedAt: null })).rejects.toBeInstanceOf(
      ApiKeyRevocationError,
    );
    const loaded = await repository.findOneByOrFail({ id: apiKey.id });
    loaded.revokedAt = null;
    await expect(repository.save(loaded)).rejects.toBeInstanceOf(ApiKeyRevocationError);
  });

  it('forRootAsync resolves options from a factory with injected providers', async () => {
    @Injectable()
    class Settings {
      readonly keyword = 'Token';
    }
    @Module({ providers: [Settings], exports: [Settings] })
    class SettingsModule {}
    const moduleRef = await boot(
      ApiKeyModule.forRootAsync({
        imports: [SettingsModule],
        inject: [Settings],
        useFactory: (settings: Settings) => ({ keyword: settings.keyword, hasher: FAST_BCRYPT }),
      }),
    );
    expect(moduleRef.get<ResolvedApiKeyOptions>(API_KEY_MODULE_OPTIONS).keyword).toBe('Token');
  });

  it('forRootAsync resolves options from useClass', async () => {
    const moduleRef = await boot(ApiKeyModule.forRootAsync({ useClass: OptionsFromClass }));
    expect(moduleRef.get<ResolvedApiKeyOptions>(API_KEY_MODULE_OPTIONS).keyword).toBe('Bearer');
  });

  it('fails to boot when an async factory returns a registration field, naming it', async () => {
    const error = await boot(
      ApiKeyModule.forRootAsync({ useFactory: () => ({ entity: ApiKey }) as ApiKeyOptions }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiKeyConfigurationError);
    expect((error as ApiKeyConfigurationError).option).toBe('entity');
  });

  it('fails to boot when an async factory returns a bad option, naming it', async () => {
    const error = await boot(
      ApiKeyModule.forRootAsync({ useFactory: async () => ({ header: 'Authorization' }) }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiKeyConfigurationError);
    expect((error as ApiKeyConfigurationError).option).toBe('header');
  });

  it('fails to boot when TypeORM does not know the entity, and says how to fix it', async () => {
    const error = await boot(ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }), false).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiKeyConfigurationError);
    expect((error as ApiKeyConfigurationError).option).toBe('entity');
    expect((error as Error).message).toMatch(/autoLoadEntities/);
  });

  it('keeps two registrations apart: each guard and service sees its own table only', async () => {
    @Module({
      imports: [
        typeOrmFor(IN_MEMORY_SQLITE),
        ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
        ApiKeyModule.forRoot({ name: 'partner', entity: PartnerApiKey, hasher: FAST_BCRYPT }),
      ],
    })
    class TwoKindsModule {}
    const moduleRef = await Test.createTestingModule({ imports: [TwoKindsModule] }).compile();
    close = () => moduleRef.close();
    const main = moduleRef.get(ApiKeyService);
    const partner = moduleRef.get<ApiKeyService<PartnerApiKey>>(getApiKeyServiceToken('partner'));
    expect(partner).not.toBe(main);
    expect(moduleRef.get(createApiKeyGuard('partner'))).toBeInstanceOf(ApiKeyGuard);
    const mainKey = await main.create({ name: 'main' });
    const partnerKey = await partner.create({ name: 'partner', partnerId: 'p-1' });
    expect(await main.isValid(mainKey.key)).toBe(true);
    expect(await partner.isValid(partnerKey.key)).toBe(true);
    // DRF 13: a key of one type is refused by the other's check.
    expect(await main.isValid(partnerKey.key)).toBe(false);
    expect(await partner.isValid(mainKey.key)).toBe(false);
  });
});
