import { Logger } from '@nestjs/common';
import type { DataSource, QueryRunner, Repository } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import {
  hasRevocationTrigger,
  revocationTriggerStatements,
  runStatements,
  zonelessInstantColumns,
} from './sql.js';
import { checkPolicySchema } from '../policies/schema.js';

/** The properties of `AbstractApiKey` holding instants. */
const INSTANT_PROPERTIES = [
  'createdAt',
  'expiresAt',
  'revokedAt',
  'lastUsedAt',
  'disabledAt',
  'lastRefillAt',
  'expiryNotifiedAt',
];

/** How to create the key table `table` (any key table when not given), for the messages naming a missing one. */
function createTableFix(table?: string): string {
  const migration =
    table === undefined
      ? 'CreateApiKeys1764000000000 (for your own key entity, a createApiKeyTableMigration)'
      : table === 'api_keys'
        ? 'CreateApiKeys1764000000000 (from nestjs-api-key)'
        : `a migration made by createApiKeyTableMigration({ table: '${table}', ... })`;
  return (
    `add ${migration} to the data source's migrations with migrationsRun: true, or run them ` +
    'with `npx typeorm migration:run`; in development, synchronize: true also creates it.'
  );
}

/**
 * The token of the provider that checks, at boot, the table of the key registration `name`.
 *
 * @param name the registration's name
 */
export function getApiKeySchemaCheckToken(name: string): string {
  return `ApiKeySchemaCheck:${name}`;
}

/**
 * Checks the table of a key repository once, at boot:
 *
 * - a missing table, or a table without the `secret_tag` column, stops the boot with its fix,
 *   instead of a 503 on every keyed request;
 * - on PostgreSQL, instant columns still `timestamp without time zone` (a table made by
 *   `synchronize`, or by the migration of an earlier version) get one warning naming the upgrade
 *   migration: there, an instant's reading depends on each process's time zone;
 * - a missing revocation trigger (`synchronize` makes none) is created, and said so.
 *
 * A database that cannot be reached is left to the requests, which answer 503 until it is back.
 *
 * @throws {ApiKeyConfigurationError} when the table does not exist
 */
export async function checkApiKeySchema<T extends AbstractApiKey>(
  repository: Repository<T>,
  logger: Logger = new Logger('ApiKeyModule'),
): Promise<void> {
  // A repository replaced in a test has no data source behind it to check.
  const dataSource: DataSource | undefined = repository?.manager?.connection;
  if (!dataSource?.isInitialized) return;
  const { tableName, tablePath, name: entity } = repository.metadata;
  const queryRunner = dataSource.createQueryRunner();
  try {
    let exists: boolean;
    try {
      exists = await queryRunner.hasTable(tablePath);
    } catch {
      return;
    }
    if (!exists) {
      throw new ApiKeyConfigurationError(
        'dataSource',
        `the table "${tablePath}" of ${entity} does not exist.`,
        createTableFix(tableName),
      );
    }
    await requireSecretTagColumn(queryRunner, repository);
    const instantColumns = INSTANT_PROPERTIES.flatMap(
      (property) => repository.metadata.findColumnWithPropertyName(property)?.databaseName ?? [],
    );
    const zoneless = await zonelessInstantColumns(queryRunner, tablePath, instantColumns);
    if (zoneless.length > 0) {
      logger.warn(
        `Table "${tablePath}" stores ${zoneless.join(', ')} as timestamp without time zone, so ` +
          'each process reads expiry and revocation times in its own time zone. Fix: run the ' +
          `upgrade migration (${tableName === 'api_keys' ? 'UpgradeApiKeys1796083200000' : `createApiKeyUpgradeMigration({ table: '${tableName}' })`}), ` +
          'or create the table with the shipped migrations instead of synchronize.',
      );
    }
    await ensureRevocationTrigger(queryRunner, tableName, logger);
    await checkPolicySchema(queryRunner, tableName, logger);
  } finally {
    await queryRunner.release();
  }
}

/**
 * Stops the boot when the key table lacks the secret tag's column, which every key read
 * selects: without it, every keyed request would get a 503.
 *
 * @throws {ApiKeyConfigurationError} naming the migration that adds it
 */
async function requireSecretTagColumn<T extends AbstractApiKey>(
  queryRunner: QueryRunner,
  repository: Repository<T>,
): Promise<void> {
  const { tableName, tablePath, name: entity } = repository.metadata;
  const column = repository.metadata.findColumnWithPropertyName('secretTag')?.databaseName;
  if (column === undefined || (await queryRunner.hasColumn(tablePath, column))) return;
  const migration =
    tableName === 'api_keys'
      ? 'AddApiKeySecretTags1796515200000 (from nestjs-api-key)'
      : `a migration made by createApiKeySecretTagMigration({ table: '${tableName}', name })`;
  throw new ApiKeyConfigurationError(
    'dataSource',
    `the table "${tablePath}" of ${entity} has no column "${column}", which this version reads with every key.`,
    `add ${migration} to the data source's migrations and run them; in development, synchronize: true also adds it.`,
  );
}

/** Creates the revocation trigger of `table` when it has none, as `synchronize` leaves it. */
async function ensureRevocationTrigger(
  queryRunner: QueryRunner,
  table: string,
  logger: Logger,
): Promise<void> {
  if ((await hasRevocationTrigger(queryRunner, table)) !== false) return;
  try {
    await runStatements(queryRunner, revocationTriggerStatements(queryRunner, table));
    logger.log(
      `Created the revocation trigger of table "${table}", which synchronize does not create.`,
    );
  } catch (error) {
    // Another instance booting at the same moment may have created it first.
    if (await hasRevocationTrigger(queryRunner, table)) return;
    logger.warn(
      `Table "${table}" has no revocation trigger and it could not be created ` +
        `(${(error as Error)?.message}); revocation is enforced through TypeORM only. Fix: create ` +
        'the table with the shipped migrations, or grant the database user the right to create triggers.',
    );
  }
}

/**
 * Whether `error` says a table does not exist: PostgreSQL's 42P01, MySQL's ER_NO_SUCH_TABLE, or
 * SQLite's "no such table". Reads the driver's error inside TypeORM's `QueryFailedError`.
 */
export function isMissingTableError(error: unknown): boolean {
  const outer = error as { driverError?: unknown } | null;
  const driverError = (outer?.driverError ?? outer) as {
    code?: unknown;
    errno?: unknown;
    message?: unknown;
  } | null;
  if (!driverError) return false;
  return (
    driverError.code === '42P01' ||
    driverError.code === 'ER_NO_SUCH_TABLE' ||
    driverError.errno === 1146 ||
    (typeof driverError.message === 'string' && /^no such table\b/.test(driverError.message))
  );
}

/** What a log line about a failed key store access adds when the key table is missing. */
export function missingTableFix(error: unknown): string {
  return isMissingTableError(error)
    ? ` The key table does not exist. Fix: ${createTableFix()}`
    : '';
}
