import type { MigrationInterface, QueryRunner } from 'typeorm';
import {
  namedMigration,
  revocationTriggerStatements,
  runStatements,
  zonelessInstantColumns,
} from './sql.js';

/**
 * Options of `createApiKeyUpgradeMigration()`.
 *
 * @publicApi
 */
export interface CreateApiKeyUpgradeMigrationOptions {
  /** Table name. Default `api_keys`. */
  table?: string;
  /** Migration name; TypeORM orders migrations by its last 13 digits (a JS timestamp). */
  name?: string;
  /**
   * PostgreSQL only: the IANA time zone (`Europe/Paris`, `UTC`) of the processes that wrote the
   * table's rows, which the `pg` driver wrote as wall-clock times of that zone. Default: the
   * time zone of the process running the migration, `Intl.DateTimeFormat().resolvedOptions().timeZone`
   * (the `TZ` variable, else the system's), so run it where the application runs.
   */
  writtenInTimeZone?: string;
}

/**
 * The zone `given`, or the running process's.
 *
 * @throws {TypeError} when `given` is not a time zone this runtime knows
 */
function timeZone(given: string | undefined): string {
  const zone = given ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  try {
    return new Intl.DateTimeFormat('en', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    throw new TypeError(`writtenInTimeZone "${zone}" is not an IANA time zone, e.g. Europe/Paris.`);
  }
}

/**
 * A migration class upgrading an API key table made by an earlier `createApiKeyTableMigration`:
 *
 * - on PostgreSQL, it turns each instant column still `timestamp without time zone` into
 *   `timestamptz`, reading the stored wall-clock times in `writtenInTimeZone` (`ALTER COLUMN ...
 *   TYPE timestamptz USING column AT TIME ZONE zone`), so every key keeps its instants;
 * - on PostgreSQL, MySQL/MariaDB and SQLite, it replaces the revocation trigger with one that
 *   also refuses changing `prefix`, and `hashed_key` of a revoked key.
 *
 * Columns already `timestamptz` are left alone, so it is harmless on a table made by the current
 * `createApiKeyTableMigration`: list it after the table's creation in every data source. On
 * SQLite it also restores a trigger lost when TypeORM rebuilt the table. `down()` changes
 * nothing: the old column type is the bug this fixes, and the old trigger a weaker one.
 *
 * @example
 * ```ts
 * export const UpgradePartnerApiKeys1796083200001 = createApiKeyUpgradeMigration({
 *   table: 'partner_api_keys',
 *   name: 'UpgradePartnerApiKeys1796083200001',
 *   writtenInTimeZone: 'Europe/Paris',
 * });
 * ```
 * @throws {TypeError} when `name` lacks its 13-digit timestamp or `writtenInTimeZone` is unknown
 * @publicApi
 */
export function createApiKeyUpgradeMigration(
  options: CreateApiKeyUpgradeMigrationOptions = {},
): new () => MigrationInterface {
  const table = options.table ?? 'api_keys';
  if (options.writtenInTimeZone !== undefined) timeZone(options.writtenInTimeZone);
  /** Turns `columns` into `timestamptz`, reading their wall-clock times in the zone. */
  const convert = async (queryRunner: QueryRunner, columns: string[]) => {
    const zone = timeZone(options.writtenInTimeZone).replace(/'/g, "''");
    for (const column of columns) {
      await queryRunner.query(
        `ALTER TABLE "${table}" ALTER COLUMN "${column}" TYPE timestamp(3) with time zone USING "${column}" AT TIME ZONE '${zone}'`,
      );
    }
  };
  return namedMigration(options.name ?? 'UpgradeApiKeys1796083200000', {
    async up(queryRunner: QueryRunner): Promise<void> {
      await convert(queryRunner, await zonelessInstantColumns(queryRunner, table));
      await runStatements(queryRunner, revocationTriggerStatements(queryRunner, table));
    },

    async down(): Promise<void> {
      // Nothing to undo safely: the old column type is the bug, and the old trigger a weaker one.
    },
  });
}

/**
 * The upgrade of the built-in `api_keys` table made by an earlier `CreateApiKeys1764000000000`
 * (see `createApiKeyUpgradeMigration`): list it after `CreateApiKeys1764000000000` in your data
 * source's `migrations`. On PostgreSQL it reads stored times in the zone of the process running
 * it; if your rows were written in another, use `createApiKeyUpgradeMigration({ writtenInTimeZone })`.
 *
 * @publicApi
 */
export const UpgradeApiKeys1796083200000 = createApiKeyUpgradeMigration();
