import type { Logger } from '@nestjs/common';
import { IsNull, Not, type FindOptionsWhere, type Repository } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import type { ApiKeyEventBus } from '../api-key.events.js';

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

/**
 * Sets or clears `apiKey`'s `disabledAt`, conditional on the state read, so that of two callers
 * racing only one changes it (and announces it); enabling also on the key not being revoked
 * meanwhile, which the table's trigger refuses too.
 *
 * @returns whether this call changed the row
 */
export async function writeDisabled<T extends AbstractApiKey>(
  repository: Repository<T>,
  apiKey: T,
  disabled: boolean,
  at: Date,
): Promise<boolean> {
  const where = (
    disabled
      ? { id: apiKey.id, disabledAt: IsNull() }
      : { id: apiKey.id, disabledAt: Not(IsNull()), revokedAt: IsNull() }
  ) as FindOptionsWhere<T>;
  const result = await repository.update(where, { disabledAt: disabled ? at : null } as any);
  return result.affected !== 0;
}

/** Emits a key's suspension or resumption on the app's event bus, if it has one; never throws. */
export async function announceStatus(
  bus: Promise<ApiKeyEventBus | null>,
  event: ApiKeyStatusEvent,
  logger: Logger,
): Promise<void> {
  try {
    (await bus)?.emit(
      event.type === 'disabled' ? API_KEY_DISABLED_EVENT : API_KEY_ENABLED_EVENT,
      event,
    );
  } catch (error) {
    logger.warn(`An api-key.${event.type} listener failed: ${(error as Error)?.message}`);
  }
}
