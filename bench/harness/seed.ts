import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { randomAlphanumeric } from '../../lib/keys/format.js';

/** A row to bulk-insert: the columns the lookup touches, with a real-looking hash. */
export interface SeedRow {
  prefix: string;
  hashedKey: string;
}

/** Rows per statement on PostgreSQL (sent as arrays, so one bind parameter per column). */
const PG_CHUNK = 50_000;
/** Rows per multi-row INSERT on MariaDB (five bind parameters a row, well under its limit). */
const MARIADB_CHUNK = 5_000;

/**
 * `count` filler rows with distinct random prefixes, all sharing one precomputed hash: the
 * table and its prefix index get the size of a real one without paying a slow hash per row.
 */
export function fillerRows(count: number, hashedKey: string): SeedRow[] {
  const prefixes = new Set<string>();
  while (prefixes.size < count) prefixes.add(randomAlphanumeric(8));
  return [...prefixes].map((prefix) => ({ prefix, hashedKey }));
}

/** Multi-row INSERTs on MariaDB, then ANALYZE, as on PostgreSQL. */
async function bulkInsertMariadb(dataSource: DataSource, rows: SeedRow[], createdAt: Date) {
  for (let i = 0; i < rows.length; i += MARIADB_CHUNK) {
    const chunk = rows.slice(i, i + MARIADB_CHUNK);
    await dataSource.query(
      `INSERT INTO api_keys (id, prefix, hashed_key, name, scopes, created_at) VALUES ${chunk.map(() => "(?, ?, ?, 'filler', '[]', ?)").join(', ')}`,
      chunk.flatMap((row) => [randomUUID(), row.prefix, row.hashedKey, createdAt]),
    );
  }
  await dataSource.query('ANALYZE TABLE api_keys');
}

/**
 * Inserts rows into the `api_keys` table in bulk: one transaction of prepared inserts on
 * SQLite, multi-row `INSERT ... SELECT unnest(...)` statements on PostgreSQL, multi-row
 * `INSERT ... VALUES` on MariaDB.
 */
export async function bulkInsert(dataSource: DataSource, rows: SeedRow[]): Promise<void> {
  if (rows.length === 0) return;
  const createdAt = new Date();
  if (dataSource.options.type === 'better-sqlite3') {
    const db = (dataSource.driver as any).databaseConnection;
    // TypeORM's own text form of a datetime on SQLite, so filler rows read back like real ones.
    const created = createdAt.toISOString().replace('T', ' ').replace('Z', '');
    const insert = db.prepare(
      'INSERT INTO api_keys (id, prefix, hashed_key, name, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    db.transaction(() => {
      for (const row of rows)
        insert.run(randomUUID(), row.prefix, row.hashedKey, 'filler', '[]', created);
    })();
    db.exec('ANALYZE');
    return;
  }
  if (dataSource.options.type === 'mariadb' || dataSource.options.type === 'mysql')
    return bulkInsertMariadb(dataSource, rows, createdAt);
  for (let i = 0; i < rows.length; i += PG_CHUNK) {
    const chunk = rows.slice(i, i + PG_CHUNK);
    await dataSource.query(
      `INSERT INTO api_keys (id, prefix, hashed_key, name, scopes, created_at)
       SELECT id, prefix, hashed_key, 'filler', '[]', $4 FROM unnest($1::varchar[], $2::varchar[], $3::varchar[]) AS t(id, prefix, hashed_key)`,
      [
        chunk.map(() => randomUUID()),
        chunk.map((r) => r.prefix),
        chunk.map((r) => r.hashedKey),
        createdAt,
      ],
    );
  }
  // A production table has statistics; a freshly filled one does not until autovacuum runs.
  await dataSource.query('ANALYZE api_keys');
}
