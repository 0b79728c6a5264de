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
  /** `revoked` wins over `expired`: a revoked key stays revoked whatever its expiry. */
  status: 'active' | 'revoked' | 'expired';
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
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
    status: apiKey.revoked ? 'revoked' : apiKey.isExpired(now) ? 'expired' : 'active',
    createdAt: apiKey.createdAt,
    expiresAt: apiKey.expiresAt,
    lastUsedAt: apiKey.lastUsedAt,
    revokedAt: apiKey.revokedAt,
  };
  if (ownerColumn) {
    const owner = (apiKey as unknown as Record<string, unknown>)[ownerColumn];
    view.owner = owner == null ? null : String(owner);
  }
  return view;
}
