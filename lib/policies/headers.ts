import type { AbstractApiKey } from '../api-key.entity.js';
import { refillPeriodStart } from './credits.js';

/**
 * The name under which the `RateLimit` response field (IETF draft-ietf-httpapi-ratelimit-headers)
 * reports a usage-limited key's credits: `RateLimit: "api-key-credits";r=41`.
 *
 * @publicApi
 */
export const API_KEY_CREDITS_POLICY = 'api-key-credits';

/** The `RateLimit` field value telling what is left of a key's credits. */
export function creditsHeader(remaining: number): string {
  return `"${API_KEY_CREDITS_POLICY}";r=${Math.max(0, remaining)}`;
}

/** Seconds until a spent key's next refill, for `Retry-After`; `null` when it has no refill. */
export function secondsToRefill(apiKey: AbstractApiKey, now: Date): number | null {
  if (apiKey.refillInterval == null || apiKey.refillAmount == null) return null;
  const start = refillPeriodStart(apiKey.refillInterval, now);
  const next =
    apiKey.refillInterval === 'day'
      ? Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 1)
      : Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}
