/**
 * An optional accelerator. Nothing depends on it for correctness: when it cannot compile (or if
 * this folder were deleted, with the one call of `compilePrefixLookup` in `../lookup.ts`), key
 * rows are read through TypeORM's query builder, with the same results, only slower. Its
 * contract with TypeORM is pinned by `lookup.spec.ts` to the releases the peer range admits.
 *
 * The compiled key lookup: the one place this package reaches into TypeORM's internals. The
 * guard reads a key row per request; compiled once, its SELECT is not rebuilt per read, takes
 * the prefixes as its only varying parameters and can stay prepared. Doing that exactly as
 * `getOne()` would needs parts of TypeORM that are not its public API:
 *
 * - `typeorm/driver/DriverUtils.js` (`buildAlias`): the names of the columns in raw rows;
 * - `typeorm/query-builder/transformer/RawSqlResultsToEntityTransformer.js`: hydration as
 *   `getOne()` does it (dates, simple-json, booleans, joined relations);
 * - the query builder's `expressionMap`: to compile only setups the compiled form reproduces;
 * - the better-sqlite3 driver's `databaseConnection` and the PostgreSQL driver's `master` pool,
 *   to run prepared statements on them; a query runner's `broadcaster`, to fire `afterLoad`.
 *
 * They are verified on the TypeORM releases the peer range names. The deep modules are imported
 * dynamically and private fields are checked before use, so a release that moves one does not
 * break the package: {@link compilePrefixLookup} names what is missing, and the lookup goes
 * through the query builder instead, only slower.
 */
import { In, type DataSource, type EntityMetadata, type ObjectLiteral } from 'typeorm';
import type { FindOperator, SelectQueryBuilder } from 'typeorm';
import type { DriverUtils } from 'typeorm/driver/DriverUtils.js';
import type { RawSqlResultsToEntityTransformer } from 'typeorm/query-builder/transformer/RawSqlResultsToEntityTransformer.js';
import { entityCopier, type EntityCopier } from './copy.js';
import {
  postgresRunner,
  queryRunnerRunner,
  sqliteRunner,
  type StatementRunner,
} from './runners.js';

/** The lookup SELECT for a number of prefixes, with where each prefix goes in its parameters. */
export interface BatchStatement {
  sql: string;
  parameters: unknown[];
  prefixIndexes: number[];
}

/**
 * The lookup, compiled once by `compilePrefixLookup`: statements by batch size, and what
 * turns rows into entities.
 */
export interface CompiledLookup {
  /** The statement reading `size` prefixes at once. */
  statementFor(size: number): BatchStatement;
  /** Runs a statement, resolving to its raw rows; `read` is how its caller may give it up. */
  run: StatementRunner;
  /** The prefix column of a raw row. */
  prefixOf(row: any): unknown;
  /** Takes the stored hash out of a raw row (the caller's own copy), so hydration leaves it off the entity. */
  hashOf(row: any): string;
  /** Takes the secret tag out of a raw row, as `hashOf` the hash; `null` when the row has none. */
  tagOf(row: any): string | null;
  /** Whether the database compares prefixes without case (MySQL/MariaDB default collations). */
  foldsCase: boolean;
  /** Hydrates raw rows into entities, as `getOne()` does. */
  toEntities(rows: any[]): ObjectLiteral[];
  /** Copies an entity `toEntities` made, as hydrating its rows again would; `null` where it cannot. */
  copyEntity: EntityCopier | null;
  /** Fires `@AfterLoad()` and subscribers' `afterLoad`, as `getOne()` does; `null` when nothing listens. */
  afterLoad: ((entities: ObjectLiteral[]) => Promise<void>) | null;
}

/** Builds the lookup's SELECT through the query builder, for one prefix or an `In()` of several. */
export type LookupQueryBuilder<T extends ObjectLiteral> = (
  prefix: string | FindOperator<string>,
) => SelectQueryBuilder<T>;

/** The compiled lookup, or `null` for the query builder and `missing` naming the absent internal. */
export interface LookupCompilation {
  lookup: CompiledLookup | null;
  missing: string | null;
}

/** The deep TypeORM modules the compiled lookup uses. */
interface TypeOrmInternals {
  DriverUtils: typeof DriverUtils;
  Transformer: typeof RawSqlResultsToEntityTransformer;
}

/** A TypeORM internal the compiled lookup relies on is not where it expects it. */
class MissingInternalError extends Error {}

function requireInternal(present: boolean, what: string): void {
  if (!present) throw new MissingInternalError(`${what} is missing`);
}

/** Stands in for the i-th prefix while a SELECT is compiled, to find its bound parameter. Never sent. */
const placeholder = (i: number) => `\u0000api-key-prefix-${i}\u0000`;

let loading: Promise<TypeOrmInternals> | undefined;

/** Imports the deep modules once per process; rejects with what could not be loaded. */
function loadInternals(): Promise<TypeOrmInternals> {
  loading ??= Promise.all([
    importInternal<{ DriverUtils: typeof DriverUtils }>('typeorm/driver/DriverUtils.js'),
    importInternal<{ RawSqlResultsToEntityTransformer: typeof RawSqlResultsToEntityTransformer }>(
      'typeorm/query-builder/transformer/RawSqlResultsToEntityTransformer.js',
    ),
  ]).then(([utils, transformer]) => {
    requireInternal(typeof utils.DriverUtils?.buildAlias === 'function', 'DriverUtils.buildAlias');
    const Transformer = transformer.RawSqlResultsToEntityTransformer;
    requireInternal(typeof Transformer === 'function', 'RawSqlResultsToEntityTransformer');
    return { DriverUtils: utils.DriverUtils, Transformer };
  });
  return loading;
}

/** Imports a deep module, or says which did not load and why. */
async function importInternal<M>(specifier: string): Promise<M> {
  try {
    return (await import(specifier)) as M;
  } catch (error) {
    throw new MissingInternalError(`${specifier} did not load (${String(error)})`);
  }
}

/**
 * Compiles the lookup whose SELECT `queryBuilder` makes, on the data source's driver.
 *
 * @throws what the query builder throws for the lookup's `where` (an unknown property, say),
 * as `getOne()` would
 */
export async function compilePrefixLookup<T extends ObjectLiteral>(
  dataSource: DataSource,
  queryBuilder: LookupQueryBuilder<T>,
): Promise<LookupCompilation> {
  try {
    const lookup = await compile(dataSource, queryBuilder, await loadInternals());
    return { lookup, missing: null };
  } catch (error) {
    // A where the query builder itself refuses is the caller's mistake, not TypeORM's change.
    queryBuilder(placeholder(0)).getQuery();
    const missing =
      error instanceof MissingInternalError
        ? error.message
        : `compiling it threw (${(error as Error)?.message ?? error})`;
    return { lookup: null, missing };
  }
}

async function compile<T extends ObjectLiteral>(
  dataSource: DataSource,
  queryBuilder: LookupQueryBuilder<T>,
  { DriverUtils, Transformer }: TypeOrmInternals,
): Promise<CompiledLookup | null> {
  const builder = queryBuilder(In([placeholder(0)]));
  const map = builder.expressionMap;
  requireInternal(Array.isArray(map?.aliases), "the query builder's expressionMap");
  const metadatas = map.aliases.filter((alias) => alias.hasMetadata).map((alias) => alias.metadata);
  // What `getOne()` runs extra steps for, the compiled form does not reproduce.
  if (
    dataSource.queryResultCache ||
    map.cache ||
    map.lockMode ||
    map.relationLoadStrategy === 'query' ||
    map.relationIdAttributes.length > 0 ||
    metadatas.some((metadata) => metadata.relationIds.length > 0)
  )
    return null;
  const mainAlias = map.mainAlias!;
  const prefixColumn = mainAlias.metadata.findColumnWithPropertyName('prefix');
  const hashColumn = mainAlias.metadata.findColumnWithPropertyName('hashedKey');
  const tagColumn = mainAlias.metadata.findColumnWithPropertyName('secretTag');
  // Building the first statement also applies the find options to `map`, which hydration reads.
  const statementFor = statementCompiler(dataSource.options.type, queryBuilder, builder);
  if (!prefixColumn || !hashColumn || !tagColumn || statementFor === null) return null;
  const aliasOf = (column: { databaseName: string }) =>
    DriverUtils.buildAlias(dataSource.driver, undefined, mainAlias.name, column.databaseName);
  const [prefixAlias, hashAlias, tagAlias] = [prefixColumn, hashColumn, tagColumn].map(aliasOf);
  const transformer = new Transformer(map, dataSource.driver, [], undefined);
  const listened =
    map.callListeners &&
    (metadatas.some((metadata) => metadata.afterLoadListeners.length > 0) ||
      dataSource.subscribers.some((subscriber) => typeof subscriber.afterLoad === 'function'));
  const type = dataSource.options.type;
  return {
    statementFor,
    run: runnerFor(dataSource),
    prefixOf: (row) => row[prefixAlias],
    hashOf: (row) => {
      const hashedKey = row[hashAlias];
      // The transformer skips undefined columns; deleting would turn the row into a slow dictionary.
      row[hashAlias] = undefined;
      return hashedKey;
    },
    tagOf: (row) => {
      const secretTag = row[tagAlias];
      row[tagAlias] = undefined;
      return secretTag ?? null;
    },
    foldsCase: type === 'mysql' || type === 'mariadb' || type === 'aurora-mysql',
    toEntities: (rows) => transformer.transform(rows, mainAlias),
    // Joined relations come out as entities of their own, which the copier leaves to hydration.
    copyEntity: map.joinAttributes.length > 0 ? null : entityCopier(mainAlias.metadata),
    afterLoad: listened ? await loadBroadcaster(dataSource, mainAlias.metadata) : null,
  };
}

/**
 * The statements by batch size, each built by the query builder on first need (the one for a
 * single prefix by `single`); `null` when a prefix does not come out as a bound parameter of
 * its own.
 */
function statementCompiler<T extends ObjectLiteral>(
  type: DataSource['options']['type'],
  queryBuilder: LookupQueryBuilder<T>,
  single: SelectQueryBuilder<T>,
): CompiledLookup['statementFor'] | null {
  const build = (size: number, from?: SelectQueryBuilder<T>): BatchStatement | null => {
    const prefixes = Array.from({ length: size }, (_, i) => placeholder(i));
    const [sql, built] = (from ?? queryBuilder(In(prefixes))).getQueryAndParameters();
    const prefixIndexes = prefixes.map((prefix) => built.indexOf(prefix));
    if (prefixIndexes.some((index, i) => index < 0 || built.lastIndexOf(prefixes[i]) !== index))
      return null;
    // better-sqlite3 cannot bind booleans; TypeORM's query runner maps them the same way.
    const parameters =
      type === 'better-sqlite3'
        ? built.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p))
        : built;
    return { sql, parameters, prefixIndexes };
  };
  const first = build(1, single);
  if (first === null) return null;
  const statements = new Map<number, BatchStatement>([[1, first]]);
  return (size) => {
    const statement = statements.get(size);
    if (statement !== undefined) return statement;
    const built = build(size);
    if (built === null) throw new Error(`Could not compile the key lookup for ${size} prefixes.`);
    statements.set(size, built);
    return built;
  };
}

/** Fires the `Load` event through a query runner's broadcaster, as `getOne()` does. */
async function loadBroadcaster(
  dataSource: DataSource,
  metadata: EntityMetadata,
): Promise<CompiledLookup['afterLoad']> {
  const probe = dataSource.createQueryRunner();
  const present = typeof (probe as any).broadcaster?.broadcast === 'function';
  await probe.release();
  requireInternal(present, "a query runner's broadcaster");
  return async (entities) => {
    const runner = dataSource.createQueryRunner();
    try {
      await (runner as any).broadcaster.broadcast('Load', metadata, entities);
    } finally {
      await runner.release();
    }
  };
}

/**
 * Runs statements on the driver's own connection where it can, else through a query runner: the
 * runner the compiled lookup reads with. Exported for the bench's round-trip control, which
 * times a bare `SELECT 1` through the same path.
 *
 * @throws when the driver lacks the internal the runner needs (the lookup then compiles to `null`)
 */
export function runnerFor(dataSource: DataSource): CompiledLookup['run'] {
  const driver = dataSource.driver as any;
  const type = dataSource.options.type;
  if (type === 'better-sqlite3') {
    requireInternal(
      typeof driver.databaseConnection?.prepare === 'function',
      "the better-sqlite3 driver's databaseConnection",
    );
    return sqliteRunner(driver);
  }
  if (type === 'postgres') {
    requireInternal(
      typeof driver.master?.connect === 'function',
      "the PostgreSQL driver's master pool",
    );
    const Query = driver.postgres?.Query;
    return postgresRunner(driver.master, typeof Query === 'function' ? Query : null);
  }
  return queryRunnerRunner(dataSource);
}
