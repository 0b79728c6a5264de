/**
 * How the compiled key lookup runs its statements, driver by driver: as prepared statements on
 * better-sqlite3's connection and PostgreSQL's pool, which `api-key.compiled-lookup.ts` checks
 * are there before choosing them, else through a TypeORM query runner.
 */
import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { CompiledLookup } from './api-key.compiled-lookup.js';

/** Runs statements through a query runner of the data source, as any TypeORM query is run. */
export function queryRunnerRunner(dataSource: DataSource): CompiledLookup['run'] {
  return async (sql, values) => {
    const runner = dataSource.createQueryRunner();
    try {
      return (await runner.query(sql, values, true)).records;
    } finally {
      await runner.release();
    }
  };
}

/** Runs statements as better-sqlite3 prepared statements, prepared once per connection. */
export function sqliteRunner(driver: { databaseConnection: any }): CompiledLookup['run'] {
  let prepared = new Map<string, any>();
  let preparedOn: unknown = null;
  return async (sql, values) => {
    const connection = driver.databaseConnection;
    // A data source re-initialised since has a new connection; the old statements died with the old one.
    if (preparedOn !== connection) {
      prepared = new Map();
      preparedOn = connection;
    }
    let statement = prepared.get(sql);
    if (statement === undefined) prepared.set(sql, (statement = connection.prepare(sql)));
    return statement.all(...values);
  };
}

/**
 * SQLSTATEs that mean the server does not hold the named statement the client believes it
 * prepared, or holds one it did not prepare: what a pooler in transaction mode (PgBouncer
 * before 1.21, or with `max_prepared_statements = 0`) does to prepared statements, plus a
 * statement whose result columns changed under it (`cached plan must not change result type`).
 */
const PREPARED_STATEMENT_TROUBLE = new Set(['26000', '42P05', '0A000']);

/**
 * Runs lookups on PostgreSQL straight through the driver's pool as named prepared statements,
 * so the server parses and plans each statement once per connection instead of once per
 * read. The name is derived from the SQL, so no two statements share one. If the server turns
 * out not to keep named statements, lookups go on unnamed from then on; the read that found
 * out is retried unnamed. Each statement carries `query_timeout`: a stalled connection fails
 * its read and leaves the pool, instead of holding a slot for as long as the stall lasts.
 */
export function postgresRunner(
  pool: { query(config: unknown, values?: unknown[]): Promise<{ rows: any[] }> },
  queryTimeout: number,
): CompiledLookup['run'] {
  const names = new Map<string, string>();
  let named = true;
  const nameOf = (sql: string): string => {
    let name = names.get(sql);
    if (name === undefined) {
      name = `nestjs_api_key_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`;
      names.set(sql, name);
    }
    return name;
  };
  return async (sql, values) => {
    const unnamed = () => pool.query({ text: sql, values, query_timeout: queryTimeout });
    if (!named) return (await unnamed()).rows;
    try {
      const config = { name: nameOf(sql), text: sql, values, query_timeout: queryTimeout };
      return (await pool.query(config)).rows;
    } catch (error) {
      if (!PREPARED_STATEMENT_TROUBLE.has((error as { code?: string } | null)?.code ?? ''))
        throw error;
      if (named) {
        named = false;
        new Logger('ApiKeyPrefixLookup').warn(
          `PostgreSQL refused a named prepared statement (${(error as { code: string }).code}); key lookups now run unprepared. Behind PgBouncer in transaction mode, set max_prepared_statements (PgBouncer 1.21+) to keep them prepared.`,
        );
      }
      return (await unnamed()).rows;
    }
  };
}
