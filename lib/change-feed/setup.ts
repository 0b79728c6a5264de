import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QueryRunner, Repository } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import type { ApiKeyOptions, ResolvedApiKeyOptions } from '../api-key.options.js';
import { runStatements, triggerDialect } from '../schema/sql.js';
import { PostgresChangeListener, type ListeningPool } from './listener.js';
import { ChangeCounterPoller } from './poller.js';
import { hasOwnerTrigger, ownerTriggerName, ownerTriggerStatements } from './owner-sql.js';
import { findRawCondition, ownerTablesOf } from './owners.js';
import { NotifiedRowCache } from './cache.js';
import { changeTriggerStatements, hasChangeTrigger } from './notify-sql.js';
import { TtlRowCache, type ApiKeyRowCache } from './row-cache.js';

/** How other processes' changes to a key reach this one. */
export type ApiKeyRevocationSync = 'read' | 'notify';

/** Default `pollInterval`, in milliseconds. */
export const DEFAULT_POLL_INTERVAL = 100;

/** Liveness ping and reconnect pacing of the PostgreSQL listener. */
const HEARTBEAT = 1_000;
const RETRY = { first: 100, max: 5_000 };

/**
 * Validates `revocationSync`. Notify mode caches rows, so it refuses the options that would make
 * a cached row wrong without a notification: a `usableWhere` holding `Raw(...)` SQL (which may
 * read the clock or tables no trigger watches) and `rowCacheTtl` (a second cache). Other
 * `usableWhere` conditions are heard through triggers on the tables they read.
 *
 * @throws {ApiKeyConfigurationError} naming the option at fault and the fix
 */
export function resolveRevocationSync<T extends AbstractApiKey>(
  given: ApiKeyOptions<T>,
): ApiKeyRevocationSync {
  const setting = given.revocationSync ?? 'read';
  const mode = typeof setting === 'object' && setting !== null ? setting.mode : setting;
  const extra = typeof setting === 'object' && setting !== null ? unknownSettings(setting) : [];
  if (
    (mode !== 'read' && mode !== 'notify') ||
    extra.length > 0 ||
    (mode === 'read' && setting !== mode)
  )
    throw new ApiKeyConfigurationError(
      'revocationSync',
      `expected 'read' or 'notify' (or { mode: 'notify', pollInterval }), got ${JSON.stringify(setting)}.`,
      "set 'notify' to cache rows kept current by change notifications, or leave it unset.",
    );
  const raw = mode === 'notify' ? findRawCondition(given.usableWhere, 'usableWhere') : null;
  if (raw !== null)
    throw new ApiKeyConfigurationError(
      'revocationSync',
      `'notify' cannot follow ${raw}: a Raw(...) condition may read the clock or tables no trigger watches, so a cached key could pass after it turned false.`,
      'write that condition with column values and operators (Equal, In, IsNull, MoreThan...), or leave revocationSync unset for this registration.',
    );
  if (mode === 'notify' && (given.rowCacheTtl ?? 0) > 0)
    throw new ApiKeyConfigurationError(
      'revocationSync',
      "'notify' cannot be combined with rowCacheTtl, which serves rows without hearing of their changes.",
      'remove rowCacheTtl: notify mode caches rows itself.',
    );
  return mode;
}

function unknownSettings(setting: object): string[] {
  return Object.keys(setting).filter((key) => key !== 'mode' && key !== 'pollInterval');
}

/**
 * The poll interval of notify mode on MariaDB/MySQL and SQLite.
 *
 * @throws {ApiKeyConfigurationError} when `pollInterval` is not a whole number of 1 to 60000 ms
 */
export function resolvePollInterval<T extends AbstractApiKey>(given: ApiKeyOptions<T>): number {
  const setting = given.revocationSync;
  const interval =
    typeof setting === 'object' && setting !== null ? setting.pollInterval : undefined;
  if (interval === undefined) return DEFAULT_POLL_INTERVAL;
  if (!Number.isInteger(interval) || interval < 1 || interval > 60_000)
    throw new ApiKeyConfigurationError(
      'revocationSync',
      `pollInterval: expected a whole number of milliseconds from 1 to 60000, got ${JSON.stringify(interval)}.`,
      `set pollInterval to at most the window a revocation may take to apply (default ${DEFAULT_POLL_INTERVAL}).`,
    );
  return interval;
}

/**
 * The row cache the options ask for: `rowCacheTtl`'s (none when 0), or in notify mode one kept
 * current by a `LISTEN` connection taken from the data source's pool, or a poller, which also
 * check the triggers of the tables `usableWhere` reads.
 *
 * @throws {ApiKeyConfigurationError} in notify mode on a database it does not support, or with a
 *   `usableWhere` that reads what no trigger hears
 */
export function createRowCache<T extends AbstractApiKey>(
  options: ResolvedApiKeyOptions<T>,
  repository: Repository<T>,
  logger: Logger,
): ApiKeyRowCache<T> {
  if (options.revocationSync !== 'notify')
    return new TtlRowCache(options.rowCacheTtl, options.clock);
  const cache = new NotifiedRowCache<T>();
  const table = repository.metadata.tableName;
  const owners = options.usableWhere ? ownerTablesOf(repository.metadata, options.usableWhere) : [];
  const dialect = triggerDialect(repository.manager);
  const timeout = Math.min(options.storeTimeout, HEARTBEAT);
  const pool = (repository.manager.connection.driver as unknown as { master?: ListeningPool })
    .master;
  if (dialect === 'postgres' && pool) {
    const timing = { heartbeat: HEARTBEAT, timeout, retry: RETRY };
    cache.attach(new PostgresChangeListener(pool, table, cache, logger, timing, owners));
  } else if (dialect === 'mysql' || dialect === 'sqlite') {
    const query = (sql: string, parameters?: unknown[]) =>
      repository.query(sql, parameters) as Promise<unknown[]>;
    const timing = { interval: options.revocationPollInterval, timeout };
    const isOpen = () => repository.manager.connection.isInitialized;
    cache.attach(
      new ChangeCounterPoller(query, dialect, table, cache, logger, timing, owners, isOpen),
    );
  } else {
    throw new ApiKeyConfigurationError(
      'revocationSync',
      `'notify' is supported on PostgreSQL, MariaDB/MySQL and SQLite, not on ${repository.manager.connection.driver.options.type}.`,
      'leave revocationSync unset on this database: every request then reads the key row.',
    );
  }
  return cache;
}

/**
 * At boot, in notify mode: makes sure the key table has its change-notification trigger, and
 * that every table `usableWhere` reads has an owner trigger comparing the columns it reads,
 * creating them when missing (as `synchronize` leaves them). A database that cannot be reached
 * is left to the listener, which reads per request until it can listen.
 *
 * @throws {ApiKeyConfigurationError} when a trigger is missing and cannot be created, or when
 *   `usableWhere` reads what no trigger hears (see `ownerTablesOf`)
 */
export async function ensureChangeTrigger<T extends AbstractApiKey>(
  repository: Repository<T>,
  options: Pick<ResolvedApiKeyOptions<T>, 'revocationSync'> &
    Partial<Pick<ResolvedApiKeyOptions<T>, 'usableWhere'>>,
  logger: Logger = new Logger('ApiKeyModule'),
): Promise<void> {
  const dataSource = repository?.manager?.connection;
  if (options.revocationSync !== 'notify' || !dataSource?.isInitialized) return;
  const dialect = triggerDialect(repository.manager);
  if (dialect === null) return;
  const table = repository.metadata.tableName;
  const owners = options.usableWhere ? ownerTablesOf(repository.metadata, options.usableWhere) : [];
  const queryRunner = dataSource.createQueryRunner();
  const run = (sql: string, parameters: unknown[]) => queryRunner.query(sql, parameters);
  const create = (trigger: MissingTrigger) =>
    createOrRefuse(queryRunner, trigger, notifyMigrationCall(table, owners.length > 0), logger);
  try {
    try {
      if (!(await hasChangeTrigger(run, table, dialect)))
        await create({
          statements: () => changeTriggerStatements(queryRunner, table),
          present: () => hasChangeTrigger(run, table, dialect),
          problem: `table "${table}" has no change-notification trigger`,
          created: `Created the change trigger of table "${table}" (revocationSync: 'notify').`,
        });
    } catch (error) {
      if (error instanceof ApiKeyConfigurationError) throw error;
      return;
    }
    for (const owner of owners) {
      const present = () => hasOwnerTrigger(run, dialect, table, owner);
      if (await present()) continue;
      await create({
        statements: async () => ownerTriggerStatements(dialect, table, owner),
        present,
        problem: `table "${owner.table}", read by usableWhere, has no trigger "${ownerTriggerName(table, owner.table)}" comparing ${owner.columns.join(', ')}`,
        created: `Created the change trigger of table "${owner.table}" for the keys of "${table}" (usableWhere, revocationSync: 'notify').`,
      });
    }
  } finally {
    await queryRunner.release();
  }
}

/** A trigger found missing at boot: how to make it, and how to tell it is there. */
interface MissingTrigger {
  statements: () => Promise<string[]>;
  present: () => Promise<boolean>;
  problem: string;
  created: string;
}

/**
 * Creates a missing trigger.
 *
 * @throws {ApiKeyConfigurationError} naming `migration` when it cannot be created
 */
async function createOrRefuse(
  queryRunner: QueryRunner,
  trigger: MissingTrigger,
  migration: string,
  logger: Logger,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await runAtomically(queryRunner, await trigger.statements());
      logger.log(trigger.created);
      return;
    } catch (error) {
      // Another instance booting at the same moment may have created it first, or be midway:
      // its DROP and CREATE can interleave with ours, so try again before giving up.
      if (await trigger.present().catch(() => false)) return;
      if (attempt < CREATE_ATTEMPTS) {
        // A back-off on the clock on purpose: the other instance sends no signal to wait for.
        await sleep(50 * attempt);
        continue;
      }
      throw new ApiKeyConfigurationError(
        'revocationSync',
        `${trigger.problem}, and it could not be created (${(error as Error)?.message}).`,
        `add ${migration} to your migrations, or grant the database user the right to create triggers.`,
      );
    }
  }
}

/**
 * Runs `statements` in one transaction where DDL is transactional (PostgreSQL, SQLite), so that
 * live instances never see a trigger dropped and not yet made again; MySQL commits each one.
 *
 * @throws what the driver throws; the transaction is rolled back
 */
async function runAtomically(queryRunner: QueryRunner, statements: string[]): Promise<void> {
  if (triggerDialect(queryRunner) === 'mysql') return runStatements(queryRunner, statements);
  await queryRunner.startTransaction();
  try {
    await runStatements(queryRunner, statements);
    await queryRunner.commitTransaction();
  } catch (error) {
    await queryRunner.rollbackTransaction().catch(() => undefined);
    throw error;
  }
}

/** How often booting tries to create a missing trigger before refusing to start. */
const CREATE_ATTEMPTS = 3;

/** How to call `createApiKeyNotifyMigration` for this registration. */
function notifyMigrationCall(table: string, usableWhere: boolean): string {
  const options = [
    ...(table === 'api_keys' ? [] : [`table: '${table}'`]),
    ...(usableWhere ? ["usableWhere: <this registration's usableWhere>"] : []),
  ];
  return `createApiKeyNotifyMigration(${options.length > 0 ? `{ ${options.join(', ')} }` : ''})`;
}
