/**
 * What `ApiKeyService.usage()` and `busiestKeys()` read: the series of one key or a whole
 * registration, and the busiest keys, each through the store's deadline and error handling.
 */
import { In, type FindOptionsWhere, type Repository } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyNotFoundError } from '../api-key.errors.js';
import type { ApiKeyUsageByKey } from '../api-key.interfaces.js';
import type { ApiKeyRows } from '../store/rows.js';
import { UsageAnalytics } from './analytics.js';
import { usageSpan, type ApiKeyUsageQuery, type ApiKeyUsageReport } from './report.js';

/** What the queries need of the service. */
export interface UsageQuerySources<T extends AbstractApiKey> {
  analytics: UsageAnalytics | null;
  registration: string;
  rows: ApiKeyRows<T>;
  repository: Repository<T>;
  findOne(idOrPrefix: string): Promise<T | null>;
}

/** See `ApiKeyService.usage`. */
export async function keyUsage<T extends AbstractApiKey>(
  sources: UsageQuerySources<T>,
  query: ApiKeyUsageQuery,
): Promise<ApiKeyUsageReport> {
  const analytics = UsageAnalytics.require(sources.analytics, sources.registration, 'usage');
  usageSpan(query); // a bad query is refused before the key is looked for
  let apiKey: T | null = null;
  if (query.key !== undefined) {
    apiKey = await sources.findOne(query.key);
    if (!apiKey) throw new ApiKeyNotFoundError(query.key);
  }
  const report = await sources.rows.run('read API key usage', () =>
    analytics.series(query, apiKey?.id),
  );
  return {
    key: apiKey && { id: apiKey.id, prefix: apiKey.prefix, name: apiKey.name },
    ...report,
  };
}

/** See `ApiKeyService.busiestKeys`. */
export async function busiestKeys<T extends AbstractApiKey>(
  sources: UsageQuerySources<T>,
  query: { since: Date; until: Date; limit?: number },
): Promise<ApiKeyUsageByKey<T>[]> {
  const analytics = UsageAnalytics.require(sources.analytics, sources.registration, 'busiestKeys');
  const busiest = await sources.rows.run('read API key usage', () => analytics.byKey(query));
  const ids = busiest.map((entry) => entry.keyId);
  const keys = await sources.rows.run('list API keys', () =>
    ids.length === 0
      ? Promise.resolve([])
      : sources.repository.findBy({ id: In(ids) } as FindOptionsWhere<T>),
  );
  return busiest.map((entry) => ({
    ...entry,
    apiKey: keys.find((k) => k.id === entry.keyId) ?? null,
  }));
}
