import type { Logger, Type } from '@nestjs/common';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { onTestFinished } from 'vitest';
import {
  AbstractApiKey,
  ApiKey,
  API_KEY_SECRET_LENGTH,
  ApiKeyService,
  BcryptApiKeyHasher,
  type ApiKeyOptions,
} from '../../lib/index.js';
import { ensureChangeTrigger } from '../../lib/change-feed/setup.js';
import { checksumOf, generateKey } from '../../lib/keys/format.js';
import { registerRevocationSubscriber } from '../../lib/schema/subscriber.js';
import { wireApiKeys } from '../../lib/api-key.wiring.js';
import { createTestDatabase, type Engine, type TestDatabase } from './databases.js';
import { eventually, inNotifyProject, notifiedCache } from './revocation-sync-mode.js';

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

/**
 * A checksummed `key` with another secret and a correct checksum: unlike `withWrongSecret`'s, it
 * is read and hashed, and refused as a wrong secret (`bad_secret`), not for its checksum.
 */
export function withOtherSecret(key: string): string {
  const body = `${key.slice(0, -(API_KEY_SECRET_LENGTH + 6))}${generateKey().key.slice(-API_KEY_SECRET_LENGTH)}`;
  return body + checksumOf(body);
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
  /**
   * Writes a column of a stored row directly in SQL, bypassing the entity and its subscribers,
   * as another process would. In the notify project, returns once every service of this store
   * that had the row cached has heard the change, so that its next verify sees it.
   */
  rawUpdate(prefix: string, values: Record<string, unknown>, table?: string): Promise<void>;
  /**
   * After a change of the key `prefix` made outside a service (raw SQL, the repository, another
   * service of this store standing for another process): returns once every service of this
   * store in notify mode has heard it, so that its next verify sees it. At once in default mode,
   * where every verify reads the row.
   */
  settled(prefix: string): Promise<void>;
  /** Closes the connection and drops the database. */
  close(): Promise<void>;
}

/** Boot messages of the trigger made for a store, which tests do not need to see. */
const QUIET = { log: () => undefined } as unknown as Logger;

/**
 * Makes a database on `engine`, creates the tables of `entities` (synchronize), and registers
 * the revocation subscriber on each, as `ApiKeyModule` does. In the notify project it also
 * creates their change triggers, as `ApiKeyModule` does at boot in notify mode (`wireApiKeys`
 * leaves them to a migration). Always `close()` it in `afterAll`.
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
  for (const entity of entities) {
    registerRevocationSubscriber(dataSource, entity);
    if (inNotifyProject())
      await ensureChangeTrigger(
        dataSource.getRepository(entity),
        { revocationSync: 'notify' },
        QUIET,
      );
  }
  const services: ApiKeyService<any>[] = [];
  /** Plain SQL with `:named` parameters, translated to the driver's placeholder style. */
  const sql = (query: string, parameters: Record<string, unknown>) =>
    dataSource.query(...dataSource.driver.escapeQueryWithParameters(query, parameters));

  const settled = async (prefix: string): Promise<void> => {
    // Called right after the write: a row cached now was read before it, and is stale until
    // its notification (PostgreSQL) or the next poll of the change counter (MariaDB, SQLite)
    // drops it. A row read later is current.
    for (const cache of services.map(notifiedCache)) {
      const stale = cache?.get(prefix, cache.ticket());
      if (stale)
        await eventually(
          () => cache!.get(prefix, cache!.ticket()) !== stale,
          `the change of ${prefix} to be heard`,
        );
    }
  };

  return {
    db,
    dataSource,
    service<T extends AbstractApiKey = ApiKey>(options: ApiKeyOptions<T> = {}, entity?: Type<T>) {
      const { service } = wireApiKeys<T>({
        dataSource,
        options: { hasher: FAST_BCRYPT, ...options },
        entity,
      });
      services.push(service);
      const cache = notifiedCache(service);
      // In notify mode a service holds a listening connection of the pool (PostgreSQL) or polls:
      // one made in a test lives for that test, as a process would, lest they fill the pool.
      if (cache)
        try {
          onTestFinished(() => cache.close());
        } catch {
          // Made outside a test (beforeAll): closed with the store.
        }
      return service;
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
      // A write of last_used_at alone is never notified, and changes no verdict.
      if (!Object.keys(values).every((column) => column === 'last_used_at')) await settled(prefix);
    },
    settled,
    async close() {
      // As an app's shutdown does: stops the change listeners and pollers before the pool closes.
      await Promise.all(services.map((service) => notifiedCache(service)?.close()));
      if (dataSource.isInitialized) await dataSource.destroy();
      await db.drop();
    },
  };
}
