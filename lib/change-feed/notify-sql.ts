import type { MigrationInterface, QueryRunner } from 'typeorm';
import {
  namedMigration,
  runStatements,
  triggerDialect,
  type TriggerDialect,
} from '../schema/sql.js';
import {
  changeCounterStatements,
  changeCounterTable,
  dropChangeCounterStatements,
  hasChangeCounterSql,
} from './counter-sql.js';
import { dropOwnerTriggerStatements, ownerTriggerStatements } from './owner-sql.js';
import { ownerTablesOf, type OwnerTable } from './owners.js';

/** What a change notification carries instead of a prefix when every row may have changed. */
export const EVERY_KEY = '*';

/** The name of the change-notification trigger of `table`, and of its function. */
export function changeTriggerName(table: string): string {
  return `${table}_notify_change`;
}

/** The `LISTEN` channel the change trigger of `table` notifies. */
export function changeChannel(table: string): string {
  return `${table}_changes`;
}

/**
 * Statements (re)creating, on PostgreSQL, the trigger that sends `NOTIFY <table>_changes` with the
 * key's prefix after any UPDATE or DELETE of a key row (raw SQL included), and `*` after a
 * TRUNCATE. An update that only moves `last_used_at` notifies nothing, so usage tracking does not
 * empty the caches. An INSERT needs none: a prefix not found is never cached.
 */
function notifyTriggerStatements(table: string): string[] {
  const trigger = changeTriggerName(table);
  const channel = changeChannel(table).replace(/'/g, "''");
  return [
    `CREATE OR REPLACE FUNCTION "${trigger}"() RETURNS trigger AS $$ BEGIN ` +
      `IF TG_OP = 'TRUNCATE' THEN PERFORM pg_notify('${channel}', '${EVERY_KEY}'); RETURN NULL; END IF; ` +
      `IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) - 'last_used_at') = (to_jsonb(NEW) - 'last_used_at') THEN RETURN NULL; END IF; ` +
      `PERFORM pg_notify('${channel}', OLD.prefix); RETURN NULL; END $$ LANGUAGE plpgsql`,
    `DROP TRIGGER IF EXISTS "${trigger}" ON "${table}"`,
    `CREATE TRIGGER "${trigger}" AFTER UPDATE OR DELETE ON "${table}" FOR EACH ROW EXECUTE FUNCTION "${trigger}"()`,
    `DROP TRIGGER IF EXISTS "${trigger}_all" ON "${table}"`,
    `CREATE TRIGGER "${trigger}_all" AFTER TRUNCATE ON "${table}" FOR EACH STATEMENT EXECUTE FUNCTION "${trigger}"()`,
  ];
}

/**
 * Statements (re)creating what `revocationSync: 'notify'` hears changes by: on PostgreSQL a
 * `NOTIFY` trigger; on MariaDB/MySQL and SQLite a one-row change counter bumped by triggers
 * (see `changeCounterStatements`), whose compared columns are read from the table now. `[]`
 * on other databases.
 *
 * @throws what the driver throws when the table's columns cannot be read
 */
export async function changeTriggerStatements(
  queryRunner: QueryRunner,
  table: string,
): Promise<string[]> {
  const dialect = triggerDialect(queryRunner);
  if (dialect === 'postgres') return notifyTriggerStatements(table);
  if (dialect === null) return [];
  const columns = (await queryRunner.getTable(table))?.columns.map((column) => column.name) ?? [];
  if (columns.length === 0) throw new Error(`table "${table}" not found`);
  return changeCounterStatements(dialect, table, changeTriggerName(table), columns);
}

/**
 * Whether `table` has its change trigger (and, off PostgreSQL, its change counter).
 *
 * @param run runs one parameterised query, on a query runner or a raw client
 * @throws what the driver throws when the catalogue cannot be read
 */
export async function hasChangeTrigger(
  run: (sql: string, parameters: unknown[]) => Promise<unknown[]>,
  table: string,
  dialect: TriggerDialect = 'postgres',
): Promise<boolean> {
  const trigger = changeTriggerName(table);
  const rows =
    dialect === 'postgres'
      ? await run('SELECT 1 FROM pg_trigger WHERE tgname = $1 AND tgrelid = to_regclass($2)', [
          trigger,
          `"${table}"`,
        ])
      : await run(hasChangeCounterSql(dialect), [changeCounterTable(table), trigger, table]);
  return rows.length > 0;
}

/**
 * Options of `createApiKeyNotifyMigration()`.
 *
 * @publicApi
 */
export interface CreateApiKeyNotifyMigrationOptions {
  /** Table name. Default `api_keys`. */
  table?: string;
  /** Migration name; TypeORM orders migrations by its last 13 digits (a JS timestamp). */
  name?: string;
  /**
   * The registration's `usableWhere`, when it has one: triggers are then also made on every
   * table it reads (found through the key entity's relations, so the migration's data source
   * must list the key entity), so that an owner's change reaches the caches.
   */
  usableWhere?: object;
}

/**
 * A migration creating what `revocationSync: 'notify'` hears changes by: on PostgreSQL a trigger
 * that, after any UPDATE, DELETE or TRUNCATE of a key row, sends `NOTIFY <table>_changes` with
 * the key's prefix; on MariaDB/MySQL and SQLite a one-row table `<table>_changes` whose version
 * triggers bump after any UPDATE or DELETE of a key row. With `usableWhere`, also a trigger on
 * each table it reads, dropping every cached key (NOTIFY `*`, or a bump) after an INSERT, a
 * DELETE, a TRUNCATE or an UPDATE of a column it reads there. It does nothing on other
 * databases. With `synchronize` or a database user allowed to create triggers, the module
 * creates the triggers at boot instead.
 *
 * @throws {TypeError} when `name` lacks its 13-digit timestamp
 * @throws {Error} when run with `usableWhere` on a data source that lacks the key entity
 * @publicApi
 */
export function createApiKeyNotifyMigration(
  options: CreateApiKeyNotifyMigrationOptions = {},
): new () => MigrationInterface {
  const table = options.table ?? 'api_keys';
  return namedMigration(options.name ?? 'NotifyApiKeyChanges1798761600000', {
    async up(queryRunner: QueryRunner): Promise<void> {
      await runStatements(queryRunner, await changeTriggerStatements(queryRunner, table));
      const dialect = triggerDialect(queryRunner);
      if (dialect === null) return;
      for (const owner of ownerTablesFor(queryRunner, table, options.usableWhere))
        await runStatements(queryRunner, ownerTriggerStatements(dialect, table, owner));
    },
    async down(queryRunner: QueryRunner): Promise<void> {
      const dialect = triggerDialect(queryRunner);
      if (dialect === null) return;
      for (const owner of ownerTablesFor(queryRunner, table, options.usableWhere))
        await runStatements(queryRunner, dropOwnerTriggerStatements(dialect, table, owner.table));
      const trigger = changeTriggerName(table);
      if (dialect !== 'postgres')
        return runStatements(queryRunner, dropChangeCounterStatements(dialect, table, trigger));
      await runStatements(queryRunner, [
        `DROP TRIGGER IF EXISTS "${trigger}_all" ON "${table}"`,
        `DROP TRIGGER IF EXISTS "${trigger}" ON "${table}"`,
        `DROP FUNCTION IF EXISTS "${trigger}"()`,
      ]);
    },
  });
}

/**
 * The tables `usableWhere` reads, found through the metadata of the entity stored in `table`.
 *
 * @throws {Error} when the data source has no entity stored in `table`
 */
function ownerTablesFor(
  queryRunner: QueryRunner,
  table: string,
  usableWhere: object | undefined,
): OwnerTable[] {
  if (usableWhere === undefined) return [];
  const metadata = queryRunner.connection.entityMetadatas.find(
    (entity) => entity.tableName === table && entity.tableType !== 'junction',
  );
  if (!metadata)
    throw new Error(
      `createApiKeyNotifyMigration: usableWhere is read through the key entity of table "${table}", ` +
        "which this data source's entities lack. Fix: add the key entity to the data source's entities.",
    );
  return ownerTablesOf(metadata, usableWhere);
}

/**
 * The change-notification migration of the built-in `api_keys` table (see
 * `createApiKeyNotifyMigration`): list it after `CreateApiKeys1764000000000`.
 *
 * @publicApi
 */
export const NotifyApiKeyChanges1798761600000 = createApiKeyNotifyMigration();
