import type { Type } from '@nestjs/common';
import { DataSource, type DataSourceOptions } from 'typeorm';
import {
  AbstractApiKey,
  ApiKey,
  ApiKeyService,
  BcryptApiKeyHasher,
  type ApiKeyOptions,
} from '../../lib/index.js';
import { registerRevocationSubscriber } from '../../lib/api-key.subscriber.js';
import { wireApiKeys } from '../../lib/api-key.wiring.js';
import { createTestDatabase, type Engine, type TestDatabase } from './databases.js';

/** bcrypt at its lowest cost: the same algorithm as production, at a speed tests can afford. */
export const FAST_BCRYPT = new BcryptApiKeyHasher({ cost: 4 });

/**
 * `key` with its last character replaced by another: the same prefix, a secret that is always
 * wrong. (Appending a fixed character after dropping the last one gives the key back whenever
 * it already ended in that character, one run in 62.)
 */
export function withWrongSecret(key: string): string {
  return key.slice(0, -1) + (key.endsWith('x') ? 'y' : 'x');
}

/** A fresh database holding key tables, for tests of the service without booting Nest. */
export interface KeyStore {
  db: TestDatabase;
  dataSource: DataSource;
  /**
   * A new `ApiKeyService` over this store, built from `options` by `wireApiKeys`, with the
   * checks and defaults of `ApiKeyModule.forRoot`. The hasher is
   * bcrypt cost 4 unless `options.hasher` says otherwise. Each call gets its own memo, like a
   * separate process would.
   */
  service<T extends AbstractApiKey = ApiKey>(
    options?: ApiKeyOptions<T>,
    entity?: Type<T>,
  ): ApiKeyService<T>;
  /** The stored row of a key, as the database driver returns it, with every column. */
  rawRow(prefix: string, table?: string): Promise<Record<string, unknown> | undefined>;
  /** Writes a column of a stored row directly in SQL, bypassing the entity and its subscribers. */
  rawUpdate(prefix: string, values: Record<string, unknown>, table?: string): Promise<void>;
  /** Closes the connection and drops the database. */
  close(): Promise<void>;
}

/**
 * Makes a database on `engine`, creates the tables of `entities` (synchronize), and registers
 * the revocation subscriber on each, as `ApiKeyModule` does. Always `close()` it in `afterAll`.
 */
export async function openKeyStore(
  engine: Engine,
  entities: Type<AbstractApiKey>[] = [ApiKey],
  extra: Partial<DataSourceOptions> = {},
): Promise<KeyStore> {
  const db = await createTestDatabase(engine);
  const dataSource = new DataSource({
    ...db.options,
    entities,
    synchronize: true,
    ...extra,
  } as DataSourceOptions);
  try {
    await dataSource.initialize();
  } catch (error) {
    await db.drop();
    throw error;
  }
  for (const entity of entities) registerRevocationSubscriber(dataSource, entity);
  /** Plain SQL with `:named` parameters, translated to the driver's placeholder style. */
  const sql = (query: string, parameters: Record<string, unknown>) =>
    dataSource.query(...dataSource.driver.escapeQueryWithParameters(query, parameters));

  return {
    db,
    dataSource,
    service<T extends AbstractApiKey = ApiKey>(options: ApiKeyOptions<T> = {}, entity?: Type<T>) {
      return wireApiKeys<T>({ dataSource, options: { hasher: FAST_BCRYPT, ...options }, entity })
        .service;
    },
    async rawRow(prefix, table = 'api_keys') {
      const rows = await sql(
        `SELECT * FROM ${dataSource.driver.escape(table)} WHERE prefix = :prefix`,
        { prefix },
      );
      return rows[0];
    },
    async rawUpdate(prefix, values, table = 'api_keys') {
      const assignments = Object.keys(values).map(
        (column) => `${dataSource.driver.escape(column)} = :${column}`,
      );
      await sql(
        `UPDATE ${dataSource.driver.escape(table)} SET ${assignments.join(', ')} WHERE prefix = :prefix`,
        { ...values, prefix },
      );
    },
    async close() {
      if (dataSource.isInitialized) await dataSource.destroy();
      await db.drop();
    },
  };
}
