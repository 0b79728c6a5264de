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
 * cache, relation ids or counts, the `query` relation strategy) keeps using `getOne()`.
 */
export class ApiKeyPrefixLookup<T extends AbstractApiKey> {
  private compiled: CompiledLookup | null | undefined;

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
    const parameters = compiled.parameters.slice();
    parameters[compiled.prefixIndex] = prefix;
    const rows = await compiled.run(parameters);
    if (rows.length === 0) return null;
    const entities = compiled.toEntities(rows);
    if (compiled.afterLoad) await compiled.afterLoad(entities);
    return (entities[0] as T | undefined) ?? null;
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

