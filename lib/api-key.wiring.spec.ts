import 'reflect-metadata';
import { Column, DataSource, Entity } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_BCRYPT } from '../test/support/key-store.js';
import { AbstractApiKey, ApiKey } from './api-key.entity.js';
import { ApiKeyConfigurationError, ApiKeyRevocationError } from './api-key.errors.js';
import { ApiKeyRevocationSubscriber } from './schema/subscriber.js';
import { wireApiKeys } from './api-key.wiring.js';

@Entity('wiring_spec_partner_keys')
class PartnerApiKey extends AbstractApiKey {
  @Column({ type: 'varchar', length: 36 })
  partnerId!: string;
}

describe('wireApiKeys', () => {
  let dataSource: DataSource;

  beforeAll(async () => {
    dataSource = new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      entities: [ApiKey],
      synchronize: true,
    });
    await dataSource.initialize();
  });
  afterAll(async () => {
    await dataSource?.destroy();
  });

  it('builds a working service over the entity, with its options resolved and revocation locked', async () => {
    const { options, repository, service } = wireApiKeys({
      dataSource,
      options: { brand: 'sk_test_', hasher: FAST_BCRYPT },
    });
    expect(options).toMatchObject({ name: 'default', entity: ApiKey, brand: 'sk_test_' });
    expect(service.options).toBe(options);
    expect(repository.target).toBe(ApiKey);
    const { apiKey, key } = await service.create({ name: 'wired' });
    expect(key.startsWith('sk_test_')).toBe(true);
    expect(await service.isValid(key)).toBe(true);
    await service.revoke(apiKey.id);
    await expect(repository.update(apiKey.id, { revokedAt: null })).rejects.toBeInstanceOf(
      ApiKeyRevocationError,
    );
    await service.beforeApplicationShutdown();
  });

  it('registers the revocation subscriber once, however often an entity is wired', () => {
    wireApiKeys({ dataSource, options: { hasher: FAST_BCRYPT } });
    wireApiKeys({ dataSource, options: { hasher: FAST_BCRYPT }, name: 'again' });
    const subscribers = dataSource.subscribers.filter(
      (s) => s instanceof ApiKeyRevocationSubscriber && s.listenTo() === ApiKey,
    );
    expect(subscribers).toHaveLength(1);
  });

  it('refuses a bad option or registration field, naming it', () => {
    const refusal = (attempt: () => unknown) => {
      try {
        attempt();
      } catch (error) {
        expect(error).toBeInstanceOf(ApiKeyConfigurationError);
        return (error as ApiKeyConfigurationError).option;
      }
      return undefined;
    };
    expect(refusal(() => wireApiKeys({ dataSource, options: { brand: 'no spaces' } }))).toBe(
      'brand',
    );
    expect(refusal(() => wireApiKeys({ dataSource, name: 'not ok' }))).toBe('name');
  });

  it('refuses an entity the data source does not have, saying how to add it', () => {
    let error: unknown;
    try {
      wireApiKeys({ dataSource, entity: PartnerApiKey });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ApiKeyConfigurationError);
    expect((error as ApiKeyConfigurationError).option).toBe('entity');
    expect((error as Error).message).toMatch(
      /PartnerApiKey is not an entity of the TypeORM data source "default".*autoLoadEntities/,
    );
  });

  it('refuses a usableWhere naming what the entity lacks, and accepts one naming its columns', () => {
    let error: unknown;
    try {
      wireApiKeys({ dataSource, options: { usableWhere: { partner: { active: true } } as any } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ApiKeyConfigurationError);
    expect((error as ApiKeyConfigurationError).option).toBe('usableWhere');
    expect((error as Error).message).toContain(
      'usableWhere.partner: ApiKey has no relation or column "partner".',
    );
    expect((error as Error).message).toMatch(/Fix: name one of ApiKey's columns .*prefix/);
    const { service } = wireApiKeys({
      dataSource,
      options: { usableWhere: { name: 'x' }, hasher: FAST_BCRYPT },
    });
    expect(service.options.usableWhere).toEqual({ name: 'x' });
  });
});
