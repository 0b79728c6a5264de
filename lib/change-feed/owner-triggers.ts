import { createHash } from 'node:crypto';
import type { TriggerDialect } from '../schema/sql.js';
import { bumpChangeCounterSql, quoter, unchangedCondition } from './counter.js';
import type { OwnerTable } from './owners.js';
import { EVERY_KEY, changeChannel, changeTriggerName, hasChangeTrigger } from './triggers.js';

/**
 * The name of the trigger on `ownerTable` that tells the caches of `keyTable` a row `usableWhere`
 * reads changed (and, on PostgreSQL, of its function). It differs from the key table's own
 * (`<table>_notify_change`), and from another key table's trigger on the same owner.
 */
export function ownerTriggerName(keyTable: string, ownerTable: string): string {
  const name = `${keyTable}_notify_owner_${ownerTable}`;
  if (name.length <= LONGEST_NAME) return name;
  // PostgreSQL would cut a longer name (and no longer find it), MySQL would refuse it.
  const digest = createHash('sha256').update(`${keyTable}\0${ownerTable}`).digest('hex');
  return `${name.slice(0, LONGEST_NAME - 13)}_${digest.slice(0, 12)}`;
}

/** The longest trigger name that leaves room for `_insert` within PostgreSQL's 63 and MySQL's 64. */
const LONGEST_NAME = 63 - '_insert'.length;

/**
 * Statements (re)creating the triggers by which a change to `owner` reaches the caches of
 * `keyTable`: after any INSERT or DELETE of its rows, any UPDATE that changes one of
 * `owner.columns`, and (PostgreSQL) any TRUNCATE, every cached row is dropped: on PostgreSQL
 * by `NOTIFY <keyTable>_changes` with `*`, elsewhere by bumping the key table's change counter
 * (made by the key table's statements, which run first). The trigger checked by
 * `ownerTriggerBodySql` is made last, so its presence means the others were made.
 */
export function ownerTriggerStatements(
  dialect: TriggerDialect,
  keyTable: string,
  owner: OwnerTable,
): string[] {
  const trigger = ownerTriggerName(keyTable, owner.table);
  if (dialect === 'postgres') {
    const channel = changeChannel(keyTable).replace(/'/g, "''");
    const row = (side: string) =>
      `jsonb_build_array(${owner.columns.map((column) => `${side}."${column}"`).join(', ')})`;
    return [
      `CREATE OR REPLACE FUNCTION "${trigger}"() RETURNS trigger AS $$ BEGIN ` +
        `IF TG_OP = 'UPDATE' AND ${row('OLD')} = ${row('NEW')} THEN RETURN NULL; END IF; ` +
        `PERFORM pg_notify('${channel}', '${EVERY_KEY}'); RETURN NULL; END $$ LANGUAGE plpgsql`,
      `DROP TRIGGER IF EXISTS "${trigger}_all" ON "${owner.table}"`,
      `CREATE TRIGGER "${trigger}_all" AFTER TRUNCATE ON "${owner.table}" FOR EACH STATEMENT EXECUTE FUNCTION "${trigger}"()`,
      `DROP TRIGGER IF EXISTS "${trigger}" ON "${owner.table}"`,
      `CREATE TRIGGER "${trigger}" AFTER INSERT OR UPDATE OR DELETE ON "${owner.table}" FOR EACH ROW EXECUTE FUNCTION "${trigger}"()`,
    ];
  }
  const q = quoter(dialect);
  const bump = bumpChangeCounterSql(dialect, keyTable);
  const unchanged = unchangedCondition(dialect, owner.columns);
  const on = (event: string, name: string, body: string) => [
    `DROP TRIGGER IF EXISTS ${q(name)}`,
    `CREATE TRIGGER ${q(name)} AFTER ${event} ON ${q(owner.table)} FOR EACH ROW ${body}`,
  ];
  const always = dialect === 'mysql' ? bump : `BEGIN ${bump}; END`;
  const onUpdate =
    dialect === 'mysql'
      ? // IF, not a WHERE on the bump: an unrelated write must not lock the counter row.
        `BEGIN IF NOT (${unchanged}) THEN ${bump}; END IF; END`
      : `WHEN NOT (${unchanged}) BEGIN ${bump}; END`;
  return [
    ...on('INSERT', `${trigger}_insert`, always),
    ...on('DELETE', `${trigger}_delete`, always),
    ...on('UPDATE', trigger, onUpdate),
  ];
}

/** Statements dropping what `ownerTriggerStatements` made. */
export function dropOwnerTriggerStatements(
  dialect: TriggerDialect,
  keyTable: string,
  ownerTable: string,
): string[] {
  const trigger = ownerTriggerName(keyTable, ownerTable);
  if (dialect === 'postgres')
    return [
      `DROP TRIGGER IF EXISTS "${trigger}" ON "${ownerTable}"`,
      `DROP TRIGGER IF EXISTS "${trigger}_all" ON "${ownerTable}"`,
      `DROP FUNCTION IF EXISTS "${trigger}"()`,
    ];
  const q = quoter(dialect);
  return [trigger, `${trigger}_delete`, `${trigger}_insert`].map(
    (name) => `DROP TRIGGER IF EXISTS ${q(name)}`,
  );
}

/**
 * Whether the owner trigger of `owner` for `keyTable` exists and compares every column of
 * `owner.columns`: one made for an earlier `usableWhere` may not, and is then made again.
 *
 * @param run runs one parameterised query
 * @throws what the driver throws when the catalogue cannot be read
 */
export async function hasOwnerTrigger(
  run: (sql: string, parameters: unknown[]) => Promise<unknown[]>,
  dialect: TriggerDialect,
  keyTable: string,
  owner: OwnerTable,
): Promise<boolean> {
  const table = dialect === 'postgres' ? `"${owner.table}"` : owner.table;
  const rows = (await run(ownerTriggerBodySql(dialect), [
    ownerTriggerName(keyTable, owner.table),
    table,
  ])) as Array<{ body?: unknown }>;
  const q = dialect === 'mysql' ? quoter('mysql') : (name: string) => `"${name}"`;
  return rows.some((row) =>
    owner.columns.every((column) => String(row.body).includes(`OLD.${q(column)}`)),
  );
}

/**
 * Whether `keyTable` has its change trigger (and counter) and each of `owners` its owner
 * trigger: everything notify mode hears changes by.
 *
 * @param run runs one parameterised query
 * @throws what the driver throws when the catalogue cannot be read
 */
export async function hasChangeTriggers(
  run: (sql: string, parameters: unknown[]) => Promise<unknown[]>,
  dialect: TriggerDialect,
  keyTable: string,
  owners: OwnerTable[],
): Promise<boolean> {
  if (!(await hasChangeTrigger(run, keyTable, dialect))) return false;
  for (const owner of owners)
    if (!(await hasOwnerTrigger(run, dialect, keyTable, owner))) return false;
  return true;
}

/** The trigger names a missing-trigger message lists: the key table's, then the owners'. */
export function changeTriggerNames(keyTable: string, owners: OwnerTable[]): string {
  return [changeTriggerName(keyTable), ...owners.map((o) => ownerTriggerName(keyTable, o.table))]
    .map((name) => `"${name}"`)
    .join(', ');
}

/**
 * A query answering the body of the owner trigger (its function's, on PostgreSQL) as `body`,
 * given the trigger's name and its table; no row when it is missing.
 */
function ownerTriggerBodySql(dialect: TriggerDialect): string {
  if (dialect === 'postgres')
    return (
      'SELECT p.prosrc AS body FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid ' +
      'WHERE t.tgname = $1 AND t.tgrelid = to_regclass($2)'
    );
  return dialect === 'mysql'
    ? 'SELECT action_statement AS body FROM information_schema.triggers ' +
        'WHERE trigger_schema = DATABASE() AND trigger_name = ? AND event_object_table = ?'
    : "SELECT sql AS body FROM sqlite_master WHERE type = 'trigger' AND name = ? AND tbl_name = ?";
}
