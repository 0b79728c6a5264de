import 'reflect-metadata';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { FAST_BCRYPT } from '../../test/support/key-store.js';
import { ApiKey } from '../api-key.entity.js';
import { CreateApiKeys1764000000000 } from './migration.js';
import { wireApiKeys } from '../api-key.wiring.js';

/**
 * The revocation trigger in raw SQL: the UPDATEs it refuses on each engine, and the ways of
 * replacing a row it cannot see, which the README's Security section lists.
 */
describe.each(ENGINES)('the revocation trigger on %s', (engine) => {
  let db: TestDatabase;
  let dataSource: DataSource | undefined;

  /** A data source on the suite's database with the shipped table migration run. */
  async function migrated(): Promise<DataSource> {
    dataSource = new DataSource({
      ...db.options,
      entities: [ApiKey],
      migrations: [CreateApiKeys1764000000000],
      synchronize: false,
    } as DataSourceOptions);
    await dataSource.initialize();
    await dataSource.runMigrations();
    return dataSource;
  }

  beforeAll(async () => {
    db = await createTestDatabase(engine);
  });
  afterEach(async () => {
    await dataSource?.undoLastMigration();
    await dataSource?.destroy();
    dataSource = undefined;
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('refuses, even in raw SQL, changing a prefix or the hash of a revoked key, and still lets an active key be rehashed', async () => {
    const ds = await migrated();
    const service = wireApiKeys({
      dataSource: ds,
      options: { hasher: FAST_BCRYPT, usageTracking: false },
    }).service;
    const revoked = (await service.create({ name: 'revoked' })).apiKey;
    const active = (await service.create({ name: 'active' })).apiKey;
    await service.revoke(revoked.id);
    const table = ds.driver.escape('api_keys');
    const [p1, p2] = engine === 'postgres' ? ['$1', '$2'] : ['?', '?'];
    const update = (set: string, values: unknown[]) =>
      ds.query(`UPDATE ${table} SET ${set} WHERE id = ${p2}`, values);
    const hashOf = async (id: string) =>
      (await ds.query(`SELECT hashed_key FROM ${table} WHERE id = ${p1}`, [id]))[0].hashed_key;
    const revokedHash = await hashOf(revoked.id);

    // Moving the revoked key's prefix onto an active row, or its hash, would let it in again.
    await expect(update(`prefix = ${p1}`, ['Zz9Zz9Zz', revoked.id])).rejects.toThrow(
      /prefix cannot be changed/,
    );
    await expect(update(`prefix = ${p1}`, [revoked.prefix, active.id])).rejects.toThrow(
      /prefix cannot be changed/,
    );
    await expect(
      update(`hashed_key = ${p1}`, [await hashOf(active.id), revoked.id]),
    ).rejects.toThrow(/hash of a revoked API key cannot be changed/);
    // A case-only change is a change: MariaDB's default collation would call them equal.
    await expect(
      update(`prefix = ${p1}`, [
        active.prefix.toUpperCase() === active.prefix
          ? active.prefix.toLowerCase()
          : active.prefix.toUpperCase(),
        active.id,
      ]),
    ).rejects.toThrow(/prefix cannot be changed/);
    // What rehashing does to an active key, and what usage tracking does to any key, still works.
    await update(`hashed_key = ${p1}`, ['rehashed', active.id]);
    await update(`last_used_at = ${p1}`, ['2026-01-01 00:00:00.000', revoked.id]);
    expect(await hashOf(active.id)).toBe('rehashed');
    expect(await hashOf(revoked.id)).toBe(revokedHash);
  });

  it('cannot refuse a revoked row deleted and inserted again (README, Security)', async () => {
    const ds = await migrated();
    const service = wireApiKeys({
      dataSource: ds,
      options: { hasher: FAST_BCRYPT, usageTracking: false },
    }).service;
    const { apiKey, key } = await service.create({ name: 'revived' });
    await service.revoke(apiKey.id);
    const table = ds.driver.escape('api_keys');
    const p = (n: number) => (engine === 'postgres' ? `$${n}` : '?');
    const [row] = await ds.query(`SELECT * FROM ${table} WHERE id = ${p(1)}`, [apiKey.id]);
    const columns = 'id, prefix, hashed_key, name, scopes, created_at';
    const values = [row.id, row.prefix, row.hashed_key, row.name, row.scopes, row.created_at];
    const placeholders = values.map((_, i) => p(i + 1)).join(', ');
    // The trigger sees UPDATEs only. Each engine's way of replacing a row:
    if (engine === 'postgres') {
      await ds.query(`DELETE FROM ${table} WHERE id = $1`, [apiKey.id]);
      await ds.query(`INSERT INTO ${table} (${columns}) VALUES (${placeholders})`, values);
    } else {
      const replace = engine === 'sqlite' ? 'INSERT OR REPLACE' : 'REPLACE';
      await ds.query(`${replace} INTO ${table} (${columns}) VALUES (${placeholders})`, values);
    }
    expect(await service.isValid(key)).toBe(true);
  });
});
