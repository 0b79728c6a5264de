import { Controller, Get, UseGuards } from '@nestjs/common';
import { Throttle } from '@nestjs/throttler';
import { ApiKeyGuard, CurrentApiKey, type ApiKey } from '../lib/index.js';
import { ApiKeyThrottlerGuard } from '../lib/throttler/index.js';

/** 5 requests per 60 s per key: the key guard first, then the count under the key it verified. */
@Controller('limited')
@UseGuards(ApiKeyGuard, ApiKeyThrottlerGuard)
export class LimitedController {
  @Get()
  @Throttle({ default: { limit: 5, ttl: 60_000 } })
  limited(@CurrentApiKey() apiKey: ApiKey) {
    return { apiKey: { id: apiKey.id, prefix: apiKey.prefix }, limited: true };
  }
}
