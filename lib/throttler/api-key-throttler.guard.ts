import { Injectable, type ExecutionContext, type Type } from '@nestjs/common';
import {
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerRequest,
} from '@nestjs/throttler';
import { API_KEY_REQUEST_PROPERTY } from '../api-key.constants.js';
import type { AbstractApiKey } from '../api-key.entity.js';
import { UsageAnalytics } from '../usage/analytics.js';

/** A key's own limit for one throttler, overriding the route's and the module's. */
export interface ApiKeyRateLimit {
  /** Requests allowed per `ttl`. */
  limit: number;
  /** The window, in milliseconds. */
  ttl: number;
  /** How long the key is refused once over the limit, in milliseconds; default `ttl`. */
  blockDuration?: number;
}

/**
 * The column a custom key entity adds to carry its own limits, by throttler name (`default` for
 * an unnamed throttler): `@Column({ name: 'rate_limits', type: 'simple-json', nullable: true })`.
 */
export interface ApiKeyWithRateLimits extends AbstractApiKey {
  rateLimits?: Record<string, ApiKeyRateLimit> | null;
}

/**
 * `@nestjs/throttler`'s guard, counting per API key: a request that an API key guard let in is
 * tracked by its key's id, so every client of one key shares one budget wherever it calls from,
 * and a key's own `rateLimits` replace the route's `@Throttle()` limits. A request without a key
 * (an open route, or one let in by an `@AllowApiKeyOr()` alternative) is tracked as the
 * throttler module would track it (its `getTracker`, the client IP by default). Storage, headers,
 * `@SkipThrottle()` and the 429 with `Retry-After` are the throttler's own.
 *
 * It reads the key the API key guard put on the request, so list it AFTER that guard:
 * `@UseGuards(ApiKeyGuard, ApiKeyThrottlerGuard)`, or provide both as `APP_GUARD` in that order.
 * Keys are never verified twice, and a refused key is answered 401 before any counting.
 *
 * @publicApi
 */
@Injectable()
export class ApiKeyThrottlerGuard extends ThrottlerGuard {
  /**
   * A guard counting by owner instead of by key: every key whose `ownerColumn` holds the same
   * value (`partnerId`, say) shares one budget, in memory or in Redis alike, so issuing more
   * keys does not raise an owner's limit. A key without an owner is counted by itself. List it
   * after the key guard, as this one: `@UseGuards(ApiKeyGuard, PartnerThrottlerGuard)`.
   *
   * @example
   * ```ts
   * export const PartnerThrottlerGuard = ApiKeyThrottlerGuard.byOwner('partnerId');
   * ```
   * @param ownerColumn the key entity's property holding its owner
   * @publicApi
   */
  static byOwner(ownerColumn: string): Type<ApiKeyThrottlerGuard> {
    @Injectable()
    class ApiKeyOwnerThrottlerGuard extends ApiKeyThrottlerGuard {
      protected override trackerOf(apiKey: AbstractApiKey): string {
        const owner = (apiKey as unknown as Record<string, unknown>)[ownerColumn];
        // Owners' ids and key ids share no name space: the column is part of the tracker.
        return owner == null || owner === ''
          ? super.trackerOf(apiKey)
          : `api-key-owner:${ownerColumn}:${String(owner)}`;
      }
    }
    Object.defineProperty(ApiKeyOwnerThrottlerGuard, 'name', {
      value: `ApiKeyThrottlerGuard(by ${ownerColumn})`,
    });
    return ApiKeyOwnerThrottlerGuard;
  }

  /** Counts the request under its key, with the key's own limit when it has one. */
  protected override async handleRequest(requestProps: ThrottlerRequest): Promise<boolean> {
    const apiKey = this.getApiKey(requestProps.context);
    if (!apiKey) return super.handleRequest(requestProps);
    const own = this.limitFor(
      apiKey,
      requestProps.throttler.name ?? 'default',
      requestProps.context,
    );
    const tracker = this.trackerOf(apiKey);
    return super.handleRequest({
      ...requestProps,
      ...(own && { limit: own.limit, ttl: own.ttl, blockDuration: own.blockDuration ?? own.ttl }),
      getTracker: () => tracker,
    });
  }

  /**
   * Refuses the request with the throttler's 429; a request of a key is counted as
   * `rate_limited` in usage analytics (instead of the `ok` its key guard counted).
   */
  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const apiKey = this.getApiKey(context);
    if (apiKey) UsageAnalytics.refusedAfterGuard(apiKey, 'rate_limited');
    return super.throwThrottlingException(context, detail);
  }

  /** The key an API key guard verified for this request, or `undefined` when none did. */
  protected getApiKey(context: ExecutionContext): AbstractApiKey | undefined {
    const request = this.getRequestResponse(context).req;
    return request?.[API_KEY_REQUEST_PROPERTY] ?? undefined;
  }

  /**
   * The name a key's hits are counted under: its id, which never changes (not its prefix, which
   * rotation changes). Key ids are random UUIDs, unique across registrations too.
   */
  protected trackerOf(apiKey: AbstractApiKey): string {
    return `api-key:${apiKey.id}`;
  }

  /**
   * A key's own limit for one throttler, or `undefined` for the route's: read from the key's
   * `rateLimits` column (see `ApiKeyWithRateLimits`). Override to read limits from elsewhere,
   * e.g. a plan the key belongs to.
   *
   * @param throttler the throttler's name, `default` for an unnamed one
   */
  protected limitFor(
    apiKey: AbstractApiKey,
    throttler: string,
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    context: ExecutionContext,
  ): ApiKeyRateLimit | undefined {
    const own = (apiKey as ApiKeyWithRateLimits).rateLimits?.[throttler];
    return own && Number.isFinite(own.limit) && Number.isFinite(own.ttl) ? own : undefined;
  }
}
