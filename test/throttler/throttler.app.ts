import { Controller, Get, Module, UseGuards, type DynamicModule } from '@nestjs/common';
import { Throttle, ThrottlerModule, type ThrottlerStorage } from '@nestjs/throttler';
import { Column, Entity } from 'typeorm';
import type { DataSourceOptions } from 'typeorm';
import { AbstractApiKey, ApiKeyGuard, ApiKeyModule, CurrentApiKey } from '../../lib/index.js';
import {
  ApiKeyThrottlerGuard,
  type ApiKeyRateLimit,
  type ApiKeyWithRateLimits,
} from '../../lib/throttler/index.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { typeOrmFor } from '../support/scenario-app.js';

/** A key type with a column for its own limits. */
@Entity('limited_api_keys')
export class LimitedApiKey extends AbstractApiKey implements ApiKeyWithRateLimits {
  @Column({ name: 'rate_limits', type: 'simple-json', nullable: true })
  rateLimits!: Record<string, ApiKeyRateLimit> | null;

  /** The partner the key belongs to, whose keys share one budget on `/per-owner`. */
  @Column({ name: 'owner_id', type: 'varchar', length: 36, nullable: true })
  ownerId!: string | null;
}

/** Counts by `ownerId`: all of one owner's keys share one budget. */
export const OwnerThrottlerGuard = ApiKeyThrottlerGuard.byOwner('ownerId');

/** The module's limit: 3 requests a minute. */
export const LIMIT = 3;

@Controller()
export class LimitedController {
  /** Key first, then the count: per key. */
  @Get('limited')
  @UseGuards(ApiKeyGuard, ApiKeyThrottlerGuard)
  limited(@CurrentApiKey() apiKey: LimitedApiKey) {
    return { key: apiKey.name };
  }

  /** A route limit of its own, which keys without their own limits get. */
  @Get('strict')
  @Throttle({ default: { limit: 1, ttl: 60_000 } })
  @UseGuards(ApiKeyGuard, ApiKeyThrottlerGuard)
  strict() {
    return { ok: true };
  }

  /** Key first, then the count: per owner. */
  @Get('per-owner')
  @UseGuards(ApiKeyGuard, OwnerThrottlerGuard)
  perOwner(@CurrentApiKey() apiKey: LimitedApiKey) {
    return { key: apiKey.name };
  }

  /** No key here: counted by the throttler's usual tracker (the client IP). */
  @Get('open')
  @UseGuards(ApiKeyThrottlerGuard)
  open() {
    return { ok: true };
  }
}

/** Per-key limits in `storage` (the throttler's in-memory storage when not given). */
@Module({})
export class ThrottlerAppModule {
  static register(database: DataSourceOptions, storage?: ThrottlerStorage): DynamicModule {
    return {
      module: ThrottlerAppModule,
      imports: [
        typeOrmFor(database),
        ApiKeyModule.forRoot({ entity: LimitedApiKey, hasher: FAST_BCRYPT }),
        ThrottlerModule.forRoot({ throttlers: [{ ttl: 60_000, limit: LIMIT }], storage }),
      ],
      controllers: [LimitedController],
    };
  }
}
