import { SetMetadata } from '@nestjs/common';

/** Metadata key written by `@SkipApiKeyUsage()`. @publicApi */
export const API_KEY_SKIP_USAGE_METADATA = 'api_key:skip_usage';

/**
 * Lets a route (or a whole controller) accept usage-limited keys without spending their credits,
 * even keys with none left: for health, metadata or "how many credits have I left" routes. The
 * key is still checked in every other way (revoked, disabled, expired, IP allow-list, scopes).
 * `@SkipApiKeyUsage(false)` on a method spends again inside such a controller.
 *
 * @example
 * ```ts
 * @SkipApiKeyUsage()
 * @Get('usage')
 * usage(@CurrentApiKey() apiKey: ApiKey) { return { remaining: apiKey.remaining }; }
 * ```
 * @publicApi
 */
export function SkipApiKeyUsage(skip = true): MethodDecorator & ClassDecorator {
  return SetMetadata(API_KEY_SKIP_USAGE_METADATA, skip);
}
