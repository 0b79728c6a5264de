import { ApiKeyValidationError } from '../api-key.errors.js';
import { DURATION_UNIT_MS } from '../keys/expiry.js';

/** Longest `maxLifetime` there can be: what a `Date` can still add to now. */
const MAX_LIFETIME_MS = 100 * 365 * 86_400_000;

/** A `maxLifetime` option as given: a duration such as `'90d'`, `'12h'` or `'2w'`, or milliseconds. */
export type ApiKeyMaxLifetime = string | number;

/** A resolved `maxLifetime`: milliseconds, and the text that names it in refusals. */
export interface ResolvedMaxLifetime {
  ms: number;
  text: string;
}

/**
 * Reads the `maxLifetime` option; `null` when it is not given.
 *
 * @returns `undefined` for a value that is neither a duration nor a whole number of milliseconds
 */
export function parseMaxLifetime(value: unknown): ResolvedMaxLifetime | null | undefined {
  if (value === undefined) return null;
  if (typeof value === 'number')
    return Number.isInteger(value) && value > 0 && value <= MAX_LIFETIME_MS
      ? { ms: value, text: `${value} ms` }
      : undefined;
  const duration = typeof value === 'string' ? /^(\d{1,5})([hdw])$/.exec(value) : null;
  if (!duration || Number(duration[1]) === 0) return undefined;
  const ms = Number(duration[1]) * DURATION_UNIT_MS[duration[2]];
  return ms <= MAX_LIFETIME_MS ? { ms, text: value as string } : undefined;
}

/**
 * Checks a key's expiry against the registration's `maxLifetime`: a key must expire, and no later
 * than `maxLifetime` from `now`. Nothing to check without the option.
 *
 * @throws {ApiKeyValidationError} naming `expiresAt` and the limit
 */
export function checkLifetime(
  expiresAt: Date | null,
  now: Date,
  limit: ResolvedMaxLifetime | null,
): void {
  if (limit === null) return;
  const latest = new Date(now.getTime() + limit.ms);
  if (expiresAt === null)
    throw new ApiKeyValidationError(
      `Keys must expire: maxLifetime is ${limit.text}, so expiresAt must be ${latest.toISOString()} or earlier.`,
      'expiresAt',
    );
  if (expiresAt.getTime() > latest.getTime())
    throw new ApiKeyValidationError(
      `expiresAt (${expiresAt.toISOString()}) is past the maxLifetime of ${limit.text}: at most ${latest.toISOString()}.`,
      'expiresAt',
    );
}
