import 'reflect-metadata';
import { Column, DataSource, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, createTestDatabase, type TestDatabase } from '../test/support/databases.js';
import { AbstractApiKey } from './api-key.entity.js';
import { ApiKeyNotFoundError, ApiKeyValidationError } from './api-key.errors.js';
import { BcryptApiKeyHasher } from './keys/hasher.js';
import { resolveApiKeyOptions } from './options/resolve.js';
import { ApiKeyService } from './api-key.service.js';

@Entity('rotation_owners')
class Owner {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;
}

@Entity('rotation_api_keys')
class OwnedApiKey extends AbstractApiKey {
  @ManyToOne(() => Owner, { nullable: false })
  @JoinColumn({ name: 'owner_id' })
  owner!: Owner;

  @Column({ type: 'varchar', length: 20, default: 'eu' })
  region!: string;
}

describe.each(ENGINES)('ApiKeyService.rotate on %s', (engine) => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let service: ApiKeyService<OwnedApiKey>;
  let now = new Date('2030-01-01T00:00:00.000Z');

  beforeAll(async () => {
    db = await createTestDatabase(engine);
    dataSource = await new DataSource({
      ...db.options,
      entities: [Owner, OwnedApiKey],
      synchronize: true,
    } as any).initialize();
    const options = resolveApiKeyOptions<OwnedApiKey>(
      { hasher: new BcryptApiKeyHasher({ cost: 4 }), clock: () => now, usageTracking: false },
      { name: 'default', entity: OwnedApiKey },
    );
    service = new ApiKeyService(options, dataSource.getRepository(OwnedApiKey));
    await dataSource.getRepository(Owner).save({ id: 'owner-1' });
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  it('makes a new key with the same name, scopes, expiry and owner, and keeps the old one for the grace period', async () => {
    const expiresAt = new Date('2030-06-01T00:00:00.000Z');
    const old = await service.create({
      name: 'rotating',
      scopes: ['a', 'b'],
      expiresAt,
      owner: { id: 'owner-1' } as Owner,
      region: 'us',
    });
    const rotated = await service.rotate(old.apiKey.prefix, { gracePeriod: 60_000 });

    expect(rotated.key).not.toBe(old.key);
    expect(rotated.apiKey.prefix).not.toBe(old.apiKey.prefix);
    const fresh = await dataSource
      .getRepository(OwnedApiKey)
      .findOneOrFail({ where: { id: rotated.apiKey.id }, loadRelationIds: true });
    expect(fresh).toMatchObject({
      name: 'rotating',
      scopes: ['a', 'b'],
      region: 'us',
      owner: 'owner-1',
    });
    expect(fresh.expiresAt?.toISOString()).toBe(expiresAt.toISOString());
    expect(rotated.previous.expiresAt?.toISOString()).toBe('2030-01-01T00:01:00.000Z');

    expect(await service.isValid(old.key)).toBe(true);
    expect(await service.isValid(rotated.key)).toBe(true);
    now = new Date('2030-01-01T00:01:00.000Z');
    expect(await service.verify(old.key)).toMatchObject({ valid: false, reason: 'expired' });
    expect(await service.isValid(rotated.key)).toBe(true);
  });

  it('never extends the old key, and revokes it at once with a zero grace period', async () => {
    const soon = new Date(now.getTime() + 1_000);
    const short = await service.create({
      name: 'short',
      expiresAt: soon,
      owner: { id: 'owner-1' } as Owner,
    });
    const rotated = await service.rotate(short.apiKey.id, { gracePeriod: 3_600_000 });
    expect(rotated.previous.expiresAt?.toISOString()).toBe(soon.toISOString());

    const immediate = await service.rotate(rotated.apiKey.id, { gracePeriod: 0 });
    expect(immediate.previous.revoked).toBe(true);
    expect(await service.verify(rotated.key)).toMatchObject({ valid: false, reason: 'revoked' });
    expect(await service.isValid(immediate.key)).toBe(true);
  });

  it('refuses to rotate unknown, revoked keys and bad grace periods', async () => {
    await expect(service.rotate('NoSuchK1', { gracePeriod: 0 })).rejects.toBeInstanceOf(
      ApiKeyNotFoundError,
    );
    const k = await service.create({ name: 'to-revoke', owner: { id: 'owner-1' } as Owner });
    await expect(service.rotate(k.apiKey.id, { gracePeriod: -1 })).rejects.toBeInstanceOf(
      ApiKeyValidationError,
    );
    await service.revoke(k.apiKey.id);
    await expect(service.rotate(k.apiKey.id, { gracePeriod: 0 })).rejects.toBeInstanceOf(
      ApiKeyValidationError,
    );
  });
});
