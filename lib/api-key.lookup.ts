import type { FindOptionsWhere, ObjectLiteral, Repository, SelectQueryBuilder } from 'typeorm';
import { RawSqlResultsToEntityTransformer } from 'typeorm/query-builder/transformer/RawSqlResultsToEntityTransformer.js';
import type { AbstractApiKey } from './api-key.entity.js';

/** Stands in for the prefix while the SELECT is compiled, to find its bound parameter. Never sent. */
const PREFIX_PLACEHOLDER = '\u0000api-key-prefix\u0000';

/** The lookup SELECT, compiled once, and what turns its rows into an entity. */
interface CompiledLookup {
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
 * Requests for the same prefix share reads, but never one that began before they arrived: a
 * read starts at the end of the event-loop turn in which its first request came, answering
 * every request for that prefix that came before it started; requests that come while it is
 * out wait for the read that starts when it returns. So a row changed before a request came
 * is always seen by it (a revocation applies to the next request), while a busy key costs one
 * query per turn or round trip rather than one per request. Each caller gets its own entity.
 */
export class ApiKeyPrefixLookup<T extends AbstractApiKey> {
  private compiled: CompiledLookup | null | undefined;
  /** Prefixes with a read pending or out, and the callers waiting for the next read. */
  private readonly reads = new Map<string, Waiting>();
  /** Reads to start at the end of this turn. */
  private starting: Array<{ compiled: CompiledLookup; prefix: string; state: Waiting }> = [];

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
    const rows = await this.sharedRead(compiled, prefix);
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

  /**
   * Joins the read of `prefix` that has not started yet, or asks for one at the end of this
   * turn of the event loop; while a read is out, callers wait for the one after it.
   */
  private sharedRead(compiled: CompiledLookup, prefix: string): Promise<any[]> {
    return new Promise((resolve, reject) => {
      let state = this.reads.get(prefix);
      if (state === undefined) {
        state = { waiters: [] };
        this.reads.set(prefix, state);
        this.starting.push({ compiled, prefix, state });
        // One deferral per turn, whatever the number of keys: past the I/O callbacks of this
        // turn, so the requests for a prefix that came with this one share its read.
        if (this.starting.length === 1) setImmediate(this.startReads);
      }
      state.waiters.push({ resolve, reject });
    });
  }

  private readonly startReads = (): void => {
    const starting = this.starting;
    this.starting = [];
    for (const { compiled, prefix, state } of starting) this.readFor(compiled, prefix, state);
  };

  private readFor(compiled: CompiledLookup, prefix: string, state: Waiting): void {
    const waiters = state.waiters;
    state.waiters = [];
    const settled = () => {
      // Callers that came while the read was out may not be answered by it: they get the next one.
      if (state.waiters.length > 0) this.readFor(compiled, prefix, state);
      else this.reads.delete(prefix);
    };
    this.read(compiled, prefix).then(
      (rows) => {
        waiters.forEach((waiter, index) => waiter.resolve(index === 0 ? rows : copyRows(rows)));
        settled();
      },
      (error) => {
        for (const waiter of waiters) waiter.reject(error);
        settled();
      },
    );
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
    return { parameters, prefixIndex, run, toEntities: (rows) => transformer.transform(rows, mainAlias), afterLoad };
  }
}

interface Waiting {
  waiters: Waiter[];
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
