import type { FindOptionsWhere } from 'typeorm';
import type { AbstractApiKey, ApiKey } from './api-key.entity.js';
import type { ApiKeyPolicyInput } from './policies/input.js';
import type { ApiKeyUsageCounts } from './usage/outcomes.js';

/**
 * Why a presented key was refused. For logs and server-side callers only: the guard answers
 * every one of them with the same 401. `flooded` means the secret was not checked: its key has
 * not verified in this process and its share of the cold-path queue was full of other secrets.
 *
 * @publicApi
 */
export type ApiKeyFailureReason =
  'malformed' | 'unknown' | 'revoked' | 'expired' | 'disabled' | 'bad_secret' | 'flooded';

/**
 * Why a key that is right and usable was refused for this request by one of its policies: the
 * client's address is not in its `allowedIps` (the guard answers 403), or it has no credits left
 * (429). See docs/policies.md.
 *
 * @publicApi
 */
export type ApiKeyPolicyRefusal = 'ip_not_allowed' | 'usage_exceeded';

/**
 * Result of `ApiKeyService.verify()`.
 *
 * @publicApi
 */
export type ApiKeyVerification<T extends AbstractApiKey = ApiKey> =
  | { valid: true; apiKey: T }
  | {
      valid: false;
      reason: ApiKeyFailureReason | ApiKeyPolicyRefusal;
      prefix?: string;
      /** The id of the key refused, when its row was found (for usage analytics). */
      keyId?: string;
    };

/**
 * Options of `ApiKeyService.verify()`.
 *
 * @publicApi
 */
export interface VerifyApiKeyOptions {
  /**
   * `false` leaves `lastUsedAt` alone, for checks that are no use of the key (a leak report), so
   * that they do not keep a dormant key alive. Default `true`.
   */
  recordUse?: boolean;
  /**
   * The client's address, checked against the key's `allowedIps` (`ip_not_allowed` when not in
   * it). A function is called only for keys that have a list. `null` (or a function answering
   * nothing) is an unknown address, which no list admits. Left out, the list is not checked:
   * the guard always gives it (`request.ip`).
   */
  clientIp?: string | null | (() => string | null | undefined);
  /**
   * What to do with a usage-limited key's credits: `check` (the default) refuses a key with
   * none left (`usage_exceeded`) but spends nothing; `spend` spends one, refilling first when
   * due; `skip` leaves them alone (the guard's choice: it spends after the scope check, unless
   * the route has `@SkipApiKeyUsage()`).
   */
  credit?: 'check' | 'spend' | 'skip';
}

/**
 * What `create()` takes: a name, optional expiry and scopes, and any further columns of your
 * own entity (an owner relation, say).
 *
 * @publicApi
 */
export type CreateApiKeyInput<T extends AbstractApiKey = ApiKey> = {
  /** Free-form label, 1 to 100 characters. */
  name: string;
  /** When the key stops working; must be in the future. Omit or `null` for never. */
  expiresAt?: Date | null;
  /** Scopes for `@RequireScopes()`: letters, digits and `:._-`, matched exactly. */
  scopes?: string[];
} & Omit<
  Partial<T>,
  // The columns the service manages (store/input.ts's MANAGED_FIELDS, which the compiler holds
  // to this list): create() refuses them as input.
  | 'id'
  | 'prefix'
  | 'hashedKey'
  | 'secretTag'
  | 'createdAt'
  | 'revokedAt'
  | 'lastUsedAt'
  | 'revoked'
  | 'disabledAt'
  | 'disabled'
  | 'lastRefillAt'
  | 'expiryNotifiedAt'
  | 'name'
  | 'expiresAt'
  | 'scopes'
  | 'isExpired'
  | 'toJSON'
  | 'toString'
>;

/**
 * A created key: the entity, and the plaintext `key`, which is not stored anywhere and
 * cannot be shown again.
 *
 * @publicApi
 */
export interface CreatedApiKey<T extends AbstractApiKey = ApiKey> {
  apiKey: T;
  key: string;
}

/**
 * Options of `ApiKeyService.list()`.
 *
 * @publicApi
 */
export interface ListApiKeysOptions<T extends AbstractApiKey = ApiKey> {
  /**
   * Only the keys this TypeORM `where` selects, e.g. `{ partnerId }` for one owner's keys on a
   * self-service page. Relations are allowed (`{ partner: { id } }`); a property the entity
   * lacks is refused with `ApiKeyValidationError`. Default: every key.
   */
  where?: FindOptionsWhere<T>;
  /** Leave out revoked and expired keys (ANDed with `where`). Default `false`: every key. */
  activeOnly?: boolean;
  /** At most this many keys (for paging). Default: all. */
  take?: number;
  /** Skip this many keys first (for paging). Default 0. */
  skip?: number;
}

/**
 * What `update()` may change on a key that is still usable; a field left out stays as it is.
 *
 * @publicApi
 */
export interface UpdateApiKeyInput extends ApiKeyPolicyInput {
  /** Free-form label, 1 to 100 characters. */
  name?: string;
  /** Scopes for `@RequireScopes()`, replacing the key's scopes. */
  scopes?: string[];
  /** When the key stops working; must be in the future. `null` for never. */
  expiresAt?: Date | null;
}

/**
 * Options of `ApiKeyService.rotate()`.
 *
 * @publicApi
 */
export interface RotateApiKeyOptions {
  /**
   * Milliseconds the old key keeps working, so clients can switch without downtime.
   * `0` revokes it at once. The old key never gains time: an earlier expiry is kept.
   */
  gracePeriod: number;
}

/**
 * Result of `ApiKeyService.rotate()`: the new key (plaintext shown once) and the old one as it now stands.
 *
 * @publicApi
 */
export interface RotatedApiKey<T extends AbstractApiKey = ApiKey> extends CreatedApiKey<T> {
  previous: T;
}

/**
 * One key's requests over a span, by outcome, as `ApiKeyService.busiestKeys()` lists them.
 *
 * @publicApi
 */
export interface ApiKeyUsageByKey<T extends AbstractApiKey = ApiKey> {
  keyId: string;
  /** The key, or `null` when it was deleted since. */
  apiKey: T | null;
  counts: ApiKeyUsageCounts;
  total: number;
}
