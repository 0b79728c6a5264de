import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { DataSource } from 'typeorm';

/** The database engines every persistence test runs on. */
export const ENGINES = ['sqlite', 'postgres', 'mariadb'] as const;
export type Engine = (typeof ENGINES)[number];

const PG = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  username: process.env.PGUSER ?? 'postgres',
  password: process.env.PGPASSWORD ?? '',
};
const MARIADB = {
  host: process.env.MYSQL_HOST ?? '127.0.0.1',
  port: Number(process.env.MYSQL_PORT ?? 3306),
  username: process.env.MYSQL_USER ?? 'root',
  password: process.env.MYSQL_PASSWORD ?? '',
};

/** A database made for one suite, and how to drop it. */
export interface TestDatabase {
  engine: Engine;
  /** Options to spread into `TypeOrmModule.forRoot()` or `new DataSource()`. */
  options: DataSourceOptions;
  /** Drops the database. Safe to call twice. */
  drop(): Promise<void>;
}

/**
 * Makes a fresh, empty database on a real server (or an in-memory SQLite one), named uniquely
 * so concurrent suites and runs never share tables. A server that cannot be reached fails the
 * suite: it is never skipped.
 */
export async function createTestDatabase(engine: Engine): Promise<TestDatabase> {
  const name = `apikey_${process.pid}_${randomBytes(4).toString('hex')}`;
  if (engine === 'sqlite') {
    return {
      engine,
      options: { type: 'better-sqlite3', database: ':memory:' },
      drop: async () => {},
    };
  }
  const admin = new DataSource(
    engine === 'postgres'
      ? { type: 'postgres', ...PG, database: process.env.PGDATABASE ?? 'test' }
      : { type: 'mariadb', ...MARIADB, database: process.env.MYSQL_DATABASE ?? 'test' },
  );
  try {
    await admin.initialize();
  } catch (error) {
    throw new Error(
      `The ${engine} server is unreachable (${(error as Error).message}). Start it: see README "Running the tests".`,
      { cause: error },
    );
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.destroy();
  let dropped = false;
  const options: DataSourceOptions =
    engine === 'postgres'
      ? { type: 'postgres', ...PG, database: name }
      : { type: 'mariadb', ...MARIADB, database: name, timezone: 'Z' };
  return {
    engine,
    options,
    async drop() {
      if (dropped) return;
      dropped = true;
      const ds = new DataSource(
        engine === 'postgres'
          ? { type: 'postgres', ...PG, database: process.env.PGDATABASE ?? 'test' }
          : { type: 'mariadb', ...MARIADB, database: process.env.MYSQL_DATABASE ?? 'test' },
      );
      await ds.initialize();
      await ds.query(
        engine === 'postgres'
          ? `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`
          : `DROP DATABASE IF EXISTS ${name}`,
      );
      await ds.destroy();
    },
  };
}

/**
 * A database that several app instances of one suite share: for `sqlite-file`, a SQLite file in
 * a folder of its own (`:memory:` would give each connection its own database), removed by
 * `drop()`; otherwise what `createTestDatabase` makes.
 */
export async function createSharedDatabase(
  engine: 'sqlite-file' | Exclude<Engine, 'sqlite'>,
): Promise<TestDatabase> {
  if (engine !== 'sqlite-file') return createTestDatabase(engine);
  const dir = mkdtempSync(join(tmpdir(), 'apikey-shared-'));
  return {
    engine: 'sqlite',
    options: { type: 'better-sqlite3', database: join(dir, 'keys.sqlite') },
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}
