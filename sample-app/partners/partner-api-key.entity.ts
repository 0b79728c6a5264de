import { Column, Entity, JoinColumn, ManyToOne } from 'typeorm';
import { AbstractApiKey } from '../../lib/index.js';
import { Partner } from './partner.entity.js';

/** A second key type, owned by a partner and stored in its own table. */
@Entity('partner_api_keys')
export class PartnerApiKey extends AbstractApiKey {
  @ManyToOne(() => Partner, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'partner_id' })
  partner!: Partner;

  /** The owner's id, readable without loading the relation. */
  @Column({ name: 'partner_id', type: 'varchar', length: 36 })
  partnerId!: string;
}
