/**
 * At boot: makes sure the usage table exists, creating it when missing (as `synchronize`, or an
 * app upgraded without the migration, leaves it), like the change triggers of notify mode.
 */
import type { Repository } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import type { ResolvedApiKeyOptions } from '../api-key.options.js';
import { usageTable } from './migration.js';
import { USAGE_TABLE, usageDialect } from './sql.js';

/**
 * Creates `api_key_usage` when usage analytics is on and the table is missing. A database that
 * cannot be reached is left alone: the writer keeps counts until it answers.
 *
 * @throws {ApiKeyConfigurationError} when the table is missing and cannot be created
 */
export async function ensureUsageTable<T extends AbstractApiKey>(
  repository: Repository<T>,
  options: Pick<ResolvedApiKeyOptions<T>, 'usageAnalytics'>,
): Promise<void> {
  const dataSource = repository?.manager?.connection;
  if (options.usageAnalytics === false || !dataSource?.isInitialized) return;
  if (usageDialect(dataSource) === null) return;
  const queryRunner = dataSource.createQueryRunner();
  try {
    let exists: boolean;
    try {
      exists = await queryRunner.hasTable(USAGE_TABLE);
    } catch {
      return; // unreachable: not this check's to report
    }
    if (exists) return;
    try {
      await queryRunner.createTable(usageTable(), true);
    } catch (error) {
      // Another instance booting at the same moment may have made it first.
      if (await queryRunner.hasTable(USAGE_TABLE).catch(() => false)) return;
      throw new ApiKeyConfigurationError(
        'usageAnalytics',
        `the ${USAGE_TABLE} table is missing and could not be created: ${(error as Error)?.message ?? String(error)}`,
        "add CreateApiKeyUsage1799020800000 (from nestjs-api-key) to the data source's migrations and run them, or set usageAnalytics: false.",
      );
    }
  } finally {
    await queryRunner.release();
  }
}
