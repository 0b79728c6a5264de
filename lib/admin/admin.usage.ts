/**
 * The usage views of the admin page: one key's requests per day by outcome, and the busiest keys.
 */
import type { AbstractApiKey } from '../api-key.entity.js';
import type { ApiKeyService } from '../api-key.service.js';
import type { ApiKeyUsageCounts } from '../usage/outcomes.js';
import { ApiKeyAdminBadRequest } from './admin.errors.js';

const DAY_MS = 86_400_000;

/**
 * One key's usage as the admin API answers it.
 *
 * @publicApi
 */
export interface ApiKeyAdminUsage {
  /** One per UTC day, oldest first, today last, days without requests included. */
  days: { date: string; counts: ApiKeyUsageCounts; total: number }[];
  totals: ApiKeyUsageCounts;
  total: number;
  /** Whether wrong secrets for this key passed `guessingAlerts`' threshold lately. */
  suspicious: boolean;
}

/** A whole number from `min` to `max` in a query parameter, or `fallback` when it is absent. */
function wholeNumber(field: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const number = typeof value === 'string' && /^\d{1,4}$/.test(value) ? Number(value) : NaN;
  if (!(number >= 1 && number <= max))
    throw new ApiKeyAdminBadRequest(field, `expected a whole number from 1 to ${max}.`);
  return number;
}

/** The last `days` UTC days (today included) of `apiKey`. @throws {ApiKeyAdminBadRequest} for bad `days` */
export async function keyUsage(
  service: ApiKeyService<AbstractApiKey>,
  apiKey: AbstractApiKey,
  query: Record<string, unknown>,
): Promise<ApiKeyAdminUsage> {
  const days = wholeNumber('days', query.days, 14, 90);
  const today = Math.floor(service.options.clock().getTime() / DAY_MS) * DAY_MS;
  const report = await service.usage({
    key: apiKey.id,
    since: new Date(today - (days - 1) * DAY_MS),
    until: new Date(today + DAY_MS),
    granularity: 'day',
  });
  return {
    days: report.series.map((point) => ({
      date: point.start.toISOString().slice(0, 10),
      counts: point.counts,
      total: point.total,
    })),
    totals: report.totals,
    total: report.total,
    suspicious: service.suspiciousPrefixes().includes(apiKey.prefix),
  };
}

/**
 * The keys with the most requests over the last `hours` (24 by default, at most 7 days), at
 * most 10, among those `visible` keeps (the scope's).
 *
 * @throws {ApiKeyAdminBadRequest} for bad `hours`
 */
export async function busiestKeys(
  service: ApiKeyService<AbstractApiKey>,
  query: Record<string, unknown>,
  visible: (ids: string[]) => Promise<Set<string>>,
) {
  const hours = wholeNumber('hours', query.hours, 24, 168);
  const until = service.options.clock();
  const since = new Date(until.getTime() - hours * 3_600_000);
  const busiest = await service.busiestKeys({ since, until, limit: 1000 });
  const shown = await visible(busiest.map((entry) => entry.keyId));
  const items = busiest
    .filter((entry) => entry.apiKey && shown.has(entry.keyId))
    .slice(0, 10)
    .map(({ apiKey, counts, total }) => ({
      id: apiKey!.id,
      prefix: apiKey!.prefix,
      name: apiKey!.name,
      counts,
      total,
    }));
  return { hours, items };
}
