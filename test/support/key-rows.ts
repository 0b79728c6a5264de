import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { IsNull, type FindOptionsWhere, type Repository } from 'typeorm';
import { expect, vi } from 'vitest';
import { ApiKey, type AbstractApiKey } from '../../lib/api-key.entity.js';
import { generateKey } from '../../lib/keys/format.js';
import { ApiKeyPrefixLookup, type StoredApiKeyRow } from '../../lib/store/lookup.js';

/**
 * The query the key lookup replaces, as the service ran it before, with the hash moved beside
 * the entity as the lookup gives it: the reference for every comparison.
 */
export async function getOneByPrefix<T extends AbstractApiKey>(
  repository: Repository<T>,
  prefix: string,
  usableWhere: FindOptionsWhere<T> | null = null,
): Promise<StoredApiKeyRow<T> | null> {
  const row = await repository
    .createQueryBuilder('api_key')
    .setFindOptions({ where: { ...(usableWhere ?? {}), prefix } as FindOptionsWhere<T> })
    .addSelect('api_key.hashedKey')
    .addSelect('api_key.secretTag')
    .getOne();
  if (row === null) return null;
  const { hashedKey, secretTag = null } = row;
  delete (row as Partial<T>).hashedKey;
  delete (row as Partial<T>).secretTag;
  return { row, hashedKey, secretTag };
}

/** Inserts a key row with every column filled the way the service fills it. */
export async function insertKey<T extends AbstractApiKey>(
  repository: Repository<T>,
  values: Partial<T> = {},
): Promise<T> {
  const row = repository.create({
    id: randomUUID(),
    prefix: generateKey().prefix,
    hashedKey: `$2b$04$${'a'.repeat(53)}`,
    name: 'lookup spec',
    scopes: ['projects:read', 'projects:write'],
    createdAt: new Date('2026-01-02T03:04:05.678Z'),
    expiresAt: new Date('2027-06-07T08:09:10.111Z'),
    revokedAt: null,
    lastUsedAt: new Date('2026-03-04T05:06:07.890Z'),
    ...values,
  } as unknown as T);
  await repository.insert(row as any);
  return row;
}

/**
 * Checks a lookup that cannot use its compiled form, because TypeORM lacks what it relies on:
 * it answers as `getOne()` does (rows, nulls, `usableWhere`, a change seen on the next call,
 * the hash off the entity) and warns once, naming what was `missing`.
 */
export async function expectQueryBuilderFallback(
  repository: Repository<ApiKey>,
  missing: RegExp,
): Promise<void> {
  const warnings: string[] = [];
  const warn = vi
    .spyOn(Logger.prototype, 'warn')
    .mockImplementation((message: unknown) => void warnings.push(String(message)));
  try {
    const usableWhere = { revokedAt: IsNull() } as FindOptionsWhere<ApiKey>;
    const usable = await insertKey(repository);
    const revoked = await insertKey(repository, { revokedAt: new Date('2026-02-02T00:00:00Z') });
    const lookup = new ApiKeyPrefixLookup(repository, usableWhere);
    const asked = [usable.prefix, revoked.prefix, generateKey().prefix, usable.prefix];
    // Asked together, so the first calls race to compile the lookup.
    const found = await Promise.all(asked.map((prefix) => lookup.find(prefix)));

    expect(found[0]).toEqual(await getOneByPrefix(repository, usable.prefix, usableWhere));
    expect(found[0]!.row).toBeInstanceOf(ApiKey);
    expect(found[0]!.row.createdAt.toISOString()).toBe('2026-01-02T03:04:05.678Z');
    expect(found[0]!.hashedKey).toBe(usable.hashedKey);
    expect(Object.keys(found[0]!.row)).not.toContain('hashedKey');
    // The revoked row is there; usableWhere is what keeps it out.
    expect(await getOneByPrefix(repository, revoked.prefix)).not.toBeNull();
    expect(found[1]).toBeNull();
    expect(found[2]).toBeNull();
    expect(found[3]!.row).not.toBe(found[0]!.row);
    await repository.update({ id: usable.id }, { revokedAt: new Date('2026-05-05T00:00:00Z') });
    expect(await lookup.find(usable.prefix)).toBeNull();

    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(missing);
    expect(warnings[0]).toMatch(/query builder/);
    expect(warnings[0]).toMatch(/only slower/);
  } finally {
    warn.mockRestore();
  }
}
