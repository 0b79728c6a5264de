/**
 * The SQL of usage analytics on PostgreSQL, MariaDB/MySQL and SQLite: the one upsert-increment a
 * flush writes, the prune, and the reads of `usage()`.
 */
import type { DataSource } from 'typeorm';
import { triggerDialect, type TriggerDialect } from '../schema/sql.js';
import type { ApiKeyUsageOutcome } from './outcomes.js';
import type { UsageRow } from './tally.js';

/** The table counts are stored in. */
export const USAGE_TABLE = 'api_key_usage';

/** The SQL dialects usage analytics is written for. */
export type UsageDialect = TriggerDialect;

/** The dialect of a data source, or `null` when usage analytics does not support its driver. */
export function usageDialect(dataSource: DataSource): UsageDialect | null {
  return triggerDialect({ connection: dataSource });
}

/** A statement and its parameters. */
export interface Statement {
  sql: string;
  parameters: unknown[];
}

const COLUMNS = 'registration, key_id, hour, outcome, requests';
const KEY = 'registration, key_id, hour, outcome';

/**
 * The one statement that adds `rows` to the stored counts, inserting the rows not stored yet,
 * whatever their number: PostgreSQL binds five arrays (`unnest`), SQLite one JSON document
 * (`json_each`), both with `ON CONFLICT ... DO UPDATE`; MariaDB/MySQL take a multi-row `VALUES`
 * with `ON DUPLICATE KEY UPDATE` (its driver inlines the values, so no placeholder limit applies).
 * Adding, never setting, is what makes two instances' counts add up.
 */
export function upsertStatement(dialect: UsageDialect, rows: readonly UsageRow[]): Statement {
  switch (dialect) {
    case 'postgres':
      return {
        sql:
          `INSERT INTO ${USAGE_TABLE} (${COLUMNS}) ` +
          'SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::integer[], $4::varchar[], $5::bigint[]) ' +
          `ON CONFLICT (${KEY}) DO UPDATE SET requests = ${USAGE_TABLE}.requests + EXCLUDED.requests`,
        parameters: [
          rows.map((row) => row.registration),
          rows.map((row) => row.keyId),
          rows.map((row) => row.hour),
          rows.map((row) => row.outcome),
          rows.map((row) => row.requests),
        ],
      };
    case 'sqlite':
      return {
        // `WHERE true` tells SQLite's parser the ON CONFLICT belongs to the INSERT, not a join.
        sql:
          `INSERT INTO ${USAGE_TABLE} (${COLUMNS}) ` +
          "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), " +
          "json_extract(value, '$[3]'), json_extract(value, '$[4]') FROM json_each(?) WHERE true " +
          `ON CONFLICT (${KEY}) DO UPDATE SET requests = requests + excluded.requests`,
        parameters: [
          JSON.stringify(
            rows.map((row) => [row.registration, row.keyId, row.hour, row.outcome, row.requests]),
          ),
        ],
      };
    case 'mysql':
      return {
        sql:
          `INSERT INTO ${USAGE_TABLE} (${COLUMNS}) VALUES ${rows.map(() => '(?, ?, ?, ?, ?)').join(', ')} ` +
          'ON DUPLICATE KEY UPDATE requests = requests + VALUES(requests)',
        parameters: rows.flatMap((row) => [
          row.registration,
          row.keyId,
          row.hour,
          row.outcome,
          row.requests,
        ]),
      };
  }
}

/** The statement deleting a registration's counts of hours before `hour`. */
export function pruneStatement(
  dialect: UsageDialect,
  registration: string,
  hour: number,
): Statement {
  const [a, b] = placeholders(dialect, 2);
  return {
    sql: `DELETE FROM ${USAGE_TABLE} WHERE registration = ${a} AND hour < ${b}`,
    parameters: [registration, hour],
  };
}

/** What a usage read selects: one registration, hours `[from, to)`, and optionally one key. */
export interface UsageSelection {
  registration: string;
  from: number;
  to: number;
  keyId?: string;
}

/** The statement summing a selection's counts by hour and outcome. */
export function seriesStatement(dialect: UsageDialect, selection: UsageSelection): Statement {
  const { where, parameters } = selectionWhere(dialect, selection);
  return {
    sql: `SELECT hour, outcome, SUM(requests) AS requests FROM ${USAGE_TABLE} WHERE ${where} GROUP BY hour, outcome`,
    parameters,
  };
}

/** The statement summing a selection's counts by key and outcome (unknown keys left out). */
export function byKeyStatement(dialect: UsageDialect, selection: UsageSelection): Statement {
  const { where, parameters } = selectionWhere(dialect, selection);
  return {
    sql: `SELECT key_id, outcome, SUM(requests) AS requests FROM ${USAGE_TABLE} WHERE ${where} AND key_id <> '' GROUP BY key_id, outcome`,
    parameters,
  };
}

/** A row of `seriesStatement` or `byKeyStatement`, as drivers return it (sums may be strings). */
export interface SummedRow {
  hour?: number | string;
  key_id?: string;
  outcome: ApiKeyUsageOutcome;
  requests: number | string;
}

function selectionWhere(
  dialect: UsageDialect,
  { registration, from, to, keyId }: UsageSelection,
): { where: string; parameters: unknown[] } {
  const p = placeholders(dialect, 4);
  const where = `registration = ${p[0]} AND hour >= ${p[1]} AND hour < ${p[2]}`;
  return keyId === undefined
    ? { where, parameters: [registration, from, to] }
    : { where: `${where} AND key_id = ${p[3]}`, parameters: [registration, from, to, keyId] };
}

function placeholders(dialect: UsageDialect, count: number): string[] {
  return Array.from({ length: count }, (_, i) => (dialect === 'postgres' ? `$${i + 1}` : '?'));
}
