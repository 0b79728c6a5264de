import type { FindOptionsWhere, ObjectLiteral, Repository, SelectQueryBuilder } from 'typeorm';
import { RawSqlResultsToEntityTransformer } from 'typeorm/query-builder/transformer/RawSqlResultsToEntityTransformer.js';
import type { AbstractApiKey } from './api-key.entity.js';

/** Stands in for the prefix while the SELECT is compiled, to find its bound parameter. Never sent. */
const PREFIX_PLACEHOLDER = '\u0000api-key-prefix\u0000';

/** The lookup SELECT, compiled once, and what turns its rows into an entity. */
interface CompiledLookup {
  /** Whether the driver answers asynchronously, so that requests can arrive while a read is out. */
  asynchronous: boolean;
  parameters: unknown[];
  prefixIndex: number;
  run: (parameters: unknown[]) => Promise<any[]>;
  toEntities: (rows: any[]) => ObjectLiteral[];
  /** Fires `@AfterLoad()` and subscribers' `afterLoad`, as `getOne()` does; `null` when nothing listens. */
  afterLoad: ((entities: ObjectLiteral[]) => Promise<void>) | null;
}

/**
 * Reads a key row, with its hash, by prefix: the guard's one database read per request.
 *
 * The SELECT is the one TypeORM's query builder makes for `{ ...usableWhere, prefix }` (with
 * its joins and soft-delete condition), but it is built once, not per request, and run with
 * the prefix as its only bound parameter: on better-sqlite3 through one prepared statement,
 * on PostgreSQL straight through the data source's pool, elsewhere through a query runner.
 * Rows are hydrated by TypeORM's own transformer, so dates, simple-json and booleans come back
 * as `getOne()` gives them. A setup the compiled form cannot reproduce exactly (query result
 * cache, `@RelationId` properties, the `query` relation strategy) keeps using `getOne()`.
 *
 * On drivers that answer asynchronously, requests for a prefix whose read is already out do
 * not start reads of their own: they wait for it, then share the one read started as it
 * returns. Every request is thus answered from a read that began after it arrived (a row
 * changed before a request came is always seen by it), while a busy key costs one query per
 * round trip rather than one per request. Each caller gets its own entity.
 */
export class ApiKeyPrefixLookup<T extends AbstractApiKey> {
  private compiled: CompiledLookup | null | undefined;
  /** Prefixes with a read out, and the callers waiting for the read after it. */
  private readonly reads = new Map<string, { waiting: Array<Waiter> | null }>();

  constructor(
    private readonly repository: Repository<T>,
    private readonly usableWhere: FindOptionsWhere<T> | null,
  ) {}

  /**
   * The row whose prefix is `prefix` and that meets `usableWhere`, with `hashedKey` selected, or `null`.
   *
   * @throws whatever the driver throws when the database cannot be read
   */
  async find(prefix: string): Promise<T | null> {
    // Compiled on first use: the data source is connected by then, and its driver is known.
    if (this.compiled === undefined) this.compiled = this.compile();
    const compiled = this.compiled;
    if (compiled === null) return this.queryBuilder(prefix).getOne();
    const rows = compiled.asynchronous ? await this.sharedRead(compiled, prefix) : await this.read(compiled, prefix);
    if (rows.length === 0) return null;
    const entities = compiled.toEntities(rows);
    if (compiled.afterLoad) await compiled.afterLoad(entities);
    return (entities[0] as T | undefined) ?? null;
  }

  private read(compiled: CompiledLookup, prefix: string): Promise<any[]> {
    const parameters = compiled.parameters.slice();
    parameters[compiled.prefixIndex] = prefix;
    return compiled.run(parameters);
  }

  /** Starts a read if none is out for `prefix`; otherwise joins the read that starts when it returns. */
  private sharedRead(compiled: CompiledLookup, prefix: string): Promise<any[]> {
    const out = this.reads.get(prefix);
    if (out === undefined) {
      const state = { waiting: null };
      this.reads.set(prefix, state);
      return this.readInTurn(compiled, prefix, state);
    }
    // The read that is out began before this request arrived, so it may not answer it.
    return new Promise((resolve, reject) => (out.waiting ??= []).push({ resolve, reject }));
  }

  private readInTurn(compiled: CompiledLookup, prefix: string, state: { waiting: Waiter[] | null }): Promise<any[]> {
    const reading = this.read(compiled, prefix);
    const next = () => {
      const waiting = state.waiting;
      if (waiting === null) {
        this.reads.delete(prefix);
        return;
      }
      state.waiting = null;
      this.readInTurn(compiled, prefix, state).then(
        (rows) => waiting.forEach((waiter) => waiter.resolve(copyRows(rows))),
        (error) => waiting.forEach((waiter) => waiter.reject(error)),
      );
    };
    reading.then(next, next);
    return reading;
  }

  private queryBuilder(prefix: string): SelectQueryBuilder<T> {
    return this.repository
      .createQueryBuilder('api_key')
      .setFindOptions({ where: { ...(this.usableWhere ?? {}), prefix } as FindOptionsWhere<T> })
      .addSelect('api_key.hashedKey');
  }

  private compile(): CompiledLookup | null {
    const dataSource = this.repository.manager.dataSource;
    const builder = this.queryBuilder(PREFIX_PLACEHOLDER);
    const map = builder.expressionMap;
    const metadatas = map.aliases.filter((alias) => alias.hasMetadata).map((alias) => alias.metadata);
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
    const [sql, builtParameters] = builder.getQueryAndParameters();
    const prefixIndex = builtParameters.indexOf(PREFIX_PLACEHOLDER);
    if (prefixIndex < 0 || builtParameters.lastIndexOf(PREFIX_PLACEHOLDER) !== prefixIndex) return null;

    const driver = dataSource.driver as any;
    let run: CompiledLookup['run'];
    let parameters = builtParameters;
    if (dataSource.options.type === 'better-sqlite3') {
      // better-sqlite3 cannot bind booleans; TypeORM's query runner maps them the same way.
      parameters = builtParameters.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
      let statement: any = null;
      run = async (values) => {
        const connection = driver.databaseConnection;
        // A data source re-initialised since has a new connection; the old statement is dead with the old one.
        if (statement === null || statement.database !== connection) statement = connection.prepare(sql);
        return statement.all(...values);
      };
    } else if (dataSource.options.type === 'postgres' && typeof driver.master?.query === 'function') {
      run = async (values) => (await driver.master.query(sql, values)).rows;
    } else {
      run = async (values) => {
        const runner = dataSource.createQueryRunner();
        try {
          return (await runner.query(sql, values, true)).records;
        } finally {
          await runner.release();
        }
      };
    }

    const transformer = new RawSqlResultsToEntityTransformer(map, dataSource.driver, [], undefined);
    const mainAlias = map.mainAlias!;
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
    return { asynchronous: dataSource.options.type !== 'better-sqlite3', parameters, prefixIndex, run, toEntities: (rows) => transformer.transform(rows, mainAlias), afterLoad };
  }
}

interface Waiter {
  resolve: (rows: any[]) => void;
  reject: (error: unknown) => void;
}

/** Rows for one more caller of a shared read: drivers hand out `Date` objects, which must not be shared between requests. */
function copyRows(rows: any[]): any[] {
  return rows.map((row) => {
    const copy = { ...row };
    for (const column in copy) if (copy[column] instanceof Date) copy[column] = new Date(copy[column].getTime());
    return copy;
  });
}
