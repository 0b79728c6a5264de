import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  UseGuards,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import type { Repository } from 'typeorm';
import {
  ApiKeyService,
  CurrentApiKey,
  InjectApiKeyService,
  createApiKeyGuard,
} from '../../lib/index.js';
import { UserTokenGuard } from '../user-token.guard.js';
import { PartnerApiKey } from './partner-api-key.entity.js';
import { Partner } from './partner.entity.js';

/** Registration name of the partner key type: its own service, guard and table. */
export const PARTNER_KEYS = 'partner';

/** Lets in partner keys only; a key of the default type is refused here. */
export const PartnerApiKeyGuard = createApiKeyGuard<PartnerApiKey>(PARTNER_KEYS);

/** What a partner calls with its own key. */
@Controller('partner')
@UseGuards(PartnerApiKeyGuard)
export class PartnerOrdersController {
  constructor(@InjectRepository(Partner) private readonly partners: Repository<Partner>) {}

  @Get('orders')
  async orders(@CurrentApiKey() apiKey: PartnerApiKey) {
    const partner = await this.partners.findOneByOrFail({ id: apiKey.partnerId });
    return {
      partner: { id: partner.id, name: partner.name },
      apiKey: { id: apiKey.id, name: apiKey.name, prefix: apiKey.prefix },
      orders: [{ id: 'order-1', total: 42 }],
    };
  }
}

/** Onboarding, done by a logged-in user: create partners and their keys, deactivate partners. */
@Controller('partners')
@UseGuards(UserTokenGuard)
export class PartnersController {
  constructor(
    @InjectApiKeyService(PARTNER_KEYS) private readonly partnerKeys: ApiKeyService<PartnerApiKey>,
    @InjectRepository(Partner) private readonly partners: Repository<Partner>,
  ) {}

  /**
   * Creates a partner and its first key. The key is in this response only.
   *
   * @throws {BadRequestException} when `name` is not a string of 1 to 100 characters
   */
  @Post()
  async create(@Body() body: { name?: unknown } | undefined) {
    const name = body?.name;
    if (typeof name !== 'string' || name.trim() === '' || name.length > 100) {
      throw new BadRequestException('name must be a string of 1 to 100 characters.');
    }
    const partner = await this.partners.save(
      this.partners.create({ id: randomUUID(), name, active: true }),
    );
    const { apiKey, key } = await this.partnerKeys.create({
      name: `${name} orders`,
      scopes: ['orders:read'],
      partner,
      partnerId: partner.id,
    });
    return {
      partner: { id: partner.id, name: partner.name },
      apiKey: { id: apiKey.id, name: apiKey.name, prefix: apiKey.prefix },
      key,
    };
  }

  /**
   * Deactivates a partner: its keys are refused from the next request on (`usableWhere`).
   *
   * @throws {NotFoundException} when no partner has that id
   */
  @Post(':id/deactivate')
  @HttpCode(200)
  async deactivate(@Param('id') id: string) {
    const result = await this.partners.update({ id }, { active: false });
    if (!result.affected) throw new NotFoundException(`No partner has the id "${id}".`);
    return { id, active: false };
  }
}
