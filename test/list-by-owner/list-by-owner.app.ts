import { Controller, Get, Module, Query, UseGuards, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import {
  ApiKeyModule,
  ApiKeyService,
  CurrentApiKey,
  InjectApiKeyService,
  createApiKeyGuard,
} from '../../lib/index.js';
import { Partner, PartnerApiKey } from '../custom-entity/partner.entities.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { typeOrmFor } from '../support/scenario-app.js';

/** A partner's self-service page: the keys of the partner whose key calls it, and no other's. */
@Controller('partner/keys')
@UseGuards(createApiKeyGuard<PartnerApiKey>('partner'))
export class OwnKeysController {
  constructor(
    @InjectApiKeyService('partner') private readonly keys: ApiKeyService<PartnerApiKey>,
  ) {}

  @Get()
  async list(@CurrentApiKey() caller: PartnerApiKey, @Query('all') all?: string) {
    const keys = await this.keys.list({
      where: { partnerId: caller.partnerId },
      activeOnly: all === undefined,
    });
    return keys.map((key) => ({ prefix: key.prefix, name: key.name, revoked: key.revoked }));
  }
}

/** Partner keys in their own table, listed by owner. */
@Module({})
export class ListByOwnerAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: ListByOwnerAppModule,
      imports: [
        typeOrmFor(database),
        TypeOrmModule.forFeature([Partner]),
        ApiKeyModule.forRoot({ name: 'partner', entity: PartnerApiKey, hasher: FAST_BCRYPT }),
      ],
      controllers: [OwnKeysController],
    };
  }
}
