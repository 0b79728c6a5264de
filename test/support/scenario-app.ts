import { Controller, Get, UseGuards, type DynamicModule, type Type } from '@nestjs/common';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import { ApiKeyGuard, CurrentApiKey, type ApiKey } from '../../lib/index.js';

/**
 * A scenario's TypeORM data source on `database`, creating on start the tables of every entity
 * its modules register (`ApiKeyModule`'s key entity among them). `options` adds to or
 * overrides those settings.
 */
export function typeOrmFor(
  database: DataSourceOptions,
  options: Partial<TypeOrmModuleOptions> = {},
): DynamicModule {
  return TypeOrmModule.forRoot({
    ...database,
    autoLoadEntities: true,
    synchronize: true,
    ...options,
  } as TypeOrmModuleOptions);
}

/** A private in-memory SQLite database, for unit specs that boot a Nest app. */
export const IN_MEMORY_SQLITE: DataSourceOptions = { type: 'better-sqlite3', database: ':memory:' };

/**
 * A controller at `path` behind `ApiKeyGuard` whose GET answers `{ prefix }` of the key that got
 * in: the route a scenario needs when what it tests is whether a request gets in.
 */
export function keyPrefixController(path: string): Type {
  @Controller(path)
  @UseGuards(ApiKeyGuard)
  class KeyPrefixController {
    @Get()
    prefix(@CurrentApiKey() apiKey: ApiKey) {
      return { prefix: apiKey.prefix };
    }
  }
  return KeyPrefixController;
}
