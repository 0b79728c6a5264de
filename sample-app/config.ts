import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataSourceOptions } from 'typeorm';

/**
 * The SQLite file used when DATABASE_URL is unset: `sample-app/sample.sqlite`, wherever the
 * compiled app is started from (it runs from `sample-app/dist/sample-app/`).
 */
export const DEFAULT_SQLITE_FILE = fileURLToPath(new URL('../../sample.sqlite', import.meta.url));

/** Thrown for an environment variable the sample app cannot use; its message is one line. */
export class SampleConfigError extends Error {}

/** The sample app's settings, all read from the environment. */
export interface SampleConfig {
  /** `PORT`, default 3000; `0` picks a free port. The app listens on 127.0.0.1 only. */
  port: number;
  /** `DATABASE_URL`: `sqlite:<file>` (default), `postgres://…`, `mysql://…` or `mariadb://…`. */
  database: DataSourceOptions;
  /** `API_KEY_HEADER`: read keys raw from this header instead of `Authorization: Api-Key <key>`. */
  apiKeyHeader: string | undefined;
  /** `SAMPLE_USER_TOKEN`, default `demo-user-token`: what the stand-in user login accepts as a bearer token. */
  userToken: string;
  /** `REDIS_URL`: rate-limit counters in this Redis, shared by every instance; in memory when unset. */
  redisUrl: string | undefined;
  /** `API_KEY_REVOCATION_SYNC=notify`: default and partner keys cached per process, kept current by change notifications (PostgreSQL) or a polled change counter (MariaDB, SQLite), partners' changes included. */
  revocationSync: 'notify' | undefined;
  /**
   * `REDIS_KEY_PREFIX`, default none: put before every Redis key of the counters, so that apps
   * (or test runs) sharing one Redis count apart; instances that share a budget share a prefix.
   */
  redisKeyPrefix: string;
}

/**
 * Turns a DATABASE_URL into TypeORM connection options (no entities or migrations yet).
 *
 * @throws {SampleConfigError} for a scheme the sample app does not support
 */
export function connectionOptions(url: string | undefined): DataSourceOptions {
  const value = url === undefined || url === '' ? `sqlite:${DEFAULT_SQLITE_FILE}` : url;
  if (value.startsWith('sqlite:')) {
    const file = value.slice('sqlite:'.length).replace(/^\/\//, '');
    if (file === '')
      throw new SampleConfigError(
        'DATABASE_URL "sqlite:" needs a file name, e.g. sqlite:sample.sqlite.',
      );
    return { type: 'better-sqlite3', database: isAbsolute(file) ? file : resolve(file) };
  }
  const scheme = /^([a-z0-9+]+):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return { type: 'postgres', url: value };
  // Dates are stored in UTC, whatever the server's time zone.
  if (scheme === 'mysql' || scheme === 'mariadb')
    return { type: scheme, url: value, timezone: 'Z' };
  throw new SampleConfigError(
    'DATABASE_URL must start with sqlite:, postgres://, mysql:// or mariadb:// (e.g. sqlite:sample.sqlite).',
  );
}

/**
 * Reads the sample app's settings from `env`.
 *
 * @throws {SampleConfigError} naming the variable at fault
 */
export function loadSampleConfig(env: NodeJS.ProcessEnv = process.env): SampleConfig {
  const port = env.PORT === undefined || env.PORT === '' ? '3000' : env.PORT;
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
    throw new SampleConfigError(
      `PORT "${port}" is not a port number (0 to 65535; 0 picks a free one).`,
    );
  }
  return {
    port: Number(port),
    database: connectionOptions(env.DATABASE_URL),
    apiKeyHeader: env.API_KEY_HEADER || undefined,
    userToken: env.SAMPLE_USER_TOKEN || 'demo-user-token',
    redisUrl: env.REDIS_URL || undefined,
    revocationSync: revocationSync(env.API_KEY_REVOCATION_SYNC),
    redisKeyPrefix: env.REDIS_KEY_PREFIX ?? '',
  };
}

function revocationSync(value: string | undefined): 'notify' | undefined {
  if (value === undefined || value === '' || value === 'read') return undefined;
  if (value === 'notify') return value;
  throw new SampleConfigError(`API_KEY_REVOCATION_SYNC "${value}" must be notify or read.`);
}
