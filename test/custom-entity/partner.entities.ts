import { Column, Entity, JoinColumn, ManyToOne, OneToMany, PrimaryColumn } from 'typeorm';
import { AbstractApiKey } from '../../lib/index.js';

/** An organisation that calls the API; DRF API Key's `Hero`/`Organization`. */
@Entity('partners')
export class Partner {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 100 })
  name!: string;

  /** Keys of an inactive partner are refused (the `usableWhere` of the registration). */
  @Column({ type: 'boolean' })
  active!: boolean;

  @OneToMany(() => PartnerApiKey, (key) => key.partner)
  apiKeys!: PartnerApiKey[];
}

/** A key owned by a partner, in its own table: DRF API Key's `HeroAPIKey`. */
@Entity('partner_api_keys')
export class PartnerApiKey extends AbstractApiKey {
  @ManyToOne(() => Partner, (partner) => partner.apiKeys, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'partner_id' })
  partner!: Partner;

  @Column({ name: 'partner_id', type: 'varchar', length: 36 })
  partnerId!: string;
}
