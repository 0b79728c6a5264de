import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  Column,
  Entity,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  type DataSourceOptions,
} from 'typeorm';
import { AbstractApiKey, ApiKeyModule, HmacSha256ApiKeyHasher } from '../../lib/index.js';
import { ApiKeyAdminModule } from '../../lib/admin/index.js';
import { typeOrmFor } from '../support/scenario-app.js';
import { TestBasicGuard } from './admin.app.js';

/** An organisation: the owner of org keys, which reference it by a foreign key. */
@Entity('policy_orgs')
export class Org {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;
}

/** A key owned by an organisation, through a relation and a plain column on one database column. */
@Entity('policy_org_api_keys')
export class OrgApiKey extends AbstractApiKey {
  @ManyToOne(() => Org, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'org_id' })
  org!: Org;

  @Column({ name: 'org_id', type: 'varchar', length: 36 })
  orgId!: string;
}

/** The organisations the app has. */
export const ORGS = ['org-a', 'org-b'];

/** The owner policy of the self-service page. */
export const POLICY = {
  grantableScopes: ['orders:read', 'orders:write'],
  maxActiveKeys: 3,
  maxLifetime: '30d',
} as const;

const hasher = new HmacSha256ApiKeyHasher({ secret: 'admin-policy-secret-of-32-characters' });

/**
 * Org keys two ways: self-service at `org/keys`, owner-scoped (the org from `X-Org`) under
 * `POLICY`; every org's keys in admin mode at `ops/org-keys`, without a policy.
 */
@Module({})
export class AdminPolicyTestModule {
  static register(database: DataSourceOptions, clock: () => Date): DynamicModule {
    return {
      module: AdminPolicyTestModule,
      imports: [
        typeOrmFor(database),
        TypeOrmModule.forFeature([Org]),
        ApiKeyModule.forRoot<OrgApiKey>({ name: 'org', entity: OrgApiKey, hasher, clock }),
        ApiKeyAdminModule.forRoot({
          path: 'org/keys',
          guard: TestBasicGuard,
          registration: 'org',
          ownerColumn: 'orgId',
          owner: (request) => request.headers['x-org'],
          ownerPolicy: { ...POLICY, grantableScopes: [...POLICY.grantableScopes] },
        }),
        ApiKeyAdminModule.forRoot({
          path: 'ops/org-keys',
          guard: TestBasicGuard,
          registration: 'org',
          ownerColumn: 'orgId',
        }),
      ],
    };
  }
}
