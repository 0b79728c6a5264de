import { MigrationExecutor, type DataSource, type Migration, type QueryRunner } from 'typeorm';

/** Identifies the migration lock among the database's other advisory locks. */
const PG_LOCK_KEY = 7_358_201_664;
/** Hashed with the database name: MySQL's lock names are server-wide and at most 64 characters. */
const MYSQL_LOCK_NAME = "SHA1(CONCAT('nestjs-api-key migrations ', DATABASE()))";
/** How long a MySQL/MariaDB process waits for another's migrations before giving up. */
const MYSQL_LOCK_TIMEOUT_SECONDS = 600;

/** Options of `runMigrationsLocked`, as `DataSource.runMigrations()` takes them. */
export type RunMigrationsOptions = Parameters<DataSource['runMigrations']>[0];

/**
 * Takes the migration lock on `queryRunner`'s connection.
 *
 * @throws {Error} when MySQL/MariaDB's lock is not granted in time
 */
async function lock(queryRunner: QueryRunner, type: string): Promise<void> {
  if (type === 'postgres') {
    await queryRunner.query('SELECT pg_advisory_lock($1)', [PG_LOCK_KEY]);
    return;
  }
  const [row] = await queryRunner.query(
    `SELECT GET_LOCK(${MYSQL_LOCK_NAME}, ${MYSQL_LOCK_TIMEOUT_SECONDS}) AS granted`,
  );
  if (Number(row?.granted) !== 1) {
    throw new Error(
      `Waited ${MYSQL_LOCK_TIMEOUT_SECONDS} s for another process's migrations to finish; run them again.`,
    );
  }
}

async function unlock(queryRunner: QueryRunner, type: string): Promise<void> {
  await queryRunner.query(
    type === 'postgres'
      ? 'SELECT pg_advisory_unlock($1)'
      : `SELECT RELEASE_LOCK(${MYSQL_LOCK_NAME})`,
    type === 'postgres' ? [PG_LOCK_KEY] : [],
  );
}

/**
 * Runs the data source's pending migrations, as `dataSource.runMigrations()` does, while holding
 * a lock that every process calling it takes first: an advisory lock on PostgreSQL, `GET_LOCK`
 * on MySQL/MariaDB. Processes started together on an empty database (several instances of an
 * app, or CLI runs) then run the migrations one after the other instead of racing to create
 * the same tables. SQLite allows one writer at a time and needs no lock. The migrations run on
 * the connection holding the lock, so it needs no second connection from the pool.
 *
 * Use it instead of `migrationsRun: true`, which runs them unlocked inside `initialize()`:
 *
 * @example
 * ```ts
 * TypeOrmModule.forRootAsync({
 *   useFactory: () => ({ ...options, migrationsRun: false }),
 *   dataSourceFactory: async (options) => {
 *     const dataSource = await new DataSource(options!).initialize();
 *     await runMigrationsLocked(dataSource);
 *     return dataSource;
 *   },
 * });
 * ```
 * @returns the migrations this call ran (none when another process ran them first)
 * @throws what the failing migration throws; the lock is released either way
 * @publicApi
 */
export async function runMigrationsLocked(
  dataSource: DataSource,
  options: RunMigrationsOptions = {},
): Promise<Migration[]> {
  const type = dataSource.options.type;
  if (type !== 'postgres' && type !== 'mysql' && type !== 'mariadb')
    return dataSource.runMigrations(options);
  const queryRunner = dataSource.createQueryRunner('master');
  try {
    await lock(queryRunner, type);
    try {
      const executor = new MigrationExecutor(dataSource, queryRunner);
      executor.transaction =
        options.transaction ?? dataSource.options.migrationsTransactionMode ?? 'all';
      executor.fake = options.fake ?? false;
      return await executor.executePendingMigrations();
    } finally {
      // A connection that was lost took its session's lock with it.
      await unlock(queryRunner, type).catch(() => undefined);
    }
  } finally {
    await queryRunner.release();
  }
}
