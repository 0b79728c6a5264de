import { randomUUID } from 'node:crypto';
import {
  Controller,
  ForbiddenException,
  Get,
  Injectable,
  Module,
  Param,
  UseGuards,
  type DynamicModule,
} from '@nestjs/common';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions, Repository } from 'typeorm';
import {
  ApiKeyModule,
  ApiKeyService,
  CurrentApiKey,
  InjectApiKeyService,
  createApiKeyGuard,
  type CreatedApiKey,
} from '../../lib/index.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';
import { Partner, PartnerApiKey } from './partner.entities.js';

/** The guard of the `partner` registration: only `PartnerApiKey` rows are looked at. */
export const PartnerApiKeyGuard = createApiKeyGuard<PartnerApiKey>('partner');

/** Onboards partners and issues their keys, as an app's own service would. */
@Injectable()
export class PartnerKeys {
  constructor(
    @InjectApiKeyService('partner') private readonly keys: ApiKeyService<PartnerApiKey>,
    @InjectRepository(Partner) private readonly partners: Repository<Partner>,
  ) {}

  async onboard(name: string): Promise<Partner> {
    return this.partners.save(this.partners.create({ id: randomUUID(), name, active: true }));
  }

  issue(partner: Partner): Promise<CreatedApiKey<PartnerApiKey>> {
    return this.keys.create({ name: `${partner.name} integration`, partner });
  }

  async setActive(partner: Partner, active: boolean): Promise<void> {
    await this.partners.update({ id: partner.id }, { active });
  }
}

@Controller('partner')
@UseGuards(PartnerApiKeyGuard)
export class PartnerController {
  constructor(@InjectRepository(Partner) private readonly partners: Repository<Partner>) {}

  @Get('me')
  me(@CurrentApiKey() apiKey: PartnerApiKey) {
    return { prefix: apiKey.prefix, partnerId: apiKey.partnerId };
  }

  /** A per-object check on top of the guard, DRF's `check_object_permissions` view (behaviour 39). */
  @Get('partners/:id')
  async partner(@CurrentApiKey() apiKey: PartnerApiKey, @Param('id') id: string) {
    if (id !== apiKey.partnerId) throw new ForbiddenException('Not your partner account.');
    const partner = await this.partners.findOneByOrFail({ id });
    return { id: partner.id, name: partner.name };
  }
}

/** Two key types side by side: the built-in `ApiKey`, and `PartnerApiKey` owned by a `Partner`. */
@Module({})
export class CustomEntityAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: CustomEntityAppModule,
      imports: [
        typeOrmFor(database),
        TypeOrmModule.forFeature([Partner]),
        // The hashers are not under test here; cost 4 keeps three engines fast.
        ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
        ApiKeyModule.forRoot({
          name: 'partner',
          entity: PartnerApiKey,
          usableWhere: { partner: { active: true } },
          hasher: FAST_BCRYPT,
        }),
      ],
      controllers: [PartnerController, keyPrefixController('default')],
      providers: [PartnerKeys],
    };
  }
}
