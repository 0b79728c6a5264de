/**
 * The outcomes usage analytics counts, and how a refused key's reason maps onto them.
 */
/**
 * What became of one request carrying an API key, as usage analytics counts it:
 *
 * - `ok`: the key passed;
 * - `unauthorized`: a known key was refused (wrong secret, revoked, expired, or refused by a policy);
 * - `forbidden`: a known key lacked a required scope (or its address was not allowed);
 * - `usage_exceeded`: a known key was over its usage allowance;
 * - `rate_limited`: a known key was over its rate limit (counted by `ApiKeyThrottlerGuard`);
 * - `unknown`: the key's prefix matches no key of the registration (or the key is malformed);
 *   counted per registration, never per prefix, so guessed prefixes cannot grow the table.
 *
 * @publicApi
 */
export type ApiKeyUsageOutcome =
  'ok' | 'unauthorized' | 'forbidden' | 'usage_exceeded' | 'rate_limited' | 'unknown';

/** Every outcome, in the order of their counters (and of columns wherever they are listed). */
export const USAGE_OUTCOMES: readonly ApiKeyUsageOutcome[] = [
  'ok',
  'unauthorized',
  'forbidden',
  'usage_exceeded',
  'rate_limited',
  'unknown',
];

/** The counter index of each outcome. */
export const OUTCOME_INDEX: Readonly<Record<ApiKeyUsageOutcome, number>> = {
  ok: 0,
  unauthorized: 1,
  forbidden: 2,
  usage_exceeded: 3,
  rate_limited: 4,
  unknown: 5,
};

/** Counts by outcome, every outcome present. */
export type ApiKeyUsageCounts = Record<ApiKeyUsageOutcome, number>;

/** A fresh set of counts, every outcome at 0. */
export function zeroCounts(): ApiKeyUsageCounts {
  return { ok: 0, unauthorized: 0, forbidden: 0, usage_exceeded: 0, rate_limited: 0, unknown: 0 };
}

/**
 * The outcome of a refused key, by its `ApiKeyFailureReason` or policy refusal: `unknown` when
 * no key of the registration has its prefix (or it has none), `forbidden` for an address outside
 * the key's allow-list, `usage_exceeded` for a key with no credits left, `unauthorized` for every
 * other refusal of a known key.
 */
export function refusalOutcome(reason: string): ApiKeyUsageOutcome {
  switch (reason) {
    case 'unknown':
    case 'malformed':
      return 'unknown';
    case 'ip_not_allowed':
      return 'forbidden';
    case 'usage_exceeded':
      return 'usage_exceeded';
    default:
      return 'unauthorized';
  }
}
