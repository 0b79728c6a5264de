/**
 * The key policy options of `ApiKeyModule.forRoot()`, resolved at boot like the others: a bad
 * value stops the app with an `ApiKeyConfigurationError` naming the option and the fix.
 */
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import type { ResolvedExpiryNotices } from './expiry-notices.js';
import { parseMaxLifetime, type ResolvedMaxLifetime } from './max-lifetime.js';

const DAY_MS = 86_400_000;
const EXPIRY_NOTICE_FIELDS = ['within', 'interval', 'header'];

/**
 * `maxLifetime`, parsed; `null` when not given.
 *
 * @throws {ApiKeyConfigurationError} for a value that is not a lifetime
 */
export function resolveMaxLifetime(value: unknown): ResolvedMaxLifetime | null {
  const lifetime = parseMaxLifetime(value);
  if (lifetime !== undefined) return lifetime;
  throw new ApiKeyConfigurationError(
    'maxLifetime',
    `${JSON.stringify(value)} is not a lifetime.`,
    "give a duration such as '90d', '12h' or '2w' (at most a century), or milliseconds.",
  );
}

/**
 * `expiryNotices`: off unless asked for, since its sweep reads and writes the key table.
 *
 * @throws {ApiKeyConfigurationError} for anything but an object of known fields with valid values, or `false`
 */
export function resolveExpiryNotices(value: unknown): ResolvedExpiryNotices | false {
  if (value === undefined || value === false) return false;
  const fail = (option: string, problem: string, fix: string): never => {
    throw new ApiKeyConfigurationError(option, problem, fix);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(
      'expiryNotices',
      `expected an object or false, got ${JSON.stringify(value)}.`,
      'pass { within?, interval?, header? }.',
    );
  const notices = value as Record<string, unknown>;
  for (const field of Object.keys(notices))
    if (!EXPIRY_NOTICE_FIELDS.includes(field))
      fail(
        `expiryNotices.${field}`,
        'is not an option.',
        `use ${EXPIRY_NOTICE_FIELDS.join(', ')}.`,
      );
  const milliseconds = (field: string, fallback: number, max: number): number => {
    const given = notices[field];
    if (given === undefined) return fallback;
    if (typeof given === 'number' && Number.isInteger(given) && given > 0 && given <= max)
      return given;
    return fail(
      `expiryNotices.${field}`,
      `expected milliseconds, got ${JSON.stringify(given)}.`,
      `give a whole number from 1 to ${max}.`,
    );
  };
  if (![undefined, true, false].includes(notices.header as boolean | undefined))
    fail('expiryNotices.header', 'expected true or false.', 'pass header: true to send it.');
  return {
    within: milliseconds('within', 7 * DAY_MS, 100 * 365 * DAY_MS),
    // A timer waits at most 2^31 - 1 ms.
    interval: milliseconds('interval', 3_600_000, 2 ** 31 - 1),
    header: notices.header === true,
  };
}
