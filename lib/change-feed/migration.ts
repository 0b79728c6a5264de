/**
 * The shipped migration of `revocationSync: 'notify'`: the change triggers of the key table and
 * of the tables its `usableWhere` reads, for databases whose application user may not create
 * triggers at boot.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { namedMigration, runStatements, triggerDialect } from '../schema/sql.js';
import { dropChangeCounterStatements } from './counter.js';
import { changeTriggerName, changeTriggerStatements } from './triggers.js';
import { dropOwnerTriggerStatements, ownerTriggerStatements } from './owner-triggers.js';
import { ownerTablesOf, type OwnerTable } from './owners.js';

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
