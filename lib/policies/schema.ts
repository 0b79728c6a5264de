/**
 * The policy columns of the key table (suspension, IP allow-list, credits, expiry notices), the
 * trigger that keeps a revoked key from being enabled, and the migration adding both to a table
 * made before them.
 */
import { Logger } from '@nestjs/common';
import {
  TableColumn,
  type MigrationInterface,
  type QueryRunner,
  type TableColumnOptions,
} from 'typeorm';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { changeTriggerStatements, hasChangeTrigger } from '../change-feed/triggers.js';
import {
  dropTriggerStatements,
  hasTrigger,
  namedMigration,
  runStatements,
  triggerDialect,
} from '../schema/sql.js';

/** The policy columns, by database name: what each holds. */
const POLICY_COLUMNS = {
  disabled_at: 'instant',
  allowed_ips: 'text',
  remaining: 'integer',
  refill_amount: 'integer',
  refill_interval: 'interval',
  last_refill_at: 'instant',
  expiry_notified_at: 'instant',
} as const;

/** The names of the policy columns. */
export const POLICY_COLUMN_NAMES = Object.keys(POLICY_COLUMNS);

/**
 * The policy columns as `createApiKeyTableMigration` creates them, in the connected driver's
 * types (instants as `timestamptz` on PostgreSQL), all nullable: `null` is "no such policy".
 */
export function policyColumns(queryRunner: QueryRunner): TableColumnOptions[] {
  const driver = queryRunner.connection.driver;
  const instant = driver.normalizeType({
    type: driver.options.type === 'postgres' ? 'timestamptz' : Date,
  });
  const text = driver.normalizeType({ type: 'simple-json' });
  return Object.entries(POLICY_COLUMNS).map(([name, kind]) => {
    if (kind === 'instant') return { name, type: instant, precision: 3, isNullable: true };
    if (kind === 'text') return { name, type: text, isNullable: true };
    if (kind === 'integer') return { name, type: 'integer', isNullable: true };
    return { name, type: 'varchar', length: '8', isNullable: true };
  });
}

/** The column type written in `ALTER TABLE ... ADD COLUMN` for a policy column, per dialect. */
function sqlType(dialect: 'postgres' | 'mysql' | 'sqlite', kind: string): string {
  if (kind === 'instant')
    return { postgres: 'timestamp(3) with time zone', mysql: 'datetime(3)', sqlite: 'datetime' }[
      dialect
    ];
  if (kind === 'integer') return dialect === 'mysql' ? 'int' : 'integer';
  if (kind === 'interval') return 'varchar(8)';
  return 'text';
}

/** The name of the trigger refusing to enable a revoked key (and, on PostgreSQL, of its function). */
export function enableTriggerName(table: string): string {
  return `${table}_revoked_stays_disabled`;
}

const ENABLE_REVOKED = 'A revoked API key cannot be enabled';

/**
 * Statements (re)creating the trigger that refuses, on any UPDATE, clearing `disabled_at` of a
 * revoked key. `[]` for drivers without a trigger dialect.
 */
export function enableTriggerStatements(queryRunner: QueryRunner, table: string): string[] {
  const trigger = enableTriggerName(table);
  const when =
    'OLD.revoked_at IS NOT NULL AND OLD.disabled_at IS NOT NULL AND NEW.disabled_at IS NULL';
  switch (triggerDialect(queryRunner)) {
    case 'postgres':
      return [
        `CREATE OR REPLACE FUNCTION "${trigger}"() RETURNS trigger AS $$ BEGIN ` +
          `IF ${when} THEN RAISE EXCEPTION '${ENABLE_REVOKED}'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
        `DROP TRIGGER IF EXISTS "${trigger}" ON "${table}"`,
        `CREATE TRIGGER "${trigger}" BEFORE UPDATE ON "${table}" FOR EACH ROW EXECUTE FUNCTION "${trigger}"()`,
      ];
    case 'mysql':
      return [
        `DROP TRIGGER IF EXISTS \`${trigger}\``,
        `CREATE TRIGGER \`${trigger}\` BEFORE UPDATE ON \`${table}\` FOR EACH ROW BEGIN ` +
          `IF ${when} THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '${ENABLE_REVOKED}'; END IF; END`,
      ];
    case 'sqlite':
      return [
        `DROP TRIGGER IF EXISTS "${trigger}"`,
        `CREATE TRIGGER "${trigger}" BEFORE UPDATE ON "${table}" FOR EACH ROW BEGIN ` +
          `SELECT RAISE(ABORT, '${ENABLE_REVOKED}') WHERE ${when}; END`,
      ];
    default:
      return [];
  }
}

/** Statements dropping the trigger of `enableTriggerStatements`. */
export function dropEnableTriggerStatements(queryRunner: QueryRunner, table: string): string[] {
  return dropTriggerStatements(queryRunner, table, enableTriggerName(table));
}

/** Whether `table` has the trigger of `enableTriggerStatements`; `null` on drivers without one. */
function hasEnableTrigger(queryRunner: QueryRunner, table: string): Promise<boolean | null> {
  return hasTrigger(queryRunner, table, enableTriggerName(table));
}

/** The policy columns `table` lacks. */
async function missingPolicyColumns(queryRunner: QueryRunner, table: string): Promise<string[]> {
  const found = await queryRunner.getTable(table);
  const present = new Set(found?.columns.map((column) => column.name) ?? []);
  return POLICY_COLUMN_NAMES.filter((name) => !present.has(name));
}

/**
 * Adds the policy columns `table` lacks, by `ALTER TABLE ... ADD COLUMN` (on SQLite too, where
 * TypeORM's `addColumn` would rebuild the table and lose its triggers), then (re)creates the
 * trigger refusing to enable a revoked key, and, where `revocationSync: 'notify'` counts changes
 * by triggers comparing columns (MariaDB/MySQL, SQLite), remakes them so the new columns count.
 */
async function addPolicyColumns(queryRunner: QueryRunner, table: string): Promise<void> {
  const dialect = triggerDialect(queryRunner);
  const missing = await missingPolicyColumns(queryRunner, table);
  const columns = policyColumns(queryRunner).filter((column) => missing.includes(column.name));
  for (const column of columns) {
    const kind = POLICY_COLUMNS[column.name as keyof typeof POLICY_COLUMNS];
    if (dialect === null) {
      await queryRunner.addColumn(table, new TableColumn(column));
    } else {
      const q = (name: string) => queryRunner.connection.driver.escape(name);
      await queryRunner.query(
        `ALTER TABLE ${q(table)} ADD COLUMN ${q(column.name)} ${sqlType(dialect, kind)} NULL`,
      );
    }
  }
  await runStatements(queryRunner, enableTriggerStatements(queryRunner, table));
  if (dialect === 'mysql' || dialect === 'sqlite') {
    const run = (sql: string, parameters: unknown[]) => queryRunner.query(sql, parameters);
    if (await hasChangeTrigger(run, table, dialect))
      await runStatements(queryRunner, await changeTriggerStatements(queryRunner, table));
  }
}

/**
 * Options of `createApiKeyPoliciesMigration()`.
 *
 * @publicApi
 */
export interface CreateApiKeyPoliciesMigrationOptions {
  /** Table name. Default `api_keys`. */
  table?: string;
  /** Migration name; TypeORM orders migrations by its last 13 digits (a JS timestamp). */
  name?: string;
}

/**
 * A migration adding the key policies (docs/policies.md) to a key table made before them: the
 * nullable columns `disabled_at`, `allowed_ips`, `remaining`, `refill_amount`, `refill_interval`,
 * `last_refill_at` and `expiry_notified_at` (only those missing, so it is harmless on a table
 * made by the current `createApiKeyTableMigration`), and the trigger refusing to enable a
 * revoked key. Every existing key gets `null` in each: no policy, working as before. `down()`
 * drops the trigger and the columns.
 *
 * @example
 * ```ts
 * export const AddPartnerApiKeyPolicies1798848000001 = createApiKeyPoliciesMigration({
 *   table: 'partner_api_keys',
 *   name: 'AddPartnerApiKeyPolicies1798848000001',
 * });
 * ```
 * @throws {TypeError} when `name` lacks its 13-digit timestamp
 * @publicApi
 */
export function createApiKeyPoliciesMigration(
  options: CreateApiKeyPoliciesMigrationOptions = {},
): new () => MigrationInterface {
  const table = options.table ?? 'api_keys';
  return namedMigration(options.name ?? 'AddApiKeyPolicies1798848000000', {
    async up(queryRunner: QueryRunner): Promise<void> {
      await addPolicyColumns(queryRunner, table);
    },
    async down(queryRunner: QueryRunner): Promise<void> {
      await runStatements(queryRunner, dropEnableTriggerStatements(queryRunner, table));
      for (const name of [...POLICY_COLUMN_NAMES].reverse())
        if (await queryRunner.hasColumn(table, name)) await queryRunner.dropColumn(table, name);
    },
  });
}

/**
 * The policies migration of the built-in `api_keys` table (see `createApiKeyPoliciesMigration`):
 * list it after `CreateApiKeys1764000000000` and `UpgradeApiKeys1796083200000`.
 *
 * @publicApi
 */
export const AddApiKeyPolicies1798848000000 = createApiKeyPoliciesMigration();

/**
 * At boot: a key table without the policy columns stops the boot with its fix (every key
 * lookup would fail otherwise), and a table without the enable trigger (as `synchronize`
 * leaves it) gets it.
 *
 * @throws {ApiKeyConfigurationError} when policy columns are missing
 */
export async function checkPolicySchema(
  queryRunner: QueryRunner,
  table: string,
  logger: Logger = new Logger('ApiKeyModule'),
): Promise<void> {
  const missing = await missingPolicyColumns(queryRunner, table);
  if (missing.length > 0)
    throw new ApiKeyConfigurationError(
      'dataSource',
      `the table "${table}" lacks the key policy columns ${missing.join(', ')}.`,
      `add ${table === 'api_keys' ? 'AddApiKeyPolicies1798848000000 (from nestjs-api-key)' : `a migration made by createApiKeyPoliciesMigration({ table: '${table}', ... })`} to the data source's migrations and run them.`,
    );
  if ((await hasEnableTrigger(queryRunner, table)) !== false) return;
  try {
    await runStatements(queryRunner, enableTriggerStatements(queryRunner, table));
    logger.log(`Created the trigger keeping revoked keys of table "${table}" from being enabled.`);
  } catch (error) {
    // Another instance booting at the same moment may have created it first.
    if (await hasEnableTrigger(queryRunner, table)) return;
    logger.warn(
      `Table "${table}" has no trigger keeping revoked keys from being enabled, and it could not ` +
        `be created (${(error as Error)?.message}); the service still refuses it.`,
    );
  }
}
