/**
 * The change triggers of the key table, which `revocationSync: 'notify'` hears changes by: a
 * `NOTIFY` trigger on PostgreSQL, a change counter bumped by triggers elsewhere. (The revocation
 * trigger, which refuses un-revoking a key, is another: see `../schema/sql.ts`.)
 */
import type { QueryRunner } from 'typeorm';
import { triggerDialect, type TriggerDialect } from '../schema/sql.js';
import { changeCounterStatements, changeCounterTable, hasChangeCounterSql } from './counter.js';

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
