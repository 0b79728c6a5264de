import type { EntityMetadata } from 'typeorm';
import type { AbstractApiKey } from './api-key.entity.js';
import { ApiKeyValidationError } from './api-key.errors.js';
import { isScope } from './api-key.format.js';
import type { CreateApiKeyInput, RotateApiKeyOptions } from './api-key.interfaces.js';

/** Columns the service manages; `create()` refuses them as input. */
export const MANAGED_FIELDS = [
  'id',
  'prefix',
  'hashedKey',
  'createdAt',
  'revokedAt',
  'lastUsedAt',
  'revoked',
] as const;

/** `create()`'s input once checked: its own fields with defaults, and the entity's further columns. */
export interface ValidCreateInput {
  name: string;
  expiresAt: Date | null;
  scopes: string[];
  extra: Record<string, unknown>;
}

/**
 * Checks `create()`'s input against the rules its type documents.
 *
 * @param now the service clock's time, which `expiresAt` must be after
 * @throws {ApiKeyValidationError} if the name, scopes, expiry or extra fields are not acceptable
 */
export function validateCreateInput<T extends AbstractApiKey>(
  input: CreateApiKeyInput<T>,
  now: Date,
): ValidCreateInput {
  const { name, expiresAt = null, scopes = [], ...extra } = (input ?? {}) as CreateApiKeyInput<T>;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 100) {
    throw new ApiKeyValidationError('A key needs a name of 1 to 100 characters.');
  }
  if (!Array.isArray(scopes) || !scopes.every(isScope)) {
    throw new ApiKeyValidationError(
      'Scopes must be strings of letters, digits and ":._-" (1 to 100 characters each).',
    );
  }
  if (expiresAt !== null && (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime()))) {
    throw new ApiKeyValidationError('expiresAt must be a valid Date or null.');
  }
  if (expiresAt !== null && expiresAt.getTime() <= now.getTime()) {
    throw new ApiKeyValidationError(`expiresAt (${expiresAt.toISOString()}) is not in the future.`);
  }
  for (const field of MANAGED_FIELDS) {
    if (field in extra)
      throw new ApiKeyValidationError(`${field} is set by the service and cannot be given.`);
  }
  return { name, expiresAt, scopes, extra };
}

/**
 * The grace period of `rotate()`'s options.
 *
 * @throws {ApiKeyValidationError} if it is not a whole number of milliseconds, 0 or more
 */
export function validateGracePeriod(options: RotateApiKeyOptions): number {
  const gracePeriod = options?.gracePeriod;
  if (typeof gracePeriod !== 'number' || !Number.isInteger(gracePeriod) || gracePeriod < 0) {
    throw new ApiKeyValidationError(
      'gracePeriod must be a whole number of milliseconds, 0 or more.',
    );
  }
  return gracePeriod;
}

/**
 * The columns of `old` that `rotate()` gives the new key besides name, scopes and expiry: every
 * column the service does not manage, and owning relations as references by id. `old` must be
 * loaded with relation ids.
 */
export function carriedColumns<T extends AbstractApiKey>(
  metadata: EntityMetadata,
  old: T,
): Record<string, unknown> {
  const carried: Record<string, unknown> = {};
  for (const column of metadata.columns) {
    const property = column.propertyName;
    if (
      column.relationMetadata ||
      (MANAGED_FIELDS as readonly string[]).includes(property) ||
      ['name', 'scopes', 'expiresAt'].includes(property)
    )
      continue;
    carried[property] = (old as Record<string, unknown>)[property];
  }
  for (const relation of metadata.manyToOneRelations.concat(
    metadata.oneToOneRelations.filter((r) => r.isOwning),
  )) {
    const id = (old as Record<string, unknown>)[relation.propertyName];
    if (id != null)
      carried[relation.propertyName] =
        relation.inverseEntityMetadata.primaryColumns.length === 1
          ? { [relation.inverseEntityMetadata.primaryColumns[0].propertyName]: id }
          : id;
  }
  return carried;
}
