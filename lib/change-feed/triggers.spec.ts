import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { ApiKey } from '../api-key.entity.js';
import { createApiKeyNotifyMigration } from './migration.js';
import { hasChangeTrigger } from './triggers.js';

describe('createApiKeyNotifyMigration on SQLite', () => {
  it('creates the change counter and its triggers, and drops them on down', async () => {
    const dataSource = await new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      entities: [ApiKey],
      synchronize: true,
    }).initialize();
    const runner = dataSource.createQueryRunner();
    const run = (sql: string, parameters: unknown[]) => runner.query(sql, parameters);
    try {
      const migration = new (createApiKeyNotifyMigration())();
      await migration.up(runner);
      expect(await hasChangeTrigger(run, 'api_keys', 'sqlite')).toBe(true);
      expect(await runner.query('SELECT id, version FROM api_keys_changes')).toEqual([
        { id: 1, version: 0 },
      ]);
      await migration.down!(runner);
      expect(await hasChangeTrigger(run, 'api_keys', 'sqlite')).toBe(false);
      expect(await runner.hasTable('api_keys_changes')).toBe(false);
    } finally {
      await runner.release();
      await dataSource.destroy();
    }
  });
});
