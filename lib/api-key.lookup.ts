import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import {
  In,
  type FindOperator,
  type FindOptionsWhere,
  type ObjectLiteral,
  type Repository,
  type SelectQueryBuilder,
} from 'typeorm';
import { DriverUtils } from 'typeorm/driver/DriverUtils.js';
import { RawSqlResultsToEntityTransformer } from 'typeorm/query-builder/transformer/RawSqlResultsToEntityTransformer.js';
import type { AbstractApiKey } from './api-key.entity.js';

/** Most prefixes read by one statement; more at once are read in several. */
const MAX_BATCH = 50;

/** Stands in for the i-th prefix while a SELECT is compiled, to find its bound parameter. Never sent. */
const placeholder = (i: number) => `\u0000api-key-prefix-${i}\u0000`;

/** The lookup SELECT for a number of prefixes, with where each prefix goes in its parameters. */
interface BatchStatement {
  sql: string;
  parameters: unknown[];
  prefixIndexes: number[];
}

/** The lookup, compiled once: statements by batch size, and what turns rows into entities. */
interface CompiledLookup {
  statementFor(size: number): BatchStatement;
  run(sql: string, parameters: unknown[]): Promise<any[]>;
  /** The prefix column of a raw row. */
  prefixOf(row: any): unknown;
  /** Takes the stored hash out of a raw row (the caller's own copy), so hydration leaves it off the entity. */
  hashOf(row: any): string;
  /** Whether the database compares prefixes without case (MySQL/MariaDB default collations). */
  foldsCase: boolean;
  toEntities(rows: any[]): ObjectLiteral[];
  /** Fires `@AfterLoad()` and subscribers' `afterLoad`, as `getOne()` does; `null` when nothing listens. */
  afterLoad: ((entities: ObjectLiteral[]) => Promise<void>) | null;
}

/** A key row as the guard needs it: the entity, and its stored hash kept off the entity. */
export interface StoredApiKeyRow<T> {
  /** The key's entity, as `getOne()` hydrates it but without `hashedKey`. */
  row: T;
  /** The stored hash of the key's secret, for the memo or the hasher to check against. */
  hashedKey: string;
}

/** A prefix with a read pending or out, and the callers waiting for its next read. */
interface Waiting {
  prefix: string;
  waiters: Waiter[];
}

interface Waiter {
  resolve: (rows: any[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Reads a key row, with its hash, by prefix: the guard's one database read per request.
 *
 * The SELECT is the one TypeORM's query builder makes for `{ ...usableWhere, prefix }` (with
 * its joins and soft-delete condition), but it is built once, not per request, and run with
 * the prefixes as its only varying bound parameters: on better-sqlite3 through prepared
 * statements, on PostgreSQL straight through the data source's pool as named prepared
 * statements, elsewhere through a query runner. Rows are hydrated by TypeORM's own
 * transformer, so dates, simple-json and booleans come back as `getOne()` gives them. A setup
 * the compiled form cannot reproduce exactly (query result cache, `@RelationId` properties,
 * the `query` relation strategy) keeps using `getOne()`.
 *
 * Reads are shared, but a request is never answered by a read that began before it arrived.
 * Reads start at the end of the event-loop turn after the one in which their first request
 * came: the prefixes asked for in those two turns are read by one `prefix IN (...)` statement,
 * and every request for one of them that came before it started is answered by it. Requests
 * that come while a read of their prefix is out wait for the next one. So a row changed before
 * a request came is always seen by it (a revocation applies to the next request), while the
 * database sees one query every other turn rather than one per request. Each caller gets its
 * own entity.
 */
export class ApiKeyPrefixLookup<T extends AbstractApiKey> {
  private compiled: CompiledLookup | null | undefined;
  /** Prefixes with a read pending or out. */
  private readonly reads = new Map<string, Waiting>();
  /** Prefixes to read at the end of the next turn. */
  private starting: Waiting[] = [];

  constructor(
    private readonly repository: Repository<T>,
    private readonly usableWhere: FindOptionsWhere<T> | null,
  ) {}

  /**
   * The row whose prefix is `prefix` and that meets `usableWhere`, or `null`; its stored hash
   * comes beside it, never on the entity, so nothing that logs or serialises the entity can
   * carry the hash (and no property is deleted, which would slow every later access to it).
   *
   * @throws whatever the driver throws when the database cannot be read
   */
  async find(prefix: string): Promise<StoredApiKeyRow<T> | null> {
    // Compiled on first use: the data source is connected by then, and its driver is known.
    if (this.compiled === undefined) this.compiled = this.compile();
    const compiled = this.compiled;
    if (compiled === null) {
      const row = await this.queryBuilder(prefix).getOne();
      if (row === null) return null;
      const hashedKey = row.hashedKey;
      // Only setups the compiled read cannot serve come here; the entity must not keep the hash.
      delete (row as Partial<T>).hashedKey;
      return { row, hashedKey };
    }
    const rows = await this.sharedRead(prefix);
    if (rows.length === 0) return null;
    const hashedKey = compiled.hashOf(rows[0]);
    const entities = compiled.toEntities(rows);
    if (compiled.afterLoad) await compiled.afterLoad(entities);
    const row = entities[0] as T | undefined;
    return row === undefined ? null : { row, hashedKey };
  }

  /**
   * Joins the read of `prefix` that has not started yet, or asks for one at the end of this
   * turn of the event loop; while a read is out, callers wait for the one after it.
   */
  private sharedRead(prefix: string): Promise<any[]> {
    return new Promise((resolve, reject) => {
      let state = this.reads.get(prefix);
      if (state === undefined) {
        state = { prefix, waiters: [] };
        this.reads.set(prefix, state);
        this.schedule(state);
      }
      state.waiters.push({ resolve, reject });
    });
  }

  private schedule(state: Waiting): void {
    this.starting.push(state);
    // One deferral whatever the number of keys: past the I/O callbacks of this turn and of the
    // next, so requests read off the sockets in either share the read. Under load the second
    // turn is busy with other requests anyway, and it roughly halves the reads (0.17 to 0.10
    // per request with 10 connections on one key); idle, it costs one empty turn of the loop.
    if (this.starting.length === 1) setImmediate(this.nextTurn);
  }

  private readonly nextTurn = (): void => {
    setImmediate(this.startReads);
  };

  private readonly startReads = (): void => {
    const starting = this.starting;
    this.starting = [];
    for (let i = 0; i < starting.length; i += MAX_BATCH)
      this.readBatch(this.compiled!, starting.slice(i, i + MAX_BATCH));
  };

  private readBatch(compiled: CompiledLookup, batch: Waiting[]): void {
    const waiters = batch.map((state) => {
      const answered = state.waiters;
      state.waiters = [];
      return answered;
    });
    const settled = () => {
      for (const state of batch) {
        // Callers that came while the read was out may not be answered by it: they get the next one.
        if (state.waiters.length > 0) this.schedule(state);
        else this.reads.delete(state.prefix);
      }
    };
    let reading: Promise<any[]>;
    try {
      const statement = compiled.statementFor(batch.length);
      const parameters = statement.parameters.slice();
      batch.forEach((state, i) => (parameters[statement.prefixIndexes[i]] = state.prefix));
      reading = compiled.run(statement.sql, parameters);
    } catch (error) {
      reading = Promise.reject(error);
    }
    reading.then(
      (rows) => {
        if (rows.length > 0 && compiled.prefixOf(rows[0]) === undefined) {
          // Failing loudly beats answering "unknown key" for every key.
          const error = new Error('The key lookup returned rows without their prefix column.');
          for (const answered of waiters) for (const waiter of answered) waiter.reject(error);
        } else {
          batch.forEach((state, i) => {
            const own = rows.filter((row) => this.belongsTo(compiled, row, state.prefix));
            // Drivers hand out Date objects, and with case-folding collations one row may answer two prefixes: copy for all but one.
            waiters[i].forEach((waiter, j) =>
              waiter.resolve(j === 0 && !compiled.foldsCase ? own : copyRows(own)),
            );
          });
        }
        settled();
      },
      (error) => {
        for (const answered of waiters) for (const waiter of answered) waiter.reject(error);
        settled();
      },
    );
  }

  /** Whether a row is the database's answer for `prefix`, as `prefix = ?` would have matched it. */
  private belongsTo(compiled: CompiledLookup, row: any, prefix: string): boolean {
    const value = compiled.prefixOf(row);
    if (value === prefix) return true;
    // Prefixes are ASCII letters and digits, so lower-casing is what a case-insensitive collation compares.
    return (
      compiled.foldsCase &&
      typeof value === 'string' &&
      value.toLowerCase() === prefix.toLowerCase()
    );
  }

  private queryBuilder(prefix: string | FindOperator<string>): SelectQueryBuilder<T> {
    return this.repository
      .createQueryBuilder('api_key')
      .setFindOptions({ where: { ...(this.usableWhere ?? {}), prefix } as FindOptionsWhere<T> })
      .addSelect('api_key.hashedKey');
  }

  private compile(): CompiledLookup | null {
    const dataSource = this.repository.manager.dataSource;
    const builder = this.queryBuilder(In([placeholder(0)]));
    const map = builder.expressionMap;
    const metadatas = map.aliases
      .filter((alias) => alias.hasMetadata)
      .map((alias) => alias.metadata);
    if (
      dataSource.queryResultCache ||
      map.cache ||
      map.lockMode ||
      map.relationLoadStrategy === 'query' ||
      map.relationIdAttributes.length > 0 ||
      metadatas.some((metadata) => metadata.relationIds.length > 0)
    ) {
      return null;
    }
    const type = dataSource.options.type;
    const statements = new Map<number, BatchStatement>();
    const build = (size: number, from: SelectQueryBuilder<T>): BatchStatement | null => {
      const [sql, built] = from.getQueryAndParameters();
      const prefixIndexes = Array.from({ length: size }, (_, i) => built.indexOf(placeholder(i)));
      if (
        prefixIndexes.some((index, i) => index < 0 || built.lastIndexOf(placeholder(i)) !== index)
      )
        return null;
      // better-sqlite3 cannot bind booleans; TypeORM's query runner maps them the same way.
      const parameters =
        type === 'better-sqlite3'
          ? built.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p))
          : built;
      return { sql, parameters, prefixIndexes };
    };
    const single = build(1, builder);
    if (single === null) return null;
    statements.set(1, single);
    const statementFor = (size: number): BatchStatement => {
      let statement = statements.get(size);
      if (statement === undefined) {
        const built = build(
          size,
          this.queryBuilder(In(Array.from({ length: size }, (_, i) => placeholder(i)))),
        );
        if (built === null)
          throw new Error(`Could not compile the key lookup for ${size} prefixes.`);
        statement = built;
        statements.set(size, statement);
      }
      return statement;
    };

    const driver = dataSource.driver as any;
    let run: CompiledLookup['run'];
    if (type === 'better-sqlite3') {
      let prepared = new Map<string, any>();
      let preparedOn: unknown = null;
      run = async (sql, values) => {
        const connection = driver.databaseConnection;
        // A data source re-initialised since has a new connection; the old statements died with the old one.
        if (preparedOn !== connection) {
          prepared = new Map();
          preparedOn = connection;
        }
        let statement = prepared.get(sql);
        if (statement === undefined) {
          statement = connection.prepare(sql);
          prepared.set(sql, statement);
        }
        return statement.all(...values);
      };
    } else if (type === 'postgres' && typeof driver.master?.query === 'function') {
      run = postgresRunner(driver.master);
    } else {
      run = async (sql, values) => {
        const runner = dataSource.createQueryRunner();
        try {
          return (await runner.query(sql, values, true)).records;
        } finally {
          await runner.release();
        }
      };
    }

    const mainAlias = map.mainAlias!;
    const prefixColumn = mainAlias.metadata.findColumnWithPropertyName('prefix');
    const hashColumn = mainAlias.metadata.findColumnWithPropertyName('hashedKey');
    if (!prefixColumn || !hashColumn) return null;
    const prefixAlias = DriverUtils.buildAlias(
      dataSource.driver,
      undefined,
      mainAlias.name,
      prefixColumn.databaseName,
    );
    const hashAlias = DriverUtils.buildAlias(
      dataSource.driver,
      undefined,
      mainAlias.name,
      hashColumn.databaseName,
    );
    const transformer = new RawSqlResultsToEntityTransformer(map, dataSource.driver, [], undefined);
    const listened =
      map.callListeners &&
      (metadatas.some((metadata) => metadata.afterLoadListeners.length > 0) ||
        dataSource.subscribers.some((subscriber) => typeof subscriber.afterLoad === 'function'));
    const afterLoad = listened
      ? async (entities: ObjectLiteral[]) => {
          const runner = dataSource.createQueryRunner();
          try {
            await runner.broadcaster.broadcast('Load', mainAlias.metadata, entities);
          } finally {
            await runner.release();
          }
        }
      : null;
    return {
      statementFor,
      run,
      prefixOf: (row) => row[prefixAlias],
      hashOf: (row) => {
        const hashedKey = row[hashAlias];
        // The transformer skips undefined columns; deleting would turn the row into a slow dictionary.
        row[hashAlias] = undefined;
        return hashedKey;
      },
      foldsCase: type === 'mysql' || type === 'mariadb' || type === 'aurora-mysql',
      toEntities: (rows) => transformer.transform(rows, mainAlias),
      afterLoad,
    };
  }
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
 * read (about half the cost of a read, on the server and in the client). The name is derived
 * from the SQL, so no two statements share one. If the server turns out not to keep named
 * statements, lookups go on unnamed from then on; the read that found out is retried unnamed.
 */
function postgresRunner(pool: {
  query(config: unknown, values?: unknown[]): Promise<{ rows: any[] }>;
}): CompiledLookup['run'] {
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
    if (!named) return (await pool.query(sql, values)).rows;
    try {
      return (await pool.query({ name: nameOf(sql), text: sql, values })).rows;
    } catch (error) {
      if (!PREPARED_STATEMENT_TROUBLE.has((error as { code?: string } | null)?.code ?? ''))
        throw error;
      if (named) {
        named = false;
        new Logger('ApiKeyPrefixLookup').warn(
          `PostgreSQL refused a named prepared statement (${(error as { code: string }).code}); key lookups now run unprepared. Behind PgBouncer in transaction mode, set max_prepared_statements (PgBouncer 1.21+) to keep them prepared.`,
        );
      }
      return (await pool.query(sql, values)).rows;
    }
  };
}

/** Rows for one more caller of a shared read, with their own `Date` objects. */
function copyRows(rows: any[]): any[] {
  return rows.map((row) => {
    const copy = { ...row };
    for (const column in copy)
      if (copy[column] instanceof Date) copy[column] = new Date(copy[column].getTime());
    return copy;
  });
}
