import {
  Table,
  TableIndex,
  type MigrationInterface,
  type QueryRunner,
  type TableColumnOptions,
  type TableForeignKeyOptions,
  type TableIndexOptions,
} from 'typeorm';
import { SECRET_TAG_COLUMN } from './secret-tag.js';
import {
  dropRevocationTriggerStatements,
  namedMigration,
  revocationTriggerStatements,
  runStatements,
} from './sql.js';
import {
  dropEnableTriggerStatements,
  enableTriggerStatements,
  policyColumns,
} from '../policies/schema.js';

/**
 * The columns of `AbstractApiKey`, in the types the connected driver uses for them, so one
 * migration serves PostgreSQL, MySQL/MariaDB and SQLite. Instants are `timestamptz` on
 * PostgreSQL: its `timestamp` drops the offset the `pg` driver writes, so an instant written in
 * one time zone would be read back as another in a process running in a different one.
 */
function apiKeyColumns(queryRunner: QueryRunner): TableColumnOptions[] {
  const driver = queryRunner.connection.driver;
  const timestamp = driver.normalizeType({
    type: driver.options.type === 'postgres' ? 'timestamptz' : Date,
  });
  const text = driver.normalizeType({ type: 'simple-json' });
  const instant = (name: string, nullable: boolean): TableColumnOptions => ({
    name,
    type: timestamp,
    precision: 3,
    isNullable: nullable,
  });
  return [
    { name: 'id', type: 'varchar', length: '36', isPrimary: true },
    { name: 'prefix', type: 'varchar', length: '16' },
    { name: 'hashed_key', type: 'varchar', length: '255' },
    SECRET_TAG_COLUMN,
    { name: 'name', type: 'varchar', length: '100' },
    { name: 'scopes', type: text },
    instant('created_at', false),
    instant('expires_at', true),
    instant('revoked_at', true),
    instant('last_used_at', true),
    ...policyColumns(queryRunner),
  ];
}

/**
 * Options of `createApiKeyTableMigration()`.
 *
 * @publicApi
 */
export interface CreateApiKeyTableMigrationOptions {
  /** Table name. Default `api_keys`. */
  table?: string;
  /** Migration name; TypeORM orders migrations by its last 13 digits (a JS timestamp). */
  name?: string;
  /** Columns of your own key entity (an owner id, say), created with the table. */
  columns?: TableColumnOptions[];
  /** Foreign keys of those columns. */
  foreignKeys?: TableForeignKeyOptions[];
  /** Further indexes. */
  indices?: TableIndexOptions[];
}

/**
 * A migration class creating an API key table with every column of `AbstractApiKey` (instants
 * as `timestamptz` on PostgreSQL), and, on PostgreSQL, MySQL/MariaDB and SQLite, a trigger
 * refusing any UPDATE, raw SQL included, that clears `revoked_at`, changes `prefix`, or changes
 * `hashed_key` of a revoked key. It cannot refuse a revoked row deleted and inserted again
 * (DELETE then INSERT, SQLite's INSERT OR REPLACE, MySQL's REPLACE), nor writes made with
 * triggers disabled (PostgreSQL's `session_replication_role = replica`, say): it stops mistakes
 * and bugs, not someone with raw write access to the table, who can mint keys anyway. Use it for
 * your own key entity's table too, giving your own columns (an owner, say) in `columns`.
 *
 * @example
 * ```ts
 * export const CreatePartnerApiKeys1767225600000 = createApiKeyTableMigration({
 *   table: 'partner_api_keys',
 *   name: 'CreatePartnerApiKeys1767225600000',
 *   columns: [{ name: 'partner_id', type: 'varchar', length: '36' }],
 *   foreignKeys: [{ columnNames: ['partner_id'], referencedTableName: 'partners', referencedColumnNames: ['id'], onDelete: 'CASCADE' }],
 * });
 * ```
 * Give them here rather than in a later migration: on SQLite, TypeORM adds a column by
 * rebuilding the table, which loses the revocation trigger.
 *
 * @publicApi
 */
export function createApiKeyTableMigration(
  options: CreateApiKeyTableMigrationOptions = {},
): new () => MigrationInterface {
  const table = options.table ?? 'api_keys';
  return namedMigration(options.name ?? 'CreateApiKeys1764000000000', {
    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.createTable(
        new Table({
          name: table,
          columns: [...apiKeyColumns(queryRunner), ...(options.columns ?? [])],
          foreignKeys: options.foreignKeys,
          indices: options.indices,
        }),
      );
      await queryRunner.createIndex(
        table,
        new TableIndex({
          name: queryRunner.connection.namingStrategy.indexName(table, ['prefix']),
          columnNames: ['prefix'],
          isUnique: true,
        }),
      );
      await runStatements(queryRunner, revocationTriggerStatements(queryRunner, table));
      await runStatements(queryRunner, enableTriggerStatements(queryRunner, table));
    },

    async down(queryRunner: QueryRunner): Promise<void> {
      await runStatements(queryRunner, dropRevocationTriggerStatements(queryRunner, table));
      await runStatements(queryRunner, dropEnableTriggerStatements(queryRunner, table));
      await queryRunner.dropTable(table);
    },
  });
}

/**
 * The migration creating the built-in `api_keys` table. Add it to your data source's
 * `migrations` and run them, to use `synchronize: false`.
 *
 * @publicApi
 */
export const CreateApiKeys1764000000000 = createApiKeyTableMigration();
