import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/support/databases.js';
import { ApiKey } from './api-key.entity.js';
import { ApiKeyNotFoundError, ApiKeyValidationError } from './api-key.errors.js';
import { HmacSha256ApiKeyHasher } from './keys/hasher.js';
import { resolveApiKeyOptions } from './options/resolve.js';
import { ApiKeyService } from './api-key.service.js';

describe('ApiKeyService.update', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let service: ApiKeyService;
  let now = new Date('2030-01-01T00:00:00.000Z');

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    dataSource = await new DataSource({
      ...db.options,
      entities: [ApiKey],
      synchronize: true,
    } as any).initialize();
    const options = resolveApiKeyOptions(
      {
        hasher: new HmacSha256ApiKeyHasher({ secret: 'x'.repeat(32) }),
        clock: () => now,
        usageTracking: false,
      },
      { name: 'default', entity: ApiKey },
    );
    service = new ApiKeyService(options, dataSource.getRepository(ApiKey));
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  it('changes name, scopes (without duplicates) and expiry, and leaves the rest as it was', async () => {
    const { apiKey, key } = await service.create({ name: 'before', scopes: ['a'] });
    const expiresAt = new Date('2030-02-01T00:00:00.000Z');
    const updated = await service.update(apiKey.prefix, {
      name: 'after',
      scopes: ['b', 'b', 'c'],
      expiresAt,
    });
    expect(updated).toMatchObject({ id: apiKey.id, name: 'after', scopes: ['b', 'c'], expiresAt });
    expect(updated.createdAt).toEqual(apiKey.createdAt);
    expect(await service.isValid(key)).toBe(true);
    expect((await service.update(apiKey.id, { expiresAt: null })).expiresAt).toBeNull();
    expect((await service.update(apiKey.id, {})).name).toBe('after');
  });

  it.each([
    ['name', { name: '' }],
    ['scopes', { scopes: ['no spaces'] }],
    ['expiresAt', { expiresAt: new Date('2029-01-01T00:00:00.000Z') }],
    ['expiresAt', { expiresAt: 'tomorrow' }],
    ['prefix', { prefix: 'AAAAAAAA' }],
  ])('refuses a bad %s, naming the field, and writes nothing', async (field, changes) => {
    const { apiKey } = await service.create({ name: 'kept', scopes: ['a'] });
    const error = await service.update(apiKey.id, changes as any).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiKeyValidationError);
    expect((error as ApiKeyValidationError).field).toBe(field);
    expect(await service.findOne(apiKey.id)).toEqual(apiKey);
  });

  it('refuses revoked and expired keys, which are read-only, and unknown ones', async () => {
    const revoked = (await service.create({ name: 'revoked' })).apiKey;
    await service.revoke(revoked.id);
    await expect(service.update(revoked.id, { name: 'x' })).rejects.toThrow(/read-only/);
    const expiring = (
      await service.create({ name: 'expiring', expiresAt: new Date(now.getTime() + 1000) })
    ).apiKey;
    now = new Date(now.getTime() + 2000);
    await expect(service.update(expiring.id, { name: 'x' })).rejects.toThrow(/read-only/);
    expect((await service.findOne(expiring.id))?.name).toBe('expiring');
    await expect(service.update('AAAAAAAA', { name: 'x' })).rejects.toBeInstanceOf(
      ApiKeyNotFoundError,
    );
  });
});
