import 'reflect-metadata';
import {
  And,
  Column,
  DataSource,
  Entity,
  IsNull,
  JoinColumn,
  JoinTable,
  ManyToMany,
  ManyToOne,
  MoreThan,
  Not,
  OneToMany,
  PrimaryColumn,
  Raw,
  type EntityMetadata,
  type Relation,
} from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { findRawCondition, ownerTablesOf } from './owners.js';

class Billing {
  @Column({ type: 'varchar', length: 20 })
  tier!: string;
}

@Entity('owners_spec_orgs')
class Org {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'boolean' })
  suspended!: boolean;

  @Column({ type: 'varchar', length: 50 })
  name!: string;
}

@Entity('owners_spec_partners')
class Partner {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'boolean' })
  active!: boolean;

  @Column({ name: 'last_seen_at', type: 'varchar', nullable: true })
  lastSeenAt!: string | null;

  @Column(() => Billing)
  billing!: Billing;

  @ManyToOne(() => Org)
  @JoinColumn({ name: 'org_id' })
  org!: Org;
}

@Entity('owners_spec_teams')
class Team {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'boolean' })
  enabled!: boolean;
}

@Entity('owners_spec_grants')
class Grant {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 20 })
  kind!: string;

  @ManyToOne(() => OwnedKey, (key) => key.grants)
  @JoinColumn({ name: 'key_id' })
  key!: Relation<OwnedKey>;
}

@Entity('owners_spec_keys')
class OwnedKey extends AbstractApiKey {
  @ManyToOne(() => Partner)
  @JoinColumn({ name: 'partner_id' })
  partner!: Partner;

  @ManyToMany(() => Team)
  @JoinTable({ name: 'owners_spec_key_teams' })
  teams!: Team[];

  @OneToMany(() => Grant, (grant) => grant.key)
  grants!: Grant[];

  @ManyToOne(() => OwnedKey)
  @JoinColumn({ name: 'parent_id' })
  parent!: OwnedKey | null;
}

describe('ownerTablesOf', () => {
  let dataSource: DataSource;
  let keys: EntityMetadata;

  beforeAll(async () => {
    dataSource = await new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      entities: [Org, Partner, Team, Grant, OwnedKey],
      synchronize: true,
    }).initialize();
    keys = dataSource.getMetadata(OwnedKey);
  });
  afterAll(async () => {
    await dataSource.destroy();
  });

  it('lists a many-to-one owner with the columns read, its key and its foreign keys', () => {
    expect(ownerTablesOf(keys, { partner: { active: true } })).toEqual([
      { table: 'owners_spec_partners', columns: ['active', 'id', 'org_id'] },
    ]);
  });

  it('leaves out an unrelated column, and reads an embedded one by its column name', () => {
    const [partner] = ownerTablesOf(keys, { partner: { billing: { tier: 'gold' } } });
    expect(partner.columns).toEqual(['billingTier', 'id', 'org_id']);
    expect(partner.columns).not.toContain('last_seen_at');
  });

  it('follows a nested path to every table on it', () => {
    expect(ownerTablesOf(keys, { partner: { active: true, org: { suspended: false } } })).toEqual([
      { table: 'owners_spec_partners', columns: ['active', 'id', 'org_id'] },
      { table: 'owners_spec_orgs', columns: ['id', 'suspended'] },
    ]);
  });

  it('lists the join table of a many-to-many relation, and its target', () => {
    expect(ownerTablesOf(keys, { teams: { enabled: true } })).toEqual([
      { table: 'owners_spec_key_teams', columns: ['ownersSpecKeysId', 'ownersSpecTeamsId'] },
      { table: 'owners_spec_teams', columns: ['enabled', 'id'] },
    ]);
  });

  it("lists a one-to-many relation's table with the foreign key pointing at the key", () => {
    expect(ownerTablesOf(keys, { grants: { kind: 'admin' } })).toEqual([
      { table: 'owners_spec_grants', columns: ['id', 'key_id', 'kind'] },
    ]);
  });

  it('follows every branch of an OR array, and lists nothing for the key table alone', () => {
    const tables = ownerTablesOf(keys, [
      { partner: { active: true } },
      { teams: { enabled: true } },
    ]);
    expect(tables.map((owner) => owner.table)).toEqual([
      'owners_spec_partners',
      'owners_spec_key_teams',
      'owners_spec_teams',
    ]);
    expect(ownerTablesOf(keys, { name: 'x', expiresAt: IsNull() })).toEqual([]);
  });

  it('lists the key table itself when a relation leads back to it', () => {
    expect(ownerTablesOf(keys, { parent: { revokedAt: IsNull() } })).toEqual([
      { table: 'owners_spec_keys', columns: ['id', 'parent_id', 'partner_id', 'revoked_at'] },
    ]);
  });

  it("refuses a condition on the key's last_used_at, whose writes are not notified", () => {
    expect(() => ownerTablesOf(keys, { lastUsedAt: MoreThan(new Date(0)) })).toThrow(
      ApiKeyConfigurationError,
    );
    expect(() => ownerTablesOf(keys, { lastUsedAt: MoreThan(new Date(0)) })).toThrow(
      /last_used_at.*Fix: drop that condition/s,
    );
  });
});

describe('findRawCondition', () => {
  it('finds Raw alone, inside Not, And and an OR array, and nothing else', () => {
    const raw = Raw((alias) => `${alias} > NOW()`);
    expect(findRawCondition({ partner: { paidUntil: raw } }, 'usableWhere')).toBe(
      'usableWhere.partner.paidUntil',
    );
    expect(findRawCondition({ a: Not(Raw('1 = 1')) }, 'w')).toBe('w.a');
    expect(findRawCondition({ a: And(MoreThan(1), raw) }, 'w')).toBe('w.a');
    expect(findRawCondition([{ a: 1 }, { b: { c: raw } }], 'w')).toBe('w[1].b.c');
    expect(findRawCondition({ a: Not(IsNull()), b: { c: MoreThan(new Date()) } }, 'w')).toBe(null);
    expect(findRawCondition(undefined, 'w')).toBe(null);
  });
});
