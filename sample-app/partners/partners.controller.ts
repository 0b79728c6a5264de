import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Header,
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
  ApiKeyValidationError,
  CurrentApiKey,
  InjectApiKeyService,
  createApiKeyGuard,
} from '../../lib/index.js';
import { UserTokenGuard } from '../user-token.guard.js';
import { PartnerApiKey } from './partner-api-key.entity.js';
import { Partner } from './partner.entity.js';

/** NUL (which PostgreSQL's text cannot hold) and the other controls: never part of a name. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL_CHARACTERS = /[\x00-\x1f\x7f-\x9f]/;

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
   * Creates a partner and its first key. The key is in this response only. Nothing is kept
   * when either write fails: the partner is removed again if its key cannot be made.
   *
   * @throws {BadRequestException} when `name` is not a string of 1 to 93 characters (its key
   *   is named after it, and key names hold at most 100) without control characters
   */
  @Post()
  // The answer holds a live key: no cache along the way may keep it.
  @Header('Cache-Control', 'no-store')
  async create(@Body() body: { name?: unknown } | undefined) {
    const name = body?.name;
    // Checked before any use as text: an object's own toString could be anything.
    if (
      typeof name !== 'string' ||
      name.trim() === '' ||
      `${name} orders`.length > 100 ||
      CONTROL_CHARACTERS.test(name)
    ) {
      throw new BadRequestException(
        `name must be a string of 1 to ${100 - ' orders'.length} characters, without control characters.`,
      );
    }
    const keyName = `${name} orders`;
    const partner = await this.partners.save(
      this.partners.create({ id: randomUUID(), name, active: true }),
    );
    try {
      const { apiKey, key } = await this.partnerKeys.create({
        name: keyName,
        scopes: ['orders:read'],
        partner,
        partnerId: partner.id,
      });
      return {
        partner: { id: partner.id, name: partner.name },
        apiKey: { id: apiKey.id, name: apiKey.name, prefix: apiKey.prefix },
        key,
      };
    } catch (error) {
      await this.partners.delete({ id: partner.id });
      if (error instanceof ApiKeyValidationError) throw new BadRequestException(error.message);
      throw error;
    }
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
