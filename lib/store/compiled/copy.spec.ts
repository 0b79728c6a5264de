import 'reflect-metadata';
import { Column, DataSource, Entity, PrimaryColumn } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entityCopier } from './copy.js';
import { AbstractApiKey, ApiKey } from '../../api-key.entity.js';

@Entity('copy_spec_settings_keys')
class SettingsApiKey extends AbstractApiKey {
  @Column({ type: 'simple-json', nullable: true })
  settings!: unknown;
}

@Entity('copy_spec_transformed_keys')
class TransformedApiKey extends AbstractApiKey {
  @Column({
    type: 'varchar',
    transformer: { to: (value: unknown) => value, from: (value: unknown) => value },
  })
  extra!: string;
}

@Entity('copy_spec_plain')
class Plain {
  @PrimaryColumn({ type: 'varchar' })
  id!: string;
}

describe('entityCopier', () => {
  let dataSource: DataSource;

  beforeAll(async () => {
    dataSource = new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      entities: [ApiKey, SettingsApiKey, TransformedApiKey, Plain],
    });
    await dataSource.initialize();
  });
  afterAll(async () => {
    await dataSource?.destroy();
  });

  const keyOf = <T extends AbstractApiKey>(target: new () => T, values: Partial<T>): T =>
    Object.assign(new target(), {
      id: 'id',
      prefix: 'ABCDEFGH',
      name: 'copy spec',
      scopes: ['a', 'b'],
      createdAt: new Date('2026-01-02T03:04:05.678Z'),
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: new Date('2026-03-04T05:06:07.890Z'),
      ...values,
    });

  it('copies an entity deeply: same class and values, its own dates, arrays and JSON objects', () => {
    const copy = entityCopier(dataSource.getMetadata(SettingsApiKey))!;
    const entity = keyOf(SettingsApiKey, { settings: { limits: [1, { burst: 2 }] } });
    const copied = copy(entity) as SettingsApiKey;
    expect(copied).toBeInstanceOf(SettingsApiKey);
    expect(copied).toEqual(entity);
    expect(copied.createdAt).not.toBe(entity.createdAt);
    expect(copied.scopes).not.toBe(entity.scopes);
    expect((copied.settings as any).limits[1]).not.toBe((entity.settings as any).limits[1]);
    expect(Object.keys(copied)).not.toContain('hashedKey');
  });

  it('gives up (null) on a value it cannot copy faithfully, so the caller hydrates instead', () => {
    const copy = entityCopier(dataSource.getMetadata(SettingsApiKey))!;
    expect(copy(keyOf(SettingsApiKey, { settings: new Map() }))).toBeNull();
    expect(copy(keyOf(SettingsApiKey, { settings: Buffer.from('x') }))).toBeNull();
    expect(
      copy(keyOf(SettingsApiKey, { settings: JSON.parse('{"__proto__": {"a": 1}}') })),
    ).toBeNull();
  });

  it('has no copier for entities with value transformers, whose values may be of any class', () => {
    expect(entityCopier(dataSource.getMetadata(TransformedApiKey))).toBeNull();
    expect(entityCopier(dataSource.getMetadata(Plain))).not.toBeNull();
  });
});
