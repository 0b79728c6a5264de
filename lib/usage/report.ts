/**
 * `ApiKeyService.usage()` and `busiestKeys()`: their input, checked, and the stored hourly counts
 * folded into a series with totals.
 */
import { ApiKeyValidationError } from '../api-key.errors.js';
import { USAGE_OUTCOMES, zeroCounts, type ApiKeyUsageCounts } from './outcomes.js';
import type { SummedRow } from './sql.js';
import { HOUR_MS } from './tally.js';

/** The longest span one read may cover: a little over a year. */
const MAX_SPAN_DAYS = 400;
const DAY_MS = 24 * HOUR_MS;

/**
 * What `ApiKeyService.usage()` reads: one key's counts (by id or prefix) or, without `key`, the
 * whole registration's (unknown keys included), from `since` to `until`, per hour or per day
 * (UTC). Each bound is rounded outwards to a whole hour or day.
 *
 * @publicApi
 */
export interface ApiKeyUsageQuery {
  key?: string;
  since: Date;
  until: Date;
  granularity: 'hour' | 'day';
}

/**
 * One hour or day of a usage series.
 *
 * @publicApi
 */
export interface ApiKeyUsagePoint {
  /** Where the hour or day starts (UTC). */
  start: Date;
  /** Requests by outcome. */
  counts: ApiKeyUsageCounts;
  /** Requests of every outcome. */
  total: number;
}

/**
 * What `ApiKeyService.usage()` returns: a point per hour or day, empty ones included, and totals.
 *
 * @publicApi
 */
export interface ApiKeyUsageReport {
  /** The key read, or `null` for the whole registration. */
  key: { id: string; prefix: string; name: string } | null;
  granularity: 'hour' | 'day';
  /** `since` and `until`, rounded outwards to whole hours or days. */
  since: Date;
  until: Date;
  series: ApiKeyUsagePoint[];
  totals: ApiKeyUsageCounts;
  total: number;
}

/** A query checked, as hours since the epoch: `[from, to)`, and the hours per point. */
export interface UsageSpan {
  from: number;
  to: number;
  step: 1 | 24;
}

/**
 * Checks a usage query and rounds it to whole hours or days.
 *
 * @throws {ApiKeyValidationError} when a bound is not a valid Date, `since` is not before `until`,
 *   the span is longer than 400 days, or `granularity` is neither `hour` nor `day`
 */
export function usageSpan(
  query: Pick<ApiKeyUsageQuery, 'since' | 'until' | 'granularity'>,
): UsageSpan {
  const { since, until, granularity } = query ?? ({} as ApiKeyUsageQuery);
  if (granularity !== 'hour' && granularity !== 'day')
    throw new ApiKeyValidationError("usage(): granularity must be 'hour' or 'day'.");
  for (const [name, value] of [
    ['since', since],
    ['until', until],
  ] as const)
    if (!(value instanceof Date) || Number.isNaN(value.getTime()))
      throw new ApiKeyValidationError(`usage(): ${name} must be a valid Date.`);
  if (since.getTime() >= until.getTime())
    throw new ApiKeyValidationError('usage(): since must be before until.');
  if (until.getTime() - since.getTime() > MAX_SPAN_DAYS * DAY_MS)
    throw new ApiKeyValidationError(`usage(): a span is at most ${MAX_SPAN_DAYS} days.`);
  const unit = granularity === 'day' ? DAY_MS : HOUR_MS;
  const step = granularity === 'day' ? 24 : 1;
  return {
    from: Math.floor(since.getTime() / unit) * step,
    to: Math.ceil(until.getTime() / unit) * step,
    step,
  };
}

/** Folds summed rows (by hour and outcome) into a report's series and totals. */
export function foldSeries(
  rows: readonly SummedRow[],
  span: UsageSpan,
): Pick<ApiKeyUsageReport, 'series' | 'totals' | 'total' | 'since' | 'until'> {
  const series: ApiKeyUsagePoint[] = [];
  for (let hour = span.from; hour < span.to; hour += span.step)
    series.push({ start: new Date(hour * HOUR_MS), counts: zeroCounts(), total: 0 });
  const totals = zeroCounts();
  let total = 0;
  for (const row of rows) {
    if (!USAGE_OUTCOMES.includes(row.outcome)) continue; // written by a newer version
    const requests = Number(row.requests);
    const point = series[Math.floor((Number(row.hour) - span.from) / span.step)];
    if (!point) continue;
    point.counts[row.outcome] += requests;
    point.total += requests;
    totals[row.outcome] += requests;
    total += requests;
  }
  return {
    since: new Date(span.from * HOUR_MS),
    until: new Date(span.to * HOUR_MS),
    series,
    totals,
    total,
  };
}

/** Summed rows (by key and outcome) as counts per key, busiest first, at most `limit`. */
export function foldByKey(
  rows: readonly SummedRow[],
  limit: number,
): { keyId: string; counts: ApiKeyUsageCounts; total: number }[] {
  const byKey = new Map<string, { keyId: string; counts: ApiKeyUsageCounts; total: number }>();
  for (const row of rows) {
    if (!USAGE_OUTCOMES.includes(row.outcome) || !row.key_id) continue;
    let entry = byKey.get(row.key_id);
    if (!entry)
      byKey.set(row.key_id, (entry = { keyId: row.key_id, counts: zeroCounts(), total: 0 }));
    const requests = Number(row.requests);
    entry.counts[row.outcome] += requests;
    entry.total += requests;
  }
  return [...byKey.values()]
    .sort((a, b) => b.total - a.total || (a.keyId < b.keyId ? -1 : 1))
    .slice(0, limit);
}
