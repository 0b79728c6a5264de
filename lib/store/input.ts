import type { EntityMetadata } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyValidationError } from '../api-key.errors.js';
import { isScope } from '../keys/format.js';
import { checkPolicies, checkPolicyField, NO_POLICIES, POLICY_FIELDS } from '../policies/input.js';
import type {
  CreateApiKeyInput,
  RotateApiKeyOptions,
  UpdateApiKeyInput,
} from '../api-key.interfaces.js';

/** Columns the service manages; `create()` refuses them as input. */
export const MANAGED_FIELDS = [
  'id',
  'prefix',
  'hashedKey',
  'secretTag',
  'createdAt',
  'revokedAt',
  'lastUsedAt',
  'revoked',
  'disabledAt',
  'disabled',
  'lastRefillAt',
  'expiryNotifiedAt',
] as const;

/**
 * The entity's members `CreateApiKeyInput` leaves out, less its methods: exactly
 * `MANAGED_FIELDS`, or this file does not compile (the two lists cannot drift apart).
 */
type LeftOutOfCreateInput = Exclude<
  Exclude<keyof AbstractApiKey, keyof CreateApiKeyInput<AbstractApiKey>>,
  'isExpired' | 'toJSON' | 'toString'
>;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const MANAGED_FIELDS_MATCH: Same<LeftOutOfCreateInput, (typeof MANAGED_FIELDS)[number]> = true;
void MANAGED_FIELDS_MATCH;

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
  const valid = {
    name: checkName(name),
    scopes: checkScopes(scopes),
    expiresAt: checkExpiry(expiresAt, now),
  };
  for (const field of MANAGED_FIELDS) {
    if (field in extra)
      throw new ApiKeyValidationError(`${field} is set by the service and cannot be given.`);
  }
  return { ...valid, extra: { ...NO_POLICIES, ...extra, ...checkPolicies(extra) } };
}

/**
 * Checks `update()`'s changes: only name, scopes, expiry and the policy fields, each by
 * `create()`'s rules. Whether a refill is whole needs the stored key: see `checkPolicies`.
 *
 * @param now the service clock's time, which a new `expiresAt` must be after
 * @throws {ApiKeyValidationError} if a change is not acceptable or names another field
 */
export function validateUpdateInput(input: UpdateApiKeyInput, now: Date): UpdateApiKeyInput {
  const changes: UpdateApiKeyInput = {};
  for (const [field, value] of Object.entries(input ?? {})) {
    if (value === undefined) continue;
    if (field === 'name') changes.name = checkName(value);
    else if (field === 'scopes') changes.scopes = [...new Set(checkScopes(value))];
    else if (field === 'expiresAt') changes.expiresAt = checkExpiry(value, now);
    else if ((POLICY_FIELDS as readonly string[]).includes(field))
      (changes as Record<string, unknown>)[field] = checkPolicyField(
        field as (typeof POLICY_FIELDS)[number],
        value,
      );
    else
      throw new ApiKeyValidationError(
        `${field} cannot be changed: only name, scopes, expiresAt, ${POLICY_FIELDS.join(', ')} can.`,
        field,
      );
  }
  return changes;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '' || name.length > 100) {
    throw new ApiKeyValidationError('A key needs a name of 1 to 100 characters.', 'name');
  }
  // PostgreSQL's text cannot hold NUL at all, and it ends a C string everywhere else.
  if (name.includes('\0'))
    throw new ApiKeyValidationError('A key name cannot contain the NUL character.', 'name');
  return name;
}

function checkScopes(scopes: unknown): string[] {
  if (!Array.isArray(scopes) || !scopes.every(isScope)) {
    throw new ApiKeyValidationError(
      'Scopes must be strings of letters, digits and ":._-" (1 to 100 characters each).',
      'scopes',
    );
  }
  return scopes;
}

function checkExpiry(expiresAt: unknown, now: Date): Date | null {
  if (expiresAt === null) return null;
  if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) {
    throw new ApiKeyValidationError('expiresAt must be a valid Date or null.', 'expiresAt');
  }
  if (expiresAt.getTime() <= now.getTime()) {
    throw new ApiKeyValidationError(
      `expiresAt (${expiresAt.toISOString()}) is not in the future.`,
      'expiresAt',
    );
  }
  return expiresAt;
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

/**
 * The entity's own columns of a key (its owner's, say), as events name them: `carriedColumns`
 * without the policy columns, which say nothing of whose key it was.
 */
export function ownColumns<T extends AbstractApiKey>(
  metadata: EntityMetadata,
  apiKey: T,
): Record<string, unknown> {
  const columns = carriedColumns(metadata, apiKey);
  for (const field of POLICY_FIELDS) delete columns[field];
  return columns;
}
