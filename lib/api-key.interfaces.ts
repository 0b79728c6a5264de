import type { FindOptionsWhere } from 'typeorm';
import type { AbstractApiKey, ApiKey } from './api-key.entity.js';
import type { ApiKeyUsageCounts } from './usage/outcomes.js';

/**
 * Why a presented key was refused. For logs and server-side callers only: the guard answers
 * every one of them with the same 401. `flooded` means the secret was not checked: its key has
 * not verified in this process and its share of the cold-path queue was full of other secrets.
 *
 * @publicApi
 */
export type ApiKeyFailureReason =
  'malformed' | 'unknown' | 'revoked' | 'expired' | 'bad_secret' | 'flooded';

/**
 * Result of `ApiKeyService.verify()`.
 *
 * @publicApi
 */
export type ApiKeyVerification<T extends AbstractApiKey = ApiKey> =
  | { valid: true; apiKey: T }
  | {
      valid: false;
      reason: ApiKeyFailureReason;
      prefix?: string;
      /** The id of the key refused, when its row was found (for usage analytics). */
      keyId?: string;
    };

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
export interface UpdateApiKeyInput {
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
