import { DataSource, type DataSourceOptions } from 'typeorm';
import {
  AddApiKeySecretTags1796515200000,
  AddApiKeyPolicies1798848000000,
  ApiKey,
  CreateApiKeyUsage1799020800000,
  CreateApiKeys1764000000000,
  UpgradeApiKeys1796083200000,
  runMigrationsLocked,
  type ApiKeyModuleOptions,
} from '../lib/index.js';
import { CreatePartnerTables1764100000000 } from './migrations/1764100000000-create-partner-tables.js';
import { UpgradePartnerApiKeys1796083200001 } from './migrations/1796083200001-upgrade-partner-api-keys.js';
import { AddPartnerApiKeySecretTags1796515200001 } from './migrations/1796515200001-add-partner-api-key-secret-tags.js';
import { AddPartnerApiKeyPolicies1798848000001 } from './migrations/1798848000001-add-partner-api-key-policies.js';
import { PartnerApiKey } from './partners/partner-api-key.entity.js';
import { Partner } from './partners/partner.entity.js';

/**
 * The sample's schema, made only by migrations: the library's `api_keys` table and the
 * sample's partner tables, then the upgrades of tables made by earlier versions (secret tags,
 * key policies), then the `api_key_usage` table of usage analytics. The app runs
 * them at start and the CLI before every command, both with `runMigrationsLocked`.
 */
export function sampleDataSourceOptions(connection: DataSourceOptions): DataSourceOptions {
  return {
    ...connection,
    ...driverTimeouts(connection.type),
    entities: [ApiKey, Partner, PartnerApiKey],
    migrations: [
      CreateApiKeys1764000000000,
      CreatePartnerTables1764100000000,
      UpgradeApiKeys1796083200000,
      UpgradePartnerApiKeys1796083200001,
      AddApiKeySecretTags1796515200000,
      AddPartnerApiKeySecretTags1796515200001,
      AddApiKeyPolicies1798848000000,
      AddPartnerApiKeyPolicies1798848000001,
      CreateApiKeyUsage1799020800000,
    ],
    synchronize: false,
    logging: false,
  } as DataSourceOptions;
}

/**
 * Driver timeouts, so a database that stops answering holds connections for a bounded time:
 * connecting gives up after 5 s, a statement after 15 s. The key module answers a stalled
 * request sooner (its `storeTimeout`); these are for the connections left behind.
 */
function driverTimeouts(type: DataSourceOptions['type']): object {
  if (type === 'postgres')
    return { connectTimeoutMS: 5_000, extra: { statement_timeout: 15_000, query_timeout: 15_000 } };
  if (type === 'mysql' || type === 'mariadb')
    return { connectTimeout: 5_000, enableQueryTimeout: true, maxQueryExecutionTime: 15_000 };
  return {};
}

/**
 * Options of the default key registration, shared by the app and the CLI so that both read
 * and make keys the same way.
 */
export function sampleApiKeyOptions(apiKeyHeader: string | undefined): ApiKeyModuleOptions<ApiKey> {
  // Checksummed keys: scanners can find them, and a mistyped key is refused without a query.
  const keyFormat = 'checksummed';
  return apiKeyHeader ? { header: apiKeyHeader, keyFormat } : { keyFormat };
}

/**
 * The app's data source: connected, with its pending migrations run under the migration lock,
 * so that instances started together on an empty database do not race to create it.
 */
export async function initializeSampleDataSource(options: DataSourceOptions): Promise<DataSource> {
  const dataSource = await new DataSource(options).initialize();
  try {
    await runMigrationsLocked(dataSource);
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
  return dataSource;
}
