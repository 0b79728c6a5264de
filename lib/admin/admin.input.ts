import type { EntityMetadata } from 'typeorm';
import { EXPIRY_FORMS, readExpiry } from '../keys/expiry.js';
import type { UpdateApiKeyInput } from '../api-key.interfaces.js';
import { ApiKeyAdminBadRequest } from './admin.errors.js';

/** Most ids one revoke request takes. */
export const MAX_BULK = 100;

type Body = Record<string, unknown>;

/**
 * The JSON body as an object.
 *
 * @throws {ApiKeyAdminBadRequest} for anything else
 */
export function bodyOf(body: unknown): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ApiKeyAdminBadRequest('body', 'expected a JSON object.');
  return body as Body;
}

/**
 * Reads name, scopes, expiry and the policies as the page and API send them: scopes and
 * `allowedIps` as a list or a comma-separated string, expiry as an ISO-8601 date-time, a duration
 * (`30d`, `12h`, `2w`) or `null`, `remaining` and `refillAmount` as numbers or digits. Other fields
 * are refused, except those in `allowed`, which are passed on as given.
 *
 * @throws {ApiKeyAdminBadRequest} naming the field at fault
 */
export function parseKeyFields(body: Body, now: Date, allowed: string[] = []): UpdateApiKeyInput {
  const fields: UpdateApiKeyInput = {};
  for (const [field, value] of Object.entries(body)) {
    if (field === 'name') {
      if (typeof value !== 'string') throw new ApiKeyAdminBadRequest('name', 'expected text.');
      fields.name = value.trim();
    } else if (field === 'scopes') fields.scopes = parseScopes(value);
    else if (field === 'expiresAt') fields.expiresAt = parseExpiresAt(value, now);
    else if (field === 'allowedIps') fields.allowedIps = parseAllowedIps(value);
    else if (field === 'remaining' || field === 'refillAmount')
      fields[field] = parseCount(field, value);
    else if (field === 'refillInterval')
      fields.refillInterval = (value === '' ? null : value) as UpdateApiKeyInput['refillInterval'];
    else if (allowed.includes(field)) (fields as Body)[field] = value;
    else throw new ApiKeyAdminBadRequest(field, 'is not a field that can be set here.');
  }
  return fields;
}

/**
 * An allow-list as a list or comma-separated text; empty text or `null` for any address. Its
 * entries are checked by the service, which names those at fault.
 */
function parseAllowedIps(value: unknown): string[] | null {
  if (value === null || value === '') return null;
  if (typeof value === 'string')
    return value
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
  return value as string[];
}

/** A count of credits as a number or digits; empty text or `null` for none (unlimited, no refill). */
function parseCount(field: string, value: unknown): number | null {
  if (value === null || value === '') return null;
  if (typeof value === 'string' && /^\s*\d{1,10}\s*$/.test(value)) return Number(value);
  if (typeof value === 'number') return value;
  throw new ApiKeyAdminBadRequest(field, 'expected a whole number, or empty for none.');
}

function parseScopes(value: unknown): string[] {
  if (typeof value === 'string')
    return value
      .split(',')
      .map((scope) => scope.trim())
      .filter((scope) => scope !== '');
  if (Array.isArray(value)) return value as string[];
  throw new ApiKeyAdminBadRequest('scopes', 'expected a list or comma-separated text.');
}

function parseExpiresAt(value: unknown, now: Date): Date | null {
  if (value === null || value === '') return null;
  if (typeof value !== 'string' || value.length > 40)
    throw new ApiKeyAdminBadRequest('expiresAt', 'expected a date-time, a duration or null.');
  const expiry = readExpiry(value.trim(), now);
  if (expiry === null) throw new ApiKeyAdminBadRequest('expiresAt', `use ${EXPIRY_FORMS}.`);
  return expiry;
}

/**
 * The grace period of a rotation, in milliseconds (default 0: the old key is revoked at once).
 *
 * @throws {ApiKeyAdminBadRequest} unless it is a whole number from 0 to a year
 */
export function parseGracePeriod(body: Body): number {
  const value = body.gracePeriod ?? 0;
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > 31_536_000_000)
    throw new ApiKeyAdminBadRequest('gracePeriod', 'expected milliseconds, from 0 to a year.');
  return value as number;
}

/**
 * The ids of a bulk revocation, without repeats.
 *
 * @throws {ApiKeyAdminBadRequest} unless `ids` lists 1 to MAX_BULK strings
 */
export function parseIds(body: Body): string[] {
  const ids = body.ids;
  if (
    !Array.isArray(ids) ||
    ids.length === 0 ||
    ids.length > MAX_BULK ||
    !ids.every((id) => typeof id === 'string' && id.length > 0 && id.length <= 64)
  )
    throw new ApiKeyAdminBadRequest('ids', `expected a list of 1 to ${MAX_BULK} key ids.`);
  return [...new Set(ids as string[])];
}

/**
 * The columns that make a new key belong to `owner`: the owner property, and the relation
 * that shares its database column (as `partner` does `partnerId`'s), by reference.
 */
export function ownerFields(
  metadata: EntityMetadata,
  ownerColumn: string,
  owner: string,
): Record<string, unknown> {
  const fields: Record<string, unknown> = { [ownerColumn]: owner };
  const column = metadata.findColumnWithPropertyName(ownerColumn);
  for (const relation of metadata.manyToOneRelations) {
    const [join] = relation.joinColumns;
    const [target] = relation.inverseEntityMetadata.primaryColumns;
    if (join && target && join.databaseName === column?.databaseName)
      fields[relation.propertyName] = { [target.propertyName]: owner };
  }
  return fields;
}
