/**
 * The shipped migration of usage analytics: the `api_key_usage` table of hourly counts.
 */
import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { namedMigration } from '../schema/sql.js';
import { USAGE_TABLE } from './sql.js';

/**
 * The table: one row per registration, key (`''` for unknown keys), hour (hours since the Unix
 * epoch, UTC) and outcome, holding how many requests had it. The primary key is what each flush's
 * upsert adds to; the index on (registration, hour) serves the prune and the busiest-keys view.
 */
export function usageTable(): Table {
  return new Table({
    name: USAGE_TABLE,
    columns: [
      { name: 'registration', type: 'varchar', length: '100', isPrimary: true },
      { name: 'key_id', type: 'varchar', length: '36', isPrimary: true },
      { name: 'hour', type: 'integer', isPrimary: true },
      { name: 'outcome', type: 'varchar', length: '20', isPrimary: true },
      { name: 'requests', type: 'bigint', default: 0 },
    ],
    indices: [
      new TableIndex({ name: 'IDX_api_key_usage_hour', columnNames: ['registration', 'hour'] }),
    ],
  });
}

/**
 * The migration creating the `api_key_usage` table of usage analytics, unless it exists (a boot
 * may have made it): list it among your data source's migrations, after `CreateApiKeys...`.
 *
 * @publicApi
 */
export const CreateApiKeyUsage1799020800000: new () => MigrationInterface = namedMigration(
  'CreateApiKeyUsage1799020800000',
  {
    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.createTable(usageTable(), true);
    },
    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.dropTable(USAGE_TABLE, true);
    },
  },
);
