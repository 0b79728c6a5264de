import type { Type } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import type { DataSource, Repository } from 'typeorm';
import type { AbstractApiKey, ApiKey } from './api-key.entity.js';
import { ApiKeyConfigurationError } from './api-key.errors.js';
import { type ApiKeyOptions, type ResolvedApiKeyOptions } from './api-key.options.js';
import { resolveApiKeyOptions, validateRegistration } from './options/resolve.js';
import { ApiKeyService } from './api-key.service.js';
import { registerRevocationSubscriber } from './schema/subscriber.js';
import { describeUnknownWhereProperty, findUnknownWhereProperty } from './store/where.js';

/**
 * What `wireApiKeys` builds a service from.
 *
 * @publicApi
 */
export interface ApiKeyWiringInput<T extends AbstractApiKey = ApiKey> {
  /** An initialised TypeORM data source that has the key entity among its entities. */
  dataSource: DataSource;
  /** Key options, as given to `ApiKeyModule.forRoot()` less its registration fields. Default `{}`. */
  options?: ApiKeyOptions<T> | null;
  /** Registration name, as in `ApiKeyModule.forRoot()`. Default `default`. */
  name?: string;
  /** Key entity, a subclass of `AbstractApiKey` decorated with `@Entity`. Default `ApiKey`. */
  entity?: Type<T>;
}

/**
 * One registration's parts, wired together as `ApiKeyModule` wires them.
 *
 * @publicApi
 */
export interface ApiKeyWiring<T extends AbstractApiKey = ApiKey> {
  /** The options with every default filled in. */
  options: ResolvedApiKeyOptions<T>;
  /** The key entity's repository, with revocation locked by the revocation subscriber. */
  repository: Repository<T>;
  /** A service over that repository with those options. */
  service: ApiKeyService<T>;
}

/**
 * Builds an `ApiKeyService` over a data source without Nest, for scripts, workers and the CLI:
 * the same checks, defaults and revocation lock as `ApiKeyModule.forRoot()`. Each call gets its
 * own service, with its own memo. Call `service.beforeApplicationShutdown()` before destroying
 * the data source, so last-use marks still pending are written.
 *
 * @example
 * ```ts
 * await dataSource.initialize();
 * const { service } = wireApiKeys({ dataSource, options: { brand: 'sk_live_' } });
 * const { key } = await service.create({ name: 'nightly export' });
 * ```
 * @throws {ApiKeyConfigurationError} naming the option at fault and the fix, as the module does at boot
 * @publicApi
 */
export function wireApiKeys<T extends AbstractApiKey = ApiKey>(
  input: ApiKeyWiringInput<T>,
): ApiKeyWiring<T> {
  const registration = validateRegistration<T>(input);
  const options = resolveApiKeyOptions<T>(input.options, registration);
  const repository = getApiKeyRepository(input.dataSource, registration.entity);
  return { options, repository, service: createApiKeyService<T>(options, repository) };
}

/**
 * A service over a key entity's repository, once `usableWhere` is known to name only columns
 * and relations the entity has (a name it lacks would otherwise make every lookup fail, and
 * every valid key get a 503).
 *
 * @param moduleRef the module's, in Nest: where events find `@nestjs/event-emitter`'s bus
 * @throws {ApiKeyConfigurationError} naming the path of `usableWhere` the entity lacks
 */
export function createApiKeyService<T extends AbstractApiKey>(
  options: ResolvedApiKeyOptions<T>,
  repository: Repository<T>,
  moduleRef?: ModuleRef,
): ApiKeyService<T> {
  const unknown = findUnknownWhereProperty(repository.metadata, options.usableWhere, 'usableWhere');
  if (unknown) {
    const { problem, fix } = describeUnknownWhereProperty(unknown);
    throw new ApiKeyConfigurationError('usableWhere', problem, fix);
  }
  return new ApiKeyService<T>(options, repository, moduleRef);
}

/**
 * The repository of a key entity, once the data source is known to hold the entity and has its
 * revocation subscriber (registered once, however often this runs).
 *
 * @param dataSourceName how the error names the data source
 * @throws {ApiKeyConfigurationError} when the data source does not have the entity
 */
export function getApiKeyRepository<T extends AbstractApiKey>(
  dataSource: DataSource,
  entity: Type<T>,
  dataSourceName = 'default',
): Repository<T> {
  if (!dataSource.hasMetadata(entity)) {
    throw new ApiKeyConfigurationError(
      'entity',
      `${entity.name} is not an entity of the TypeORM data source "${dataSourceName}".`,
      `set autoLoadEntities: true in TypeOrmModule.forRoot(), or add ${entity.name} to its entities list.`,
    );
  }
  registerRevocationSubscriber(dataSource, entity);
  return dataSource.getRepository(entity);
}
