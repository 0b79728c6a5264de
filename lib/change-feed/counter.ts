/** The dialects without `LISTEN`, where `revocationSync: 'notify'` polls a change counter. */
export type CounterDialect = 'mysql' | 'sqlite';

/** The one-row table whose `version` the change triggers of `table` bump. */
export function changeCounterTable(table: string): string {
  return `${table}_changes`;
}

/** How `dialect` quotes a name. */
export function quoter(dialect: CounterDialect): (name: string) => string {
  return dialect === 'mysql' ? (name) => `\`${name}\`` : (name) => `"${name}"`;
}

/** The column whose changes alone never move the counter: usage tracking is not a change. */
export const USAGE_COLUMN = 'last_used_at';

/**
 * A trigger condition true when none of `columns` differs between `OLD` and `NEW`. On MySQL
 * compared as BINARY: the default collations compare case-insensitively, and scopes and hashes
 * are not.
 */
export function unchangedCondition(dialect: CounterDialect, columns: string[]): string {
  const q = quoter(dialect);
  return columns
    .map((column) =>
      dialect === 'mysql'
        ? `BINARY OLD.${q(column)} <=> BINARY NEW.${q(column)}`
        : `OLD.${q(column)} IS NEW.${q(column)}`,
    )
    .join(' AND ');
}

/** The statement the change triggers of `table` run: one more change. */
export function bumpChangeCounterSql(dialect: CounterDialect, table: string): string {
  return `UPDATE ${quoter(dialect)(changeCounterTable(table))} SET version = version + 1 WHERE id = 1`;
}

/**
 * Statements (re)creating, on MariaDB/MySQL or SQLite, the change counter of `table` and the
 * triggers bumping it: after any DELETE of a key row, and after any UPDATE that changes a column
 * other than `last_used_at` among `columns` (the table's columns when the statements are made;
 * a column added later is not compared until they are run again). An INSERT moves nothing: a
 * prefix not found is never cached. Raw SQL is covered; MySQL's TRUNCATE fires no trigger.
 */
export function changeCounterStatements(
  dialect: CounterDialect,
  table: string,
  trigger: string,
  columns: string[],
): string[] {
  const q = quoter(dialect);
  const counter = q(changeCounterTable(table));
  const bump = bumpChangeCounterSql(dialect, table);
  const unchanged = unchangedCondition(
    dialect,
    columns.filter((column) => column !== USAGE_COLUMN),
  );
  if (dialect === 'mysql') {
    return [
      `CREATE TABLE IF NOT EXISTS ${counter} (id INT NOT NULL PRIMARY KEY, version BIGINT NOT NULL)`,
      `INSERT IGNORE INTO ${counter} (id, version) VALUES (1, 0)`,
      `DROP TRIGGER IF EXISTS ${q(trigger)}`,
      // IF, not a WHERE on the bump: a usage write must not lock the counter row.
      `CREATE TRIGGER ${q(trigger)} AFTER UPDATE ON ${q(table)} FOR EACH ROW BEGIN ` +
        `IF NOT (${unchanged}) THEN ${bump}; END IF; END`,
      `DROP TRIGGER IF EXISTS ${q(`${trigger}_delete`)}`,
      `CREATE TRIGGER ${q(`${trigger}_delete`)} AFTER DELETE ON ${q(table)} FOR EACH ROW ${bump}`,
    ];
  }
  return [
    `CREATE TABLE IF NOT EXISTS ${counter} (id INTEGER NOT NULL PRIMARY KEY, version INTEGER NOT NULL)`,
    `INSERT OR IGNORE INTO ${counter} (id, version) VALUES (1, 0)`,
    `DROP TRIGGER IF EXISTS ${q(trigger)}`,
    `CREATE TRIGGER ${q(trigger)} AFTER UPDATE ON ${q(table)} FOR EACH ROW ` +
      `WHEN NOT (${unchanged}) BEGIN ${bump}; END`,
    `DROP TRIGGER IF EXISTS ${q(`${trigger}_delete`)}`,
    `CREATE TRIGGER ${q(`${trigger}_delete`)} AFTER DELETE ON ${q(table)} FOR EACH ROW BEGIN ${bump}; END`,
  ];
}

/** Statements dropping what `changeCounterStatements` made. */
export function dropChangeCounterStatements(
  dialect: CounterDialect,
  table: string,
  trigger: string,
): string[] {
  const q = quoter(dialect);
  return [
    `DROP TRIGGER IF EXISTS ${q(`${trigger}_delete`)}`,
    `DROP TRIGGER IF EXISTS ${q(trigger)}`,
    `DROP TABLE IF EXISTS ${q(changeCounterTable(table))}`,
  ];
}

/** A query answering one row when `table` has its update trigger and its counter table. */
export function hasChangeCounterSql(dialect: CounterDialect): string {
  return dialect === 'mysql'
    ? 'SELECT 1 FROM information_schema.triggers t JOIN information_schema.tables c ' +
        'ON c.table_schema = t.trigger_schema AND c.table_name = ? ' +
        'WHERE t.trigger_schema = DATABASE() AND t.trigger_name = ? AND t.event_object_table = ?'
    : "SELECT 1 FROM sqlite_master t JOIN sqlite_master c ON c.type = 'table' AND c.name = ? " +
        "WHERE t.type = 'trigger' AND t.name = ? AND t.tbl_name = ?";
}

/** The poll: the counter's current version. */
export function readChangeCounterSql(dialect: CounterDialect, table: string): string {
  return `SELECT version FROM ${quoter(dialect)(changeCounterTable(table))} WHERE id = 1`;
}
