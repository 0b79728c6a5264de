import type { AbstractApiKey } from '../api-key.entity.js';

/**
 * A key as the management API shows it: never its hash, never the plaintext.
 *
 * @publicApi
 */
export interface ApiKeyAdminView {
  id: string;
  prefix: string;
  name: string;
  scopes: string[];
  /**
   * `revoked` wins over `expired`, and both over `disabled`: a revoked key stays revoked whatever
   * its expiry, and a suspended key that expired is expired.
   */
  status: 'active' | 'revoked' | 'expired' | 'disabled';
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  /** When the key was suspended; `null` while it is not. */
  disabledAt: Date | null;
  /** Addresses and CIDR ranges the key works from; `null` for any. */
  allowedIps: string[] | null;
  /** Credits left; `null` for unlimited. */
  remaining: number | null;
  /** Credits a refill tops the key up to, and when; `null` for no refill. */
  refillAmount: number | null;
  refillInterval: 'day' | 'month' | null;
  /** The owner (`ownerColumn`), when the module has one. */
  owner?: string | null;
}

/**
 * A page of keys.
 *
 * @publicApi
 */
export interface ApiKeyList {
  items: ApiKeyAdminView[];
  /** How many keys match, on every page. */
  total: number;
  page: number;
  pageSize: number;
  /** Whether keys have owners this caller can see and set (admin mode with `ownerColumn`). */
  ownerField: boolean;
}

/** The view of `apiKey` at `now`. */
export function presentKey(
  apiKey: AbstractApiKey,
  now: Date,
  ownerColumn: string | undefined,
): ApiKeyAdminView {
  const view: ApiKeyAdminView = {
    id: apiKey.id,
    prefix: apiKey.prefix,
    name: apiKey.name,
    scopes: apiKey.scopes,
    status: apiKey.revoked
      ? 'revoked'
      : apiKey.isExpired(now)
        ? 'expired'
        : apiKey.disabledAt != null
          ? 'disabled'
          : 'active',
    createdAt: apiKey.createdAt,
    expiresAt: apiKey.expiresAt,
    lastUsedAt: apiKey.lastUsedAt,
    revokedAt: apiKey.revokedAt,
    disabledAt: apiKey.disabledAt ?? null,
    allowedIps: apiKey.allowedIps ?? null,
    remaining: apiKey.remaining ?? null,
    refillAmount: apiKey.refillAmount ?? null,
    refillInterval: apiKey.refillInterval ?? null,
  };
  if (ownerColumn) {
    const owner = (apiKey as unknown as Record<string, unknown>)[ownerColumn];
    view.owner = owner == null ? null : String(owner);
  }
  return view;
}
