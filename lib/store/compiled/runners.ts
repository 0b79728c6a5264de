/**
 * How the compiled key lookup runs its statements, driver by driver: as prepared statements on
 * better-sqlite3's connection and PostgreSQL's pool, which `api-key.compiled-lookup.ts` checks
 * are there before choosing them, else through a TypeORM query runner.
 */
import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';

/**
 * A read in progress that its caller may give up, at its deadline: `abandon()` marks it and lets
 * go of what the runner holds for it (on PostgreSQL, the connection, which leaves the pool).
 */
export class AbandonableRead {
  abandoned = false;
  /** Set by the runner while it holds something the read would otherwise keep. */
  onAbandon: (() => void) | null = null;

  abandon(): void {
    this.abandoned = true;
    this.onAbandon?.();
    this.onAbandon = null;
  }
}

/** Runs a statement, resolving to its raw rows; `read` is how its caller may give it up. */
export type StatementRunner = (
  sql: string,
  parameters: unknown[],
  read?: AbandonableRead,
) => Promise<any[]>;

/** Runs statements through a query runner of the data source, as any TypeORM query is run. */
export function queryRunnerRunner(dataSource: DataSource): StatementRunner {
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
export function sqliteRunner(driver: { databaseConnection: any }): StatementRunner {
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

/** A client of `pg`'s pool, as far as the runner uses it. */
interface PostgresClient {
  query(config: unknown, callback: (error: Error | null, result: { rows: any[] }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** `pg`'s `Query` (or its native one), as far as the runner uses it. */
export type PostgresQueryClass = new (
  text: string,
  values: unknown[],
  callback: (error: Error | null, result: { rows: any[] }) => void,
) => { name?: string };

/** `pg`'s pool, as far as the runner uses it. */
export interface PostgresPool {
  connect(
    callback: (
      error: Error | null,
      client: PostgresClient,
      release: (error?: Error) => void,
    ) => void,
  ): unknown;
}

/** What `pg` calls back with when a query is done. */
type Answer = (error: Error | null, result: { rows: any[] }) => void;

/** Names for prepared statements, derived from their SQL so that no two statements share one. */
function statementNames(): (sql: string) => string {
  const names = new Map<string, string>();
  return (sql) => {
    let name = names.get(sql);
    if (name === undefined) {
      name = `nestjs_api_key_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`;
      names.set(sql, name);
    }
    return name;
  };
}

/** Sends a query on a checked-out client, named when `name` is given. */
function submitQuery(
  Query: PostgresQueryClass | null,
  client: PostgresClient,
  name: string | null,
  sql: string,
  values: unknown[],
  answer: Answer,
): void {
  if (Query === null) {
    client.query(name === null ? { text: sql, values } : { name, text: sql, values }, answer);
    return;
  }
  // From the text, not a config object: pg copies a config object descriptor by descriptor,
  // which costs more than the rest of the read's JavaScript put together.
  const query = new Query(sql, values, answer);
  if (name !== null) query.name = name;
  client.query(query, answer);
}

/** Clients the runner has put its error listener on, once per client rather than per read. */
const listenedClients = new WeakSet<object>();

/**
 * A client's errors outside a query (a dropped connection between reads): the pool's own
 * listener is off while the client is checked out, and an `error` event without a listener
 * would end the process. During a read the error reaches the read's callback instead.
 */
const ignoreClientError = () => {};

/**
 * Runs lookups on PostgreSQL straight through the driver's pool as named prepared statements,
 * so the server parses and plans each statement once per connection instead of once per
 * read. The name is derived from the SQL, so no two statements share one. If the server turns
 * out not to keep named statements, lookups go on unnamed from then on; the read that found
 * out is retried unnamed on the same connection.
 *
 * A read carries no timer of its own: the lookup's deadline is its only one. When the lookup
 * abandons a read, its connection is released as broken, so the pool drops it and a stalled
 * connection never returns to serve another query; a connection the read was still waiting for
 * goes back to the pool unused. Callbacks rather than promises: each promise `pg` makes per
 * query is an allocation and a microtask on the per-request path.
 */
export function postgresRunner(
  pool: PostgresPool,
  Query: PostgresQueryClass | null,
): StatementRunner {
  const nameOf = statementNames();
  let named = true;
  const submit = (
    client: PostgresClient,
    name: string | null,
    sql: string,
    values: unknown[],
    answer: Answer,
  ) => submitQuery(Query, client, name, sql, values, answer);
  return (sql, values, read) =>
    new Promise((resolve, reject) => {
      pool.connect((connectError, client, release) => {
        if (connectError) return reject(connectError);
        if (read?.abandoned) return release();
        if (!listenedClients.has(client)) {
          listenedClients.add(client);
          client.on('error', ignoreClientError);
        }
        let held = true;
        const finish = (error?: Error) => {
          if (!held) return false;
          held = false;
          if (read) read.onAbandon = null;
          release(error);
          return true;
        };
        if (read)
          read.onAbandon = () => finish(new Error('The key lookup was abandoned at its deadline.'));
        const answer: Answer = (error, result) => {
          if (!finish(error ?? undefined)) return;
          if (error) reject(error);
          else resolve(result.rows);
        };
        if (!named) return submit(client, null, sql, values, answer);
        submit(client, nameOf(sql), sql, values, (error, result) => {
          if (!error || !PREPARED_STATEMENT_TROUBLE.has((error as { code?: string }).code ?? ''))
            return answer(error, result);
          if (named) {
            named = false;
            new Logger('ApiKeyPrefixLookup').warn(
              `PostgreSQL refused a named prepared statement (${(error as { code?: string }).code}); key lookups now run unprepared. Behind PgBouncer in transaction mode, set max_prepared_statements (PgBouncer 1.21+) to keep them prepared.`,
            );
          }
          if (held) submit(client, null, sql, values, answer);
        });
      });
    });
}
