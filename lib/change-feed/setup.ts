import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QueryRunner, Repository } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import type { ResolvedApiKeyOptions } from '../api-key.options.js';
import { runStatements, triggerDialect } from '../schema/sql.js';
import { PostgresChangeListener, type ListeningPool } from './listener.js';
import { ChangeCounterPoller } from './poller.js';
import { hasOwnerTrigger, ownerTriggerName, ownerTriggerStatements } from './owner-triggers.js';
import { ownerTablesOf } from './owners.js';
import { NotifiedRowCache, UncachedRows, type ApiKeyRowCache } from './cache.js';
import { changeTriggerStatements, hasChangeTrigger } from './triggers.js';

/**
 * The longest a ping or a poll is waited for before the channel counts as lost (or
 * `storeTimeout`, if shorter). The cache stops serving long before, when its lease lapses.
 */
const ROUND_TRIP_TIMEOUT = 1_000;
/** Reconnect pacing of the PostgreSQL listener. */
const RETRY = { first: 100, max: 5_000 };

/**
 * The row cache the options ask for: none in `'read'` mode; in notify mode one kept current by a `LISTEN` connection taken from the data source's pool, or a poller, which also
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
  if (options.revocationSync !== 'notify') return new UncachedRows();
  const cache = new NotifiedRowCache<T>(options.revocationMaxStaleness);
  const table = repository.metadata.tableName;
  const owners = options.usableWhere ? ownerTablesOf(repository.metadata, options.usableWhere) : [];
  const dialect = triggerDialect(repository.manager);
  const timeout = Math.min(options.storeTimeout, ROUND_TRIP_TIMEOUT);
  const pool = (repository.manager.connection.driver as unknown as { master?: ListeningPool })
    .master;
  if (dialect === 'postgres' && pool) {
    const timing = { heartbeat: options.revocationPollInterval, timeout, retry: RETRY };
    cache.attach(new PostgresChangeListener(pool, table, cache, logger, timing, owners));
  } else if (dialect === 'mysql' || dialect === 'sqlite') {
    const query = (sql: string, parameters?: unknown[]) =>
      repository.query(sql, parameters) as Promise<unknown[]>;
    const timing = {
      interval: options.revocationPollInterval,
      timeout,
      maxStaleness: options.revocationMaxStaleness,
    };
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
