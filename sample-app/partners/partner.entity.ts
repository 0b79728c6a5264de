import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A company that calls the API with keys of its own (`PartnerApiKey`). */
@Entity('partners')
export class Partner {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 100 })
  name!: string;

  /** Keys of an inactive partner are refused (the partner registration's `usableWhere`). */
  @Column({ type: Boolean, default: true })
  active!: boolean;
}
