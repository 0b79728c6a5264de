import 'reflect-metadata';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { ApiKey } from '../api-key.entity.js';
import { CreateApiKeys1764000000000 } from './migration.js';
import { UpgradeApiKeys1796083200000 } from './upgrade.js';
import { runMigrationsLocked } from './lock.js';

const RUNS = 6;

describe.each(['postgres', 'mariadb'] as const)('runMigrationsLocked on %s', (engine) => {
  let db: TestDatabase | undefined;
  const opened: DataSource[] = [];

  /** A process's data source on the shared database, with the shipped migrations, connected. */
  async function connect(): Promise<DataSource> {
    const dataSource = new DataSource({
      ...db!.options,
      entities: [ApiKey],
      migrations: [CreateApiKeys1764000000000, UpgradeApiKeys1796083200000],
      synchronize: false,
    } as DataSourceOptions);
    opened.push(dataSource);
    return dataSource.initialize();
  }

  afterEach(async () => {
    for (const dataSource of opened.splice(0))
      if (dataSource.isInitialized) await dataSource.destroy();
    await db?.drop();
  });

  it(`lets ${RUNS} processes started together on an empty database all succeed, the migrations run once`, async () => {
    db = await createTestDatabase(engine);
    const dataSources = await Promise.all(Array.from({ length: RUNS }, connect));
    const results = await Promise.allSettled(dataSources.map((ds) => runMigrationsLocked(ds)));
    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    const ran = results.flatMap((result) =>
      result.status === 'fulfilled' ? result.value.map((m) => m.name) : [],
    );
    expect(ran.sort()).toEqual(['CreateApiKeys1764000000000', 'UpgradeApiKeys1796083200000']);
    const [{ count }] = await dataSources[0].query('SELECT COUNT(*) AS count FROM migrations');
    expect(Number(count)).toBe(2);
  });

  it('releases the lock when a migration fails, so the next run can take it', async () => {
    db = await createTestDatabase(engine);
    const first = await connect();
    await first.query('CREATE TABLE api_keys (id int)');
    await expect(runMigrationsLocked(first)).rejects.toThrow();
    await first.query('DROP TABLE api_keys');
    const second = await connect();
    const ran = await runMigrationsLocked(second);
    expect(ran).toHaveLength(2);
  });
});
