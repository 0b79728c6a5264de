/**
 * How often a usage-limited key's credits are topped up: at each UTC midnight (`day`) or each
 * first of the month at UTC midnight (`month`), as Unkey's refills are.
 *
 * @publicApi
 */
export type ApiKeyRefillInterval = 'day' | 'month';

/** The refill intervals, as `refillInterval` accepts them. */
export const REFILL_INTERVALS: readonly ApiKeyRefillInterval[] = ['day', 'month'];
