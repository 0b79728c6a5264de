import type { Repository, SelectQueryBuilder } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyAdminBadRequest } from './admin.errors.js';

/** Which keys a list shows: `active` are neither revoked nor expired. */
export type ApiKeyStatusFilter = 'all' | 'active' | 'revoked' | 'expired' | 'disabled';

/** The properties a list can be sorted by. */
export const SORTABLE = ['createdAt', 'name', 'prefix', 'expiresAt', 'lastUsedAt'] as const;

/** A list request, checked. */
export interface ListQuery {
  search: string;
  status: ApiKeyStatusFilter;
  owner: string | null;
  sort: (typeof SORTABLE)[number];
  order: 'ASC' | 'DESC';
  page: number;
  pageSize: number;
}

const STATUSES: readonly ApiKeyStatusFilter[] = ['all', 'active', 'revoked', 'expired', 'disabled'];
const MAX_PAGE_SIZE = 100;

/**
 * Reads the list's query string: `search`, `status`, `owner`, `sort`, `order`, `page`, `pageSize`.
 *
 * @throws {ApiKeyAdminBadRequest} naming the parameter at fault
 */
export function parseListQuery(query: Record<string, unknown> = {}): ListQuery {
  const text = (name: string, fallback: string): string => {
    const value = query[name] ?? fallback;
    if (typeof value !== 'string') throw new ApiKeyAdminBadRequest(name, 'give it once.');
    return value;
  };
  const oneOf = <V extends string>(name: string, allowed: readonly V[], fallback: V): V => {
    const value = text(name, fallback);
    if (!(allowed as readonly string[]).includes(value))
      throw new ApiKeyAdminBadRequest(name, `expected one of ${allowed.join(', ')}.`);
    return value as V;
  };
  const whole = (name: string, fallback: number, max: number): number => {
    const value = text(name, String(fallback));
    if (!/^\d{1,6}$/.test(value) || Number(value) < 1 || Number(value) > max)
      throw new ApiKeyAdminBadRequest(name, `expected a whole number from 1 to ${max}.`);
    return Number(value);
  };
  const search = text('search', '').trim();
  if (search.length > 100) throw new ApiKeyAdminBadRequest('search', 'at most 100 characters.');
  const owner = text('owner', '');
  return {
    search,
    status: oneOf('status', STATUSES, 'all'),
    owner: owner === '' ? null : owner,
    sort: oneOf('sort', SORTABLE, 'createdAt'),
    order: oneOf('order', ['asc', 'desc'], 'desc').toUpperCase() as 'ASC' | 'DESC',
    page: whole('page', 1, 1_000_000),
    pageSize: whole('pageSize', 20, MAX_PAGE_SIZE),
  };
}

/**
 * Selects keys (never their hash) confined to `owner` when given, on the `key` alias.
 *
 * @param ownerColumn the entity property naming a key's owner, or undefined without owners
 */
export function keysQuery<T extends AbstractApiKey>(
  repository: Repository<T>,
  ownerColumn: string | undefined,
  owner: string | null,
): SelectQueryBuilder<T> {
  const query = repository.createQueryBuilder('key');
  if (ownerColumn && owner !== null) query.andWhere(`key.${ownerColumn} = :owner`, { owner });
  return query;
}

/**
 * Narrows `query` to keys neither revoked nor expired at `now`. Disabled keys are among them: they
 * can be enabled again, so they count against an owner's key limit.
 */
export function whereActive<T extends AbstractApiKey>(
  query: SelectQueryBuilder<T>,
  now: Date,
): SelectQueryBuilder<T> {
  return query.andWhere(
    'key.revokedAt IS NULL AND (key.expiresAt IS NULL OR key.expiresAt > :now)',
    { now },
  );
}

/** Narrows `query` to the list's search and status, sorted and paged. */
export function applyListQuery<T extends AbstractApiKey>(
  query: SelectQueryBuilder<T>,
  list: ListQuery,
  now: Date,
): SelectQueryBuilder<T> {
  if (list.search !== '') {
    // "!" escapes LIKE's wildcards the same way on SQLite, PostgreSQL and MariaDB.
    const pattern = `%${list.search.toLowerCase().replace(/[!%_]/g, (c) => `!${c}`)}%`;
    query.andWhere(
      "(LOWER(key.name) LIKE :pattern ESCAPE '!' OR LOWER(key.prefix) LIKE :pattern ESCAPE '!')",
      { pattern },
    );
  }
  if (list.status === 'active') whereActive(query, now).andWhere('key.disabledAt IS NULL');
  if (list.status === 'disabled') whereActive(query, now).andWhere('key.disabledAt IS NOT NULL');
  if (list.status === 'revoked') query.andWhere('key.revokedAt IS NOT NULL');
  if (list.status === 'expired')
    query.andWhere('key.revokedAt IS NULL AND key.expiresAt <= :now', { now });
  return query
    .orderBy(`key.${list.sort}`, list.order)
    .addOrderBy('key.id', 'ASC')
    .offset((list.page - 1) * list.pageSize)
    .limit(list.pageSize);
}
