import 'reflect-metadata';
import type { Logger } from '@nestjs/common';
import { Column, DataSource, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { hasOwnerTrigger } from './owner-triggers.js';
import { ensureChangeTrigger } from './setup.js';

@Entity('setup_spec_partners')
class Partner {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'boolean' })
  active!: boolean;

  @Column({ type: 'varchar', length: 20, default: 'free' })
  tier!: string;
}

@Entity('setup_spec_keys')
class PartnerKey extends AbstractApiKey {
  @ManyToOne(() => Partner)
  @JoinColumn({ name: 'partner_id' })
  partner!: Partner;
}

describe('ensureChangeTrigger with usableWhere', () => {
  let dataSource: DataSource;
  const logger = { log: vi.fn() } as unknown as Logger & { log: ReturnType<typeof vi.fn> };
  const run = (sql: string, parameters: unknown[]) => dataSource.query(sql, parameters);
  const ensure = (usableWhere: object) =>
    ensureChangeTrigger(
      dataSource.getRepository(PartnerKey),
      { revocationSync: 'notify', usableWhere },
      logger,
    );

  beforeEach(async () => {
    logger.log.mockClear();
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

  it('creates the owner trigger once, and again when usableWhere reads a column it does not compare', async () => {
    await ensure({ partner: { active: true } });
    expect(logger.log).toHaveBeenCalledTimes(2);
    await ensure({ partner: { active: true } });
    expect(logger.log).toHaveBeenCalledTimes(2);
    const tiered = { table: 'setup_spec_partners', columns: ['active', 'id', 'tier'] };
    expect(await hasOwnerTrigger(run, 'sqlite', 'setup_spec_keys', tiered)).toBe(false);
    await ensure({ partner: { active: true, tier: 'gold' } });
    expect(logger.log).toHaveBeenCalledTimes(3);
    expect(await hasOwnerTrigger(run, 'sqlite', 'setup_spec_keys', tiered)).toBe(true);
  });

  it('refuses to boot, naming the migration, when an owner trigger cannot be created', async () => {
    await dataSource.query('DROP TABLE setup_spec_partners');
    const booting = ensure({ partner: { active: true } });
    await expect(booting).rejects.toThrow(ApiKeyConfigurationError);
    await expect(ensure({ partner: { active: true } })).rejects.toThrow(
      /table "setup_spec_partners", read by usableWhere, has no trigger "setup_spec_keys_notify_owner_setup_spec_partners".*Fix: add createApiKeyNotifyMigration\(\{ table: 'setup_spec_keys', usableWhere: /s,
    );
  });
});
