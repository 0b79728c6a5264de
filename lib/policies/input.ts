import { ApiKeyValidationError } from '../api-key.errors.js';
import { REFILL_INTERVALS, type ApiKeyRefillInterval } from './refill-interval.js';
import { invalidAllowedIps, MAX_ALLOWED_IPS } from './ip-allow-list.js';

/** Most credits a key can hold: the largest value every engine's `integer` stores. */
export const MAX_CREDITS = 2 ** 31 - 1;

/**
 * The policy fields `create()` and `update()` take, as stored: `null` is "no such policy".
 *
 * @publicApi
 */
export interface ApiKeyPolicyInput {
  /**
   * Addresses and CIDR ranges (IPv4 or IPv6) the key may be used from; `null` for anywhere.
   * A request from elsewhere gets 403.
   */
  allowedIps?: string[] | null;
  /** Credits left: each accepted request spends one, and none left gets 429. `null`: unlimited. */
  remaining?: number | null;
  /** Credits the key is topped up to at each `refillInterval` boundary; `null`: no refill. */
  refillAmount?: number | null;
  /** When credits are topped up: `day` or `month`, at UTC boundaries. */
  refillInterval?: ApiKeyRefillInterval | null;
}

/**
 * What a new key holds in each policy column unless its input says otherwise: no policy. Given
 * to the entity at creation, so the created key reads as a loaded one does.
 */
export const NO_POLICIES = {
  disabledAt: null,
  allowedIps: null,
  remaining: null,
  refillAmount: null,
  refillInterval: null,
  lastRefillAt: null,
  expiryNotifiedAt: null,
} as const;

/** The policy field names, in the order they are checked. */
export const POLICY_FIELDS = ['allowedIps', 'remaining', 'refillAmount', 'refillInterval'] as const;

/**
 * Checks one policy field, answering its stored form: allow-lists de-duplicated, numbers whole.
 *
 * @throws {ApiKeyValidationError} naming the field when its value is not acceptable
 */
export function checkPolicyField(field: (typeof POLICY_FIELDS)[number], value: unknown): unknown {
  if (value === null) return null;
  switch (field) {
    case 'allowedIps': {
      const invalid = invalidAllowedIps(value);
      if (invalid === null || (value as unknown[]).length === 0)
        throw new ApiKeyValidationError(
          `allowedIps must be a list of 1 to ${MAX_ALLOWED_IPS} IP addresses or CIDR ranges, or null for any address.`,
          field,
        );
      if (invalid.length > 0)
        throw new ApiKeyValidationError(
          `allowedIps has entries that are not IP addresses or CIDR ranges: ${invalid
            .slice(0, 3)
            .map((entry) => JSON.stringify(entry.slice(0, 64)))
            .join(', ')}.`,
          field,
        );
      return [...new Set(value as string[])];
    }
    case 'remaining':
    case 'refillAmount': {
      const least = field === 'remaining' ? 0 : 1;
      if (!Number.isInteger(value) || (value as number) < least || (value as number) > MAX_CREDITS)
        throw new ApiKeyValidationError(
          `${field} must be a whole number from ${least} to ${MAX_CREDITS}, or null.`,
          field,
        );
      return value;
    }
    case 'refillInterval':
      if (!REFILL_INTERVALS.includes(value as ApiKeyRefillInterval))
        throw new ApiKeyValidationError(`refillInterval must be 'day', 'month' or null.`, field);
      return value;
  }
}

/**
 * Checks the policy fields present in `input`, and that a refill is whole: `refillAmount` and
 * `refillInterval` together, on a key with credits. `current` is the key as stored, for an
 * update that changes only some of them.
 *
 * @returns the checked fields present in `input`; a refill without `remaining` starts full
 * @throws {ApiKeyValidationError} naming the field at fault
 */
export function checkPolicies(
  input: Record<string, unknown>,
  current: ApiKeyPolicyInput = {},
): ApiKeyPolicyInput {
  const checked: Record<string, unknown> = {};
  for (const field of POLICY_FIELDS)
    if (input[field] !== undefined) checked[field] = checkPolicyField(field, input[field]);
  const valid = checked as ApiKeyPolicyInput;
  const merged = { ...current, ...valid };
  if ((merged.refillAmount == null) !== (merged.refillInterval == null))
    throw new ApiKeyValidationError(
      'refillAmount and refillInterval go together: give both, or neither.',
      merged.refillAmount == null ? 'refillAmount' : 'refillInterval',
    );
  if (merged.refillAmount != null && merged.remaining == null) {
    if ('remaining' in valid)
      throw new ApiKeyValidationError(
        'A key with a refill needs remaining credits; clear the refill to make it unlimited.',
        'remaining',
      );
    valid.remaining = merged.refillAmount;
  }
  return valid;
}
