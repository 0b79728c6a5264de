import type { MigrationInterface, QueryRunner, TableColumnOptions } from 'typeorm';
import { namedMigration } from './sql.js';

/** The column of `AbstractApiKey.secretTag`, as the table migrations create it. */
export const SECRET_TAG_COLUMN: TableColumnOptions = {
  name: 'secret_tag',
  type: 'varchar',
  length: '16',
  isNullable: true,
};

/**
 * Options of `createApiKeySecretTagMigration()`.
 *
 * @publicApi
 */
export interface CreateApiKeySecretTagMigrationOptions {
  /** Table name. Default `api_keys`. */
  table?: string;
  /** Migration name; TypeORM orders migrations by its last 13 digits (a JS timestamp). */
  name?: string;
}

/**
 * A migration class adding the nullable `secret_tag` column to an API key table made by an
 * earlier `createApiKeyTableMigration`, on PostgreSQL, MySQL/MariaDB and SQLite. The tag lets a
 * wrong secret be refused without the slow hash (see docs/verification.md). Existing keys keep
 * a `null` tag until their next successful check, which stores it.
 *
 * A table that already has the column is left alone, so list it after the table's creation in
 * every data source. The column is added in place (`ALTER TABLE ... ADD COLUMN`): on SQLite the
 * table is not rebuilt, so its triggers stay. `down()` drops the column.
 *
 * @example
 * ```ts
 * export const AddPartnerApiKeySecretTags1796515200001 = createApiKeySecretTagMigration({
 *   table: 'partner_api_keys',
 *   name: 'AddPartnerApiKeySecretTags1796515200001',
 * });
 * ```
 * @throws {TypeError} when `name` lacks its 13-digit timestamp
 * @publicApi
 */
export function createApiKeySecretTagMigration(
  options: CreateApiKeySecretTagMigrationOptions = {},
): new () => MigrationInterface {
  const table = options.table ?? 'api_keys';
  const { name: column, length } = SECRET_TAG_COLUMN;
  /** `table` and the column, quoted for the connected driver. */
  const names = ({ connection: { driver } }: QueryRunner) => [
    driver.escape(table),
    driver.escape(column),
  ];
  return namedMigration(options.name ?? 'AddApiKeySecretTags1796515200000', {
    async up(queryRunner: QueryRunner): Promise<void> {
      if (await queryRunner.hasColumn(table, column)) return;
      const [quotedTable, quotedColumn] = names(queryRunner);
      await queryRunner.query(
        `ALTER TABLE ${quotedTable} ADD COLUMN ${quotedColumn} varchar(${length})`,
      );
    },

    async down(queryRunner: QueryRunner): Promise<void> {
      if (!(await queryRunner.hasColumn(table, column))) return;
      const [quotedTable, quotedColumn] = names(queryRunner);
      await queryRunner.query(`ALTER TABLE ${quotedTable} DROP COLUMN ${quotedColumn}`);
    },
  });
}

/**
 * Adds `secret_tag` to the built-in `api_keys` table made by an earlier
 * `CreateApiKeys1764000000000` (see `createApiKeySecretTagMigration`): list it after
 * `CreateApiKeys1764000000000` in your data source's `migrations`.
 *
 * @publicApi
 */
export const AddApiKeySecretTags1796515200000 = createApiKeySecretTagMigration();
