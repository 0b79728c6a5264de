import { Module, type DynamicModule, type Provider, type Type } from '@nestjs/common';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import { ModuleRef } from '@nestjs/core';
import type { DataSource, Repository } from 'typeorm';
import { getApiKeyOptionsToken, getApiKeyRepositoryToken } from './api-key.constants.js';
import type { AbstractApiKey } from './api-key.entity.js';
import { ApiKeyConfigurationError } from './api-key.errors.js';
import { createApiKeyGuard } from './guards/factory.js';
import {
  type ApiKeyModuleAsyncOptions,
  type ApiKeyModuleOptions,
  type ApiKeyOptions,
  type ApiKeyOptionsFactory,
  type ResolvedApiKeyOptions,
} from './api-key.options.js';
import {
  resolveApiKeyOptions,
  validateAsyncRegistration,
  validateRegistration,
} from './options/resolve.js';
import {
  captureRegistrationSite,
  missingDataSourceError,
  registrationCheckProviders,
  type ApiKeyRegistrationSite,
} from './boot-checks/registrations.js';
import { ensureChangeTrigger } from './change-feed/setup.js';
import { ApiKeyRouteScanner } from './boot-checks/route-scanner.js';
import { checkApiKeySchema, getApiKeySchemaCheckToken } from './schema/check.js';
import { getApiKeyServiceToken } from './api-key.service.js';
import { createApiKeyService, getApiKeyRepository } from './api-key.wiring.js';

/**
 * Registers an API key entity with TypeORM and provides its `ApiKeyService` and guard.
 * Import it where `TypeOrmModule.forRoot()` is configured.
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [
 *     TypeOrmModule.forRoot({ type: 'postgres', url: process.env.DATABASE_URL, autoLoadEntities: true }),
 *     ApiKeyModule.forRoot({ header: 'X-Api-Key' }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 * @publicApi
 */
@Module({})
export class ApiKeyModule {
  /**
   * Registers keys with static options.
   *
   * @throws {ApiKeyConfigurationError} at boot if an option is wrong, the entity or data source
   *   is unknown to TypeORM, `usableWhere` names what the entity lacks, or the app registers
   *   the same name twice (the error names both calls)
   */
  static forRoot<T extends AbstractApiKey = AbstractApiKey>(
    options: ApiKeyModuleOptions<T> = {},
  ): DynamicModule {
    const registration = validateRegistration(options);
    const site = captureRegistrationSite(registration.name, 'forRoot');
    const { name: _n, entity: _e, dataSource: _d, isGlobal: _g, ...keyOptions } = options;
    const optionsProvider: Provider = {
      provide: getApiKeyOptionsToken(registration.name),
      useFactory: () => resolveApiKeyOptions(keyOptions as ApiKeyOptions<T>, registration),
    };
    return this.assemble(registration, site, options, [optionsProvider], []);
  }

  /**
   * Registers keys with options made at boot by a factory, a class or an existing provider.
   *
   * @throws {ApiKeyConfigurationError} at boot if an option is wrong, none or several of
   *   `useFactory`/`useClass`/`useExisting` are given, or as `forRoot()` throws
   */
  static forRootAsync<T extends AbstractApiKey = AbstractApiKey>(
    options: ApiKeyModuleAsyncOptions<T>,
  ): DynamicModule {
    const registration = validateAsyncRegistration(options);
    const site = captureRegistrationSite(registration.name, 'forRootAsync');
    const given = [options.useFactory, options.useClass, options.useExisting].filter(
      Boolean,
    ).length;
    if (given !== 1) {
      throw new ApiKeyConfigurationError(
        'forRootAsync',
        `expected exactly one of useFactory, useClass or useExisting, got ${given}.`,
        'pass one of them.',
      );
    }
    const token = getApiKeyOptionsToken(registration.name);
    const providers: Provider[] = [...(options.extraProviders ?? [])];
    if (options.useFactory) {
      const factory = options.useFactory;
      providers.push({
        provide: token,
        useFactory: async (...args: unknown[]) =>
          resolveApiKeyOptions(await factory(...args), registration),
        inject: options.inject ?? [],
      });
    } else {
      const factoryClass = (options.useClass ?? options.useExisting) as Type<
        ApiKeyOptionsFactory<T>
      >;
      if (options.useClass) providers.push({ provide: factoryClass, useClass: factoryClass });
      providers.push({
        provide: token,
        useFactory: async (factory: ApiKeyOptionsFactory<T>) =>
          resolveApiKeyOptions(await factory.createApiKeyOptions(), registration),
        inject: [factoryClass],
      });
    }
    return this.assemble(registration, site, options, providers, options.imports ?? []);
  }

  private static assemble<T extends AbstractApiKey>(
    registration: { name: string; entity: Type<T> },
    site: ApiKeyRegistrationSite,
    where: Pick<ApiKeyModuleOptions<T>, 'dataSource' | 'isGlobal'>,
    optionProviders: Provider[],
    imports: NonNullable<DynamicModule['imports']>,
  ): DynamicModule {
    const { name, entity } = registration;
    const dataSource = where.dataSource;
    // Called for its registration with `autoLoadEntities`; its repository provider is not
    // imported, because ours checks the entity first and names the fix when it is missing.
    TypeOrmModule.forFeature([entity], dataSource);
    // The steps of wireApiKeys() as separate providers, so that a test overriding the options
    // or repository token (overrideProvider(API_KEY_MODULE_OPTIONS)) changes the service too.
    const repositoryProvider: Provider = {
      provide: getApiKeyRepositoryToken(name),
      useFactory: (ds: DataSource | undefined) => {
        if (!ds) throw missingDataSourceError(dataSource);
        return getApiKeyRepository(
          ds,
          entity,
          typeof dataSource === 'string' ? dataSource : undefined,
        );
      },
      // Optional, so that a missing TypeOrmModule.forRoot() is refused with its fix, not Nest's
      // generic "can't resolve dependencies".
      inject: [{ token: getDataSourceToken(dataSource), optional: true }],
    };
    const serviceToken = getApiKeyServiceToken(name);
    const serviceProvider: Provider = {
      provide: serviceToken,
      useFactory: (options: ResolvedApiKeyOptions<T>, repository, moduleRef: ModuleRef) =>
        createApiKeyService<T>(options, repository, moduleRef),
      // After the schema check: in notify mode the service starts its change listener at once,
      // which must find the change trigger the check creates, or it reports itself lost.
      inject: [
        getApiKeyOptionsToken(name),
        getApiKeyRepositoryToken(name),
        ModuleRef,
        getApiKeySchemaCheckToken(name),
      ],
    };
    // Once per registration at boot: a missing table stops it with the fix (see checkApiKeySchema).
    const schemaCheck: Provider = {
      provide: getApiKeySchemaCheckToken(name),
      useFactory: async (repository: Repository<T>, options: ResolvedApiKeyOptions<T>) => {
        await checkApiKeySchema(repository);
        await ensureChangeTrigger(repository, options);
      },
      inject: [getApiKeyRepositoryToken(name), getApiKeyOptionsToken(name)],
    };
    const guard = createApiKeyGuard(name);
    // The scanner refuses at boot any route whose API key decorators would not hold.
    const providers = [
      ...registrationCheckProviders(site),
      ...optionProviders,
      repositoryProvider,
      serviceProvider,
      schemaCheck,
      guard,
      ApiKeyRouteScanner,
    ];
    return {
      module: ApiKeyModule,
      global: where.isGlobal === true,
      imports,
      providers,
      exports: [getApiKeyOptionsToken(name), getApiKeyRepositoryToken(name), serviceToken, guard],
    };
  }
}
