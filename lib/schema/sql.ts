import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The columns of `AbstractApiKey` that hold instants. */
export const INSTANT_COLUMNS = [
  'created_at',
  'expires_at',
  'revoked_at',
  'last_used_at',
  'disabled_at',
  'last_refill_at',
  'expiry_notified_at',
] as const;

/** What PostgreSQL calls the column type that drops the offset of every instant written to it. */
export const ZONELESS_TIMESTAMP = 'timestamp without time zone';

/** The SQL dialects the revocation trigger is written for; other drivers get none. */
export type TriggerDialect = 'postgres' | 'mysql' | 'sqlite';

/** The trigger dialect of the query runner's driver, or `null` when it has none. */
export function triggerDialect(
  queryRunner: Pick<QueryRunner, 'connection'>,
): TriggerDialect | null {
  switch (queryRunner.connection.driver.options.type) {
    case 'postgres':
      return 'postgres';
    case 'mysql':
    case 'mariadb':
      return 'mysql';
    case 'better-sqlite3':
    case 'sqljs':
      return 'sqlite';
    default:
      return null;
  }
}

/** The name of the revocation trigger of `table` (and, on PostgreSQL, of its function). */
export function revocationTriggerName(table: string): string {
  return `${table}_revocation_is_final`;
}

const REVOKED = 'API key revocation cannot be undone';
const PREFIX = 'API key prefix cannot be changed';
const HASH = 'The hash of a revoked API key cannot be changed';

/**
 * Statements (re)creating the trigger that refuses, on any UPDATE of a key row, clearing
 * `revoked_at`, changing `prefix`, or changing `hashed_key` of a revoked key. Running them again
 * replaces the trigger, so they also upgrade the earlier trigger that only guarded `revoked_at`.
 * What a trigger on UPDATE cannot refuse (DELETE then INSERT, REPLACE, disabled triggers) is
 * listed in the README's Security section. `[]` for drivers without a trigger dialect.
 */
export function revocationTriggerStatements(queryRunner: QueryRunner, table: string): string[] {
  const trigger = revocationTriggerName(table);
  switch (triggerDialect(queryRunner)) {
    case 'postgres':
      return [
        `CREATE OR REPLACE FUNCTION "${trigger}"() RETURNS trigger AS $$ BEGIN ` +
          `IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NULL THEN RAISE EXCEPTION '${REVOKED}'; END IF; ` +
          `IF NEW.prefix IS DISTINCT FROM OLD.prefix THEN RAISE EXCEPTION '${PREFIX}'; END IF; ` +
          `IF OLD.revoked_at IS NOT NULL AND NEW.hashed_key IS DISTINCT FROM OLD.hashed_key THEN RAISE EXCEPTION '${HASH}'; END IF; ` +
          `RETURN NEW; END $$ LANGUAGE plpgsql`,
        `DROP TRIGGER IF EXISTS "${trigger}" ON "${table}"`,
        `CREATE TRIGGER "${trigger}" BEFORE UPDATE ON "${table}" FOR EACH ROW EXECUTE FUNCTION "${trigger}"()`,
      ];
    case 'mysql': {
      // BINARY: the default collations compare case-insensitively, and prefixes and hashes are not.
      const refuse = (message: string) => `SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '${message}'`;
      return [
        `DROP TRIGGER IF EXISTS \`${trigger}\``,
        `CREATE TRIGGER \`${trigger}\` BEFORE UPDATE ON \`${table}\` FOR EACH ROW BEGIN ` +
          `IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NULL THEN ${refuse(REVOKED)}; ` +
          `ELSEIF NOT (BINARY NEW.prefix <=> BINARY OLD.prefix) THEN ${refuse(PREFIX)}; ` +
          `ELSEIF OLD.revoked_at IS NOT NULL AND NOT (BINARY NEW.hashed_key <=> BINARY OLD.hashed_key) THEN ${refuse(HASH)}; ` +
          `END IF; END`,
      ];
    }
    case 'sqlite':
      return [
        `DROP TRIGGER IF EXISTS "${trigger}"`,
        `CREATE TRIGGER "${trigger}" BEFORE UPDATE ON "${table}" FOR EACH ROW BEGIN ` +
          `SELECT RAISE(ABORT, '${REVOKED}') WHERE OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NULL; ` +
          `SELECT RAISE(ABORT, '${PREFIX}') WHERE NEW.prefix IS NOT OLD.prefix; ` +
          `SELECT RAISE(ABORT, '${HASH}') WHERE OLD.revoked_at IS NOT NULL AND NEW.hashed_key IS NOT OLD.hashed_key; ` +
          'END',
      ];
    default:
      // Other drivers get the table without the trigger; the TypeORM subscriber still applies.
      return [];
  }
}

/** Statements dropping the revocation trigger of `table`, whichever version it is. */
export function dropRevocationTriggerStatements(queryRunner: QueryRunner, table: string): string[] {
  return dropTriggerStatements(queryRunner, table, revocationTriggerName(table));
}

/**
 * Statements dropping the trigger `trigger` of `table` (on PostgreSQL, and its function of the
 * same name). `[]` for drivers without a trigger dialect.
 */
export function dropTriggerStatements(
  queryRunner: QueryRunner,
  table: string,
  trigger: string,
): string[] {
  switch (triggerDialect(queryRunner)) {
    case 'postgres':
      return [
        `DROP TRIGGER IF EXISTS "${trigger}" ON "${table}"`,
        `DROP FUNCTION IF EXISTS "${trigger}"()`,
      ];
    case 'mysql':
      return [`DROP TRIGGER IF EXISTS \`${trigger}\``];
    case 'sqlite':
      return [`DROP TRIGGER IF EXISTS "${trigger}"`];
    default:
      return [];
  }
}

/**
 * Whether `table` has its revocation trigger; `null` on drivers that get none.
 *
 * @throws what the driver throws when the catalogue cannot be read
 */
export function hasRevocationTrigger(
  queryRunner: QueryRunner,
  table: string,
): Promise<boolean | null> {
  return hasTrigger(queryRunner, table, revocationTriggerName(table));
}

/**
 * Whether `table` has the trigger `trigger`; `null` on drivers without a trigger dialect.
 *
 * @throws what the driver throws when the catalogue cannot be read
 */
export async function hasTrigger(
  queryRunner: QueryRunner,
  table: string,
  trigger: string,
): Promise<boolean | null> {
  let rows: unknown[];
  switch (triggerDialect(queryRunner)) {
    case 'postgres':
      rows = await queryRunner.query(
        'SELECT 1 FROM pg_trigger WHERE tgname = $1 AND tgrelid = to_regclass($2)',
        [trigger, `"${table}"`],
      );
      break;
    case 'mysql':
      rows = await queryRunner.query(
        'SELECT 1 FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?',
        [trigger],
      );
      break;
    case 'sqlite':
      rows = await queryRunner.query(
        "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?",
        [trigger],
      );
      break;
    default:
      return null;
  }
  return rows.length > 0;
}

/**
 * The instant columns of `table` that are `timestamp without time zone` on PostgreSQL (always
 * none on other drivers, whose drivers store the instant unambiguously).
 */
export async function zonelessInstantColumns(
  queryRunner: QueryRunner,
  table: string,
  columns: readonly string[] = INSTANT_COLUMNS,
): Promise<string[]> {
  if (queryRunner.connection.driver.options.type !== 'postgres') return [];
  const found = await queryRunner.getTable(table);
  return (found?.columns ?? [])
    .filter((column) => columns.includes(column.name) && column.type === ZONELESS_TIMESTAMP)
    .map((column) => column.name);
}

/**
 * A migration class named `name`, as TypeORM needs it (its last 13 digits order migrations).
 *
 * @throws {TypeError} when `name` does not end with a 13-digit timestamp
 */
export function namedMigration(
  name: string,
  steps: Pick<MigrationInterface, 'up' | 'down'>,
): new () => MigrationInterface {
  if (!/\d{13}$/.test(name))
    throw new TypeError(`Migration name "${name}" must end with a 13-digit timestamp.`);
  const migration = class implements MigrationInterface {
    readonly name = name;
    up = steps.up;
    down = steps.down;
  };
  Object.defineProperty(migration, 'name', { value: name });
  return migration;
}

/** Runs `statements` one by one on `queryRunner`. */
export async function runStatements(queryRunner: QueryRunner, statements: string[]): Promise<void> {
  for (const statement of statements) await queryRunner.query(statement);
}
