import type { AbstractApiKey } from '../api-key.entity.js';

/**
 * Name of the event emitted on `@nestjs/event-emitter`'s bus when a key is suspended
 * (`ApiKeyService.disable()`): `@OnEvent(API_KEY_DISABLED_EVENT)`, with an `ApiKeyStatusEvent`.
 *
 * @publicApi
 */
export const API_KEY_DISABLED_EVENT = 'api-key.disabled';

/**
 * Name of the event emitted when a suspended key is resumed (`ApiKeyService.enable()`).
 *
 * @publicApi
 */
export const API_KEY_ENABLED_EVENT = 'api-key.enabled';

/**
 * A key suspended or resumed. It never carries the key or its hash.
 *
 * @publicApi
 */
export interface ApiKeyStatusEvent {
  type: 'disabled' | 'enabled';
  /** The ApiKeyModule registration the key belongs to. */
  registration: string;
  id: string;
  prefix: string;
  name: string;
  /** When it happened, by the registration's clock. */
  at: Date;
}

/** The event of `apiKey` suspended or resumed at `at`. */
export function statusEvent(
  apiKey: AbstractApiKey,
  type: ApiKeyStatusEvent['type'],
  registration: string,
  at: Date,
): ApiKeyStatusEvent {
  return { type, registration, id: apiKey.id, prefix: apiKey.prefix, name: apiKey.name, at };
}
