import 'reflect-metadata';
import {
  Column,
  DataSource,
  Entity,
  In,
  IsNull,
  JoinColumn,
  LessThan,
  ManyToOne,
  PrimaryColumn,
  Raw,
  type EntityMetadata,
} from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyValidationError } from '../api-key.errors.js';
import { describeUnknownWhereProperty, findUnknownWhereProperty, listWhere } from './where.js';

class Billing {
  @Column({ type: 'varchar', length: 20 })
  tier!: string;
}

@Entity('where_spec_owners')
class Owner {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'boolean' })
  active!: boolean;

  @Column(() => Billing)
  billing!: Billing;
}

@Entity('where_spec_keys')
class OwnedKey extends AbstractApiKey {
  @ManyToOne(() => Owner, { nullable: false })
  @JoinColumn({ name: 'owner_id' })
  owner!: Owner;

  @Column({ name: 'owner_id', type: 'varchar', length: 36 })
  ownerId!: string;
}

describe('where checks against entity metadata', () => {
  let dataSource: DataSource;
  let keys: EntityMetadata;

  beforeAll(async () => {
    dataSource = new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      entities: [Owner, OwnedKey],
      synchronize: true,
    });
    await dataSource.initialize();
    keys = dataSource.getMetadata(OwnedKey);
  });
  afterAll(async () => {
    await dataSource?.destroy();
  });

  const unknownPath = (where: unknown) =>
    findUnknownWhereProperty(keys, where, 'usableWhere')?.path ?? null;

  it('accepts columns, relations, nested relation columns, embeddeds and operators', () => {
    expect(unknownPath(undefined)).toBeNull();
    expect(unknownPath(null)).toBeNull();
    expect(unknownPath({ ownerId: 'o-1', revokedAt: IsNull() })).toBeNull();
    expect(unknownPath({ owner: { active: true, billing: { tier: In(['gold']) } } })).toBeNull();
    expect(unknownPath({ owner: { id: Raw((alias) => `${alias} IS NOT NULL`) } })).toBeNull();
    expect(unknownPath({ owner: In(['o-1']), createdAt: LessThan(new Date()) })).toBeNull();
    expect(unknownPath({ scopes: ['a'] })).toBeNull();
    expect(unknownPath([{ ownerId: 'o-1' }, { owner: { active: true } }])).toBeNull();
  });

  it('names the path and the entity lacking a property, at any depth', () => {
    expect(findUnknownWhereProperty(keys, { partner: { active: true } }, 'usableWhere')).toEqual({
      path: 'usableWhere.partner',
      entity: 'OwnedKey',
      property: 'partner',
      known: expect.arrayContaining(['prefix', 'ownerId', 'owner']),
    });
    expect(unknownPath({ owner: { actve: true } })).toBe('usableWhere.owner.actve');
    expect(unknownPath({ owner: { billing: { plan: 'x' } } })).toBe(
      'usableWhere.owner.billing.plan',
    );
    expect(unknownPath([{ ownerId: 'o-1' }, { owner: { nope: 1 } }])).toBe(
      'usableWhere[1].owner.nope',
    );
    expect(unknownPath({ owner: [{ active: true }, { gone: true }] })).toBe(
      'usableWhere.owner[1].gone',
    );
  });

  it('lists what the entity has at the level of the mistake', () => {
    const owner = findUnknownWhereProperty(keys, { owner: { actve: true } }, 'usableWhere')!;
    expect(owner.entity).toBe('Owner');
    expect(owner.known).toEqual(['id', 'active', 'billing']);
    const billing = findUnknownWhereProperty(
      keys,
      { owner: { billing: { plan: 'x' } } },
      'usableWhere',
    )!;
    expect(billing.known).toEqual(['tier']);
    expect(describeUnknownWhereProperty(owner)).toEqual({
      problem: 'usableWhere.owner.actve: Owner has no relation or column "actve".',
      fix: "name one of Owner's columns or relations (id, active, billing), or add the relation to the entity.",
    });
  });

  describe('listWhere', () => {
    const now = new Date('2030-01-01T00:00:00Z');

    it('passes a where through, and leaves no where alone', () => {
      expect(listWhere(keys, {}, now)).toBeUndefined();
      expect(listWhere<OwnedKey>(keys, { where: { ownerId: 'o-1' } }, now)).toEqual({
        ownerId: 'o-1',
      });
    });

    it('repeats the where in both branches of activeOnly', () => {
      const where = listWhere<OwnedKey>(
        keys,
        { where: { ownerId: 'o-1' }, activeOnly: true },
        now,
      ) as any[];
      expect(where).toHaveLength(2);
      for (const branch of where) {
        expect(branch.ownerId).toBe('o-1');
        expect(branch.revokedAt.type).toBe('isNull');
      }
      expect(where[0].expiresAt.type).toBe('isNull');
      expect(where[1].expiresAt.type).toBe('moreThan');
      expect(where[1].expiresAt.value).toBe(now);
    });

    it('keeps a condition of its own on expiresAt beside the one activeOnly adds', () => {
      const before = new Date('2031-01-01T00:00:00Z');
      const [never, later] = listWhere<OwnedKey>(
        keys,
        { where: { expiresAt: LessThan(before) }, activeOnly: true },
        now,
      ) as any[];
      expect(never.expiresAt.type).toBe('and');
      expect(later.expiresAt.type).toBe('and');
      expect(later.expiresAt.value.map((operator: any) => operator.type)).toEqual([
        'lessThan',
        'moreThan',
      ]);
    });

    it('refuses a where that is not an object or names what the entity lacks', () => {
      expect(() => listWhere(keys, { where: [{}] as any }, now)).toThrow(ApiKeyValidationError);
      expect(() => listWhere(keys, { where: 'ownerId = 1' as any }, now)).toThrow(
        /takes a TypeORM where object/,
      );
      expect(() => listWhere(keys, { where: { partnerId: 'p' } as any }, now)).toThrow(
        'list(): where.partnerId: OwnedKey has no relation or column "partnerId".',
      );
    });
  });
});
