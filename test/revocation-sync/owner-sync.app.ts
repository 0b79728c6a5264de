import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import {
  Column,
  Entity,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  type DataSource,
  type DataSourceOptions,
} from 'typeorm';
import { AbstractApiKey, ApiKeyModule } from '../../lib/index.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';
import { WriteController, type NotifyScenario } from './revocation-sync.app.js';

/** A key owner: its keys are refused while it is inactive. */
@Entity('owner_sync_partners')
export class Partner {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'boolean' })
  active!: boolean;

  /** A column `usableWhere` does not read. */
  @Column({ type: 'varchar', length: 100, default: '' })
  note!: string;
}

/**
 * A key of a partner. No foreign key constraint, so that deleting a partner leaves its keys in
 * place: only the owner's trigger can then tell the caches.
 */
@Entity('owner_sync_keys')
export class PartnerKey extends AbstractApiKey {
  @ManyToOne(() => Partner, { nullable: false, createForeignKeyConstraints: false })
  @JoinColumn({ name: 'partner_id' })
  partner!: Partner;

  @Column({ name: 'partner_id', type: 'varchar', length: 36 })
  partnerId!: string;
}

/** One notify-mode instance whose keys are usable only while their partner is active. */
export function ownerModeApp(database: DataSourceOptions, first: boolean): DynamicModule {
  @Module({
    imports: [
      typeOrmFor(database, { synchronize: first }),
      TypeOrmModule.forFeature([Partner]),
      ApiKeyModule.forRoot<PartnerKey>({
        entity: PartnerKey,
        revocationSync: 'notify',
        usableWhere: { partner: { active: true } },
      }),
    ],
    controllers: [keyPrefixController('who'), WriteController],
  })
  class OwnerModeModule {}
  return { module: OwnerModeModule };
}

/** Two instances of `ownerModeApp`; every key `warmKey` makes has an active partner of its own. */
export const OWNER_SCENARIO: NotifyScenario = {
  app: ownerModeApp,
  entities: [Partner],
  async keyFields(sql: DataSource) {
    const partner = await sql.getRepository(Partner).save({ id: randomUUID(), active: true });
    return { partner, partnerId: partner.id };
  },
};
