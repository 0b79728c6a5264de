import {
  Table,
  TableIndex,
  type MigrationInterface,
  type QueryRunner,
  type TableColumnOptions,
  type TableForeignKeyOptions,
  type TableIndexOptions,
} from 'typeorm';

/**
 * The columns of `AbstractApiKey`, in the types the connected driver uses for them, so one
 * migration serves PostgreSQL, MySQL/MariaDB and SQLite.
 */
function apiKeyColumns(queryRunner: QueryRunner): TableColumnOptions[] {
  const driver = queryRunner.connection.driver;
  const timestamp = driver.normalizeType({ type: Date });
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
    { name: 'name', type: 'varchar', length: '100' },
    { name: 'scopes', type: text },
    instant('created_at', false),
    instant('expires_at', true),
    instant('revoked_at', true),
    instant('last_used_at', true),
  ];
}

/**
 * Statements creating a trigger that refuses any UPDATE clearing `revoked_at`, so revocation
 * stays final even against raw SQL, which the TypeORM subscriber cannot see.
 */
function revocationTrigger(
  queryRunner: QueryRunner,
  table: string,
): { up: string[]; down: string[] } {
  const trigger = `${table}_revocation_is_final`;
  const message = 'API key revocation cannot be undone';
  switch (queryRunner.connection.driver.options.type) {
    case 'postgres':
      return {
        up: [
          `CREATE FUNCTION "${trigger}"() RETURNS trigger AS $$ BEGIN IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NULL THEN RAISE EXCEPTION '${message}'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
          `CREATE TRIGGER "${trigger}" BEFORE UPDATE ON "${table}" FOR EACH ROW EXECUTE FUNCTION "${trigger}"()`,
        ],
        down: [
          `DROP TRIGGER IF EXISTS "${trigger}" ON "${table}"`,
          `DROP FUNCTION IF EXISTS "${trigger}"()`,
        ],
      };
    case 'mysql':
    case 'mariadb':
      return {
        up: [
          `CREATE TRIGGER \`${trigger}\` BEFORE UPDATE ON \`${table}\` FOR EACH ROW BEGIN IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NULL THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '${message}'; END IF; END`,
        ],
        down: [`DROP TRIGGER IF EXISTS \`${trigger}\``],
      };
    case 'better-sqlite3':
    case 'sqljs':
      return {
        up: [
          `CREATE TRIGGER "${trigger}" BEFORE UPDATE OF revoked_at ON "${table}" WHEN OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NULL BEGIN SELECT RAISE(ABORT, '${message}'); END`,
        ],
        down: [`DROP TRIGGER IF EXISTS "${trigger}"`],
      };
    default:
      // Other drivers get the table without the trigger; the TypeORM subscriber still applies.
      return { up: [], down: [] };
  }
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
 * A migration class creating an API key table with every column of `AbstractApiKey`, and, on
 * PostgreSQL, MySQL/MariaDB and SQLite, a trigger refusing any UPDATE that clears `revoked_at`
 * (so a plain UPDATE, even in raw SQL, cannot un-revoke a key). Use it for your own key
 * entity's table too, giving your own columns (an owner, say) in `columns`.
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
  const name = options.name ?? 'CreateApiKeys1764000000000';
  if (!/\d{13}$/.test(name))
    throw new TypeError(`Migration name "${name}" must end with a 13-digit timestamp.`);
  const migration = class implements MigrationInterface {
    readonly name = name;

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
      for (const statement of revocationTrigger(queryRunner, table).up)
        await queryRunner.query(statement);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      for (const statement of revocationTrigger(queryRunner, table).down)
        await queryRunner.query(statement);
      await queryRunner.dropTable(table);
    }
  };
  Object.defineProperty(migration, 'name', { value: name });
  return migration;
}

/**
 * The migration creating the built-in `api_keys` table. Add it to your data source's
 * `migrations` and run them, to use `synchronize: false`.
 *
 * @publicApi
 */
export const CreateApiKeys1764000000000 = createApiKeyTableMigration();
