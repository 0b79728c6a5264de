import type { ModuleRef } from '@nestjs/core';
import type { AbstractApiKey } from './api-key.entity.js';

/**
 * Anything with `emit(name, payload)`: `EventEmitter2` as `@nestjs/event-emitter` provides it.
 *
 * @publicApi
 */
export interface ApiKeyEventBus {
  emit(name: string, payload: unknown): unknown;
}

/**
 * The app's `EventEmitter2`, or `null` when `@nestjs/event-emitter` (an optional peer, loaded
 * only here) is not installed or its module is not imported. Every part of this package that
 * emits events finds its bus this way.
 */
export async function findEventBus(moduleRef: ModuleRef): Promise<ApiKeyEventBus | null> {
  let token: unknown;
  try {
    token = (await import('@nestjs/event-emitter')).EventEmitter2;
  } catch {
    return null; // not installed: listeners given as options are the only way out
  }
  try {
    return moduleRef.get(token as any, { strict: false });
  } catch {
    return null; // installed, but EventEmitterModule not imported
  }
}

/**
 * Emits `event` under `name` on the bus, if there is one, then hands it to `listener`.
 *
 * @throws whatever the listener throws: callers decide whether a failing listener matters
 */
export async function deliverEvent<E>(
  bus: ApiKeyEventBus | null,
  name: string,
  event: E,
  listener?: (event: E) => void | Promise<void>,
): Promise<void> {
  bus?.emit(name, event);
  await listener?.(event);
}

/**
 * Name of the event emitted on `@nestjs/event-emitter`'s bus for each key revoked, by the
 * admin API as by `revokeDormant()`: `@OnEvent(API_KEY_REVOKED_EVENT)`. Its `reason` tells the two
 * apart: `'admin'` (an `ApiKeyAdminEvent`) or `'dormant'` (an `ApiKeyRevokedEvent`).
 *
 * @publicApi
 */
export const API_KEY_REVOKED_EVENT = 'api-key.revoked';

/**
 * Why a key was revoked by the library itself. `dormant`: `revokeDormant()` found it unused.
 *
 * @publicApi
 */
export type ApiKeyRevocationReason = 'dormant';

/**
 * A key revoked by the service for a `reason`. It never carries the key or its hash.
 *
 * @publicApi
 */
export interface ApiKeyRevokedEvent {
  type: 'revoked';
  reason: ApiKeyRevocationReason;
  /** The ApiKeyModule registration the key belongs to. */
  registration: string;
  id: string;
  prefix: string;
  name: string;
  /** The entity's own columns, such as its owner's (`{ partnerId: 42 }`), to tell whom it was. */
  columns: Record<string, unknown>;
  /** When it was revoked, by the registration's clock. */
  at: Date;
  /** When the key was last used, or `null` if never. */
  lastUsedAt: Date | null;
}

/** The event of a key revoked for `reason` at `at`: its public fields and `columns`, no secret. */
export function revokedEvent(
  apiKey: AbstractApiKey,
  context: { registration: string; reason: ApiKeyRevocationReason; at: Date },
  columns: Record<string, unknown>,
): ApiKeyRevokedEvent {
  return {
    type: 'revoked',
    reason: context.reason,
    registration: context.registration,
    id: apiKey.id,
    prefix: apiKey.prefix,
    name: apiKey.name,
    columns,
    at: context.at,
    lastUsedAt: apiKey.lastUsedAt,
  };
}
