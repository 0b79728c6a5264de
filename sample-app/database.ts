import type { DataSourceOptions } from 'typeorm';
import { ApiKey, CreateApiKeys1764000000000, type ApiKeyModuleOptions } from '../lib/index.js';
import { CreatePartnerTables1764100000000 } from './migrations/1764100000000-create-partner-tables.js';
import { PartnerApiKey } from './partners/partner-api-key.entity.js';
import { Partner } from './partners/partner.entity.js';

/**
 * The sample's schema, made only by migrations: the library's `api_keys` table and the
 * sample's partner tables. The app runs them at start and the CLI before every command.
 */
export function sampleDataSourceOptions(connection: DataSourceOptions): DataSourceOptions {
  return {
    ...connection,
    entities: [ApiKey, Partner, PartnerApiKey],
    migrations: [CreateApiKeys1764000000000, CreatePartnerTables1764100000000],
    synchronize: false,
    logging: false,
  } as DataSourceOptions;
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
