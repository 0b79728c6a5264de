import 'reflect-metadata';
import { Column, DataSource, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbstractApiKey } from '../api-key.entity.js';
import { runStatements } from '../schema/sql.js';
import {
  dropOwnerTriggerStatements,
  hasOwnerTrigger,
  ownerTriggerName,
  ownerTriggerStatements,
} from './owner-triggers.js';
import { createApiKeyNotifyMigration } from './migration.js';
import { changeTriggerName, changeTriggerStatements, hasChangeTrigger } from './triggers.js';

const PARTNERS = { table: 'partners', columns: ['active', 'id'] };

describe('ownerTriggerStatements', () => {
  it('names the trigger apart from the key table one and from other key tables', () => {
    expect(ownerTriggerName('api_keys', 'partners')).toBe('api_keys_notify_owner_partners');
    expect(ownerTriggerName('api_keys', 'partners')).not.toBe(changeTriggerName('api_keys'));
    expect(ownerTriggerName('other_keys', 'partners')).not.toBe(
      ownerTriggerName('api_keys', 'partners'),
    );
  });

  it('shortens a name too long for PostgreSQL or MySQL, keeping it apart from its neighbours', () => {
    const long = 'organisation_partner_accounts_with_a_long_name';
    const name = ownerTriggerName('partner_api_keys', long);
    expect(`${name}_insert`.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^partner_api_keys_notify_owner_organisation_.*_[0-9a-f]{12}$/);
    expect(ownerTriggerName('partner_api_keys', `${long}s`)).not.toBe(name);
  });

  it("on PostgreSQL notifies the key table's channel with * after a change to a column read, an INSERT, a DELETE or a TRUNCATE", () => {
    const [fn, , truncate, , row] = ownerTriggerStatements('postgres', 'api_keys', PARTNERS);
    expect(fn).toContain(
      'IF TG_OP = \'UPDATE\' AND jsonb_build_array(OLD."active", OLD."id") = jsonb_build_array(NEW."active", NEW."id") THEN RETURN NULL',
    );
    expect(fn).toContain("pg_notify('api_keys_changes', '*')");
    expect(truncate).toContain('AFTER TRUNCATE ON "partners" FOR EACH STATEMENT');
    expect(row).toContain(
      'CREATE TRIGGER "api_keys_notify_owner_partners" AFTER INSERT OR UPDATE OR DELETE ON "partners" FOR EACH ROW',
    );
  });

  it("on MariaDB bumps the key table's counter, comparing the columns read as BINARY, the checked trigger last", () => {
    const statements = ownerTriggerStatements('mysql', 'api_keys', PARTNERS);
    expect(statements.filter((sql) => sql.startsWith('CREATE'))).toEqual([
      'CREATE TRIGGER `api_keys_notify_owner_partners_insert` AFTER INSERT ON `partners` FOR EACH ROW UPDATE `api_keys_changes` SET version = version + 1 WHERE id = 1',
      'CREATE TRIGGER `api_keys_notify_owner_partners_delete` AFTER DELETE ON `partners` FOR EACH ROW UPDATE `api_keys_changes` SET version = version + 1 WHERE id = 1',
      'CREATE TRIGGER `api_keys_notify_owner_partners` AFTER UPDATE ON `partners` FOR EACH ROW BEGIN IF NOT (BINARY OLD.`active` <=> BINARY NEW.`active` AND BINARY OLD.`id` <=> BINARY NEW.`id`) THEN UPDATE `api_keys_changes` SET version = version + 1 WHERE id = 1; END IF; END',
    ]);
    expect(dropOwnerTriggerStatements('mysql', 'api_keys', 'partners')).toHaveLength(3);
  });
});

@Entity('partners')
class Partner {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'boolean' })
  active!: boolean;

  @Column({ type: 'varchar', length: 50, default: '' })
  note!: string;
}

@Entity('partner_keys')
class PartnerKey extends AbstractApiKey {
  @ManyToOne(() => Partner)
  @JoinColumn({ name: 'partner_id' })
  partner!: Partner;
}

describe('owner triggers on SQLite', () => {
  let dataSource: DataSource;
  const version = async () =>
    (await dataSource.query('SELECT version FROM partner_keys_changes'))[0].version as number;
  const run = (sql: string, parameters: unknown[]) => dataSource.query(sql, parameters);

  beforeEach(async () => {
    dataSource = await new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      entities: [Partner, PartnerKey],
      synchronize: true,
    }).initialize();
  });
  afterEach(async () => {
    await dataSource.destroy();
  });

  it('bump the counter after an INSERT, a DELETE and an UPDATE of a column read, not of another', async () => {
    const runner = dataSource.createQueryRunner();
    await runStatements(runner, await changeTriggerStatements(runner, 'partner_keys'));
    await runStatements(runner, ownerTriggerStatements('sqlite', 'partner_keys', PARTNERS));
    await runner.release();
    await dataSource.query("INSERT INTO partners (id, active) VALUES ('p', 1)");
    expect(await version()).toBe(1);
    await dataSource.query("UPDATE partners SET note = 'unrelated' WHERE id = 'p'");
    await dataSource.query("UPDATE partners SET active = 1 WHERE id = 'p'");
    expect(await version()).toBe(1);
    await dataSource.query("UPDATE partners SET active = 0 WHERE id = 'p'");
    expect(await version()).toBe(2);
    await dataSource.query("DELETE FROM partners WHERE id = 'p'");
    expect(await version()).toBe(3);
  });

  it('count as missing when they do not compare every column now read', async () => {
    const runner = dataSource.createQueryRunner();
    await runStatements(runner, ownerTriggerStatements('sqlite', 'partner_keys', PARTNERS));
    await runner.release();
    expect(await hasOwnerTrigger(run, 'sqlite', 'partner_keys', PARTNERS)).toBe(true);
    const more = { table: 'partners', columns: ['active', 'id', 'note'] };
    expect(await hasOwnerTrigger(run, 'sqlite', 'partner_keys', more)).toBe(false);
    expect(await hasOwnerTrigger(run, 'sqlite', 'other_keys', PARTNERS)).toBe(false);
  });

  it('are made and dropped by createApiKeyNotifyMigration({ usableWhere })', async () => {
    const runner = dataSource.createQueryRunner();
    const migration = new (createApiKeyNotifyMigration({
      table: 'partner_keys',
      usableWhere: { partner: { active: true } },
    }))();
    try {
      await migration.up(runner);
      expect(await hasChangeTrigger(run, 'partner_keys', 'sqlite')).toBe(true);
      expect(await hasOwnerTrigger(run, 'sqlite', 'partner_keys', PARTNERS)).toBe(true);
      await migration.down!(runner);
      expect(await hasOwnerTrigger(run, 'sqlite', 'partner_keys', PARTNERS)).toBe(false);
      expect(await hasChangeTrigger(run, 'partner_keys', 'sqlite')).toBe(false);
    } finally {
      await runner.release();
    }
  });

  it('are refused by the migration when its data source lacks the key entity', async () => {
    const runner = dataSource.createQueryRunner();
    const migration = new (createApiKeyNotifyMigration({
      table: 'unknown_keys',
      usableWhere: { partner: { active: true } },
    }))();
    try {
      await expect(migration.down!(runner)).rejects.toThrow(
        /table "unknown_keys".*Fix: add the key entity/s,
      );
    } finally {
      await runner.release();
    }
  });
});
