import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { AbstractApiKey } from '../api-key.entity.js';
import {
  API_KEY_REVOKED_EVENT,
  deliverEvent,
  findEventBus,
  type ApiKeyEventBus,
} from '../api-key.events.js';
import { API_KEY_ADMIN_OPTIONS, type ResolvedApiKeyAdminOptions } from './admin.options.js';

/**
 * What happened to a key through the admin page or API.
 *
 * @publicApi
 */
export type ApiKeyAdminEventType = 'created' | 'updated' | 'revoked' | 'rotated';

/**
 * An audit event. It never carries the key or its hash.
 *
 * @publicApi
 */
export interface ApiKeyAdminEvent {
  type: ApiKeyAdminEventType;
  /** The registration whose key it is. */
  registration: string;
  /** The key's id, prefix and name; for `rotated`, those of the new key. */
  id: string;
  prefix: string;
  name: string;
  /** The key's owner (`ownerColumn`), or `null` without one. */
  owner: string | null;
  /** Who acted (the `actor` option), or `null` when the request says nobody. */
  actor: string | null;
  /** When it happened, by the registration's clock. */
  at: Date;
  /**
   * For `revoked`: `'admin'`, which tells it apart from the service's own revocations emitted
   * under the same name (`ApiKeyRevokedEvent`, whose `reason` is `'dormant'`).
   */
  reason?: 'admin';
  /** For `updated`: the fields changed. */
  changes?: string[];
  /** For `rotated`: the key it replaces, which works until `previous.expiresAt`. */
  previous?: { id: string; prefix: string; expiresAt: Date | null; revoked: boolean };
}

/**
 * Names the events are emitted under with `@nestjs/event-emitter`, e.g.
 * `@OnEvent(API_KEY_ADMIN_EVENTS.revoked)`; `api-key.*` catches them all with wildcards on.
 *
 * @publicApi
 */
export const API_KEY_ADMIN_EVENTS: Readonly<Record<ApiKeyAdminEventType, string>> = {
  created: 'api-key.created',
  updated: 'api-key.updated',
  revoked: API_KEY_REVOKED_EVENT,
  rotated: 'api-key.rotated',
};

/**
 * Sends audit events to the `onEvent` listener and to the app's `EventEmitter2`, when it has
 * `@nestjs/event-emitter` (an optional peer, loaded only if installed and its module imported).
 */
@Injectable()
export class ApiKeyAdminEvents implements OnModuleInit {
  private readonly logger = new Logger('ApiKeyAdmin');
  private emitter: ApiKeyEventBus | null = null;

  constructor(
    @Inject(API_KEY_ADMIN_OPTIONS) private readonly options: ResolvedApiKeyAdminOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** Finds the app's `EventEmitter2`, if it has one. */
  async onModuleInit(): Promise<void> {
    this.emitter = await findEventBus(this.moduleRef);
  }

  /** The event of `apiKey`, as of `at`, without the secret. */
  describe(
    type: ApiKeyAdminEventType,
    apiKey: AbstractApiKey,
    context: { actor: string | null; at: Date },
  ): ApiKeyAdminEvent {
    const column = this.options.ownerColumn;
    const owner = column ? (apiKey as unknown as Record<string, unknown>)[column] : null;
    return {
      type,
      registration: this.options.registration,
      id: apiKey.id,
      prefix: apiKey.prefix,
      name: apiKey.name,
      owner: owner == null ? null : String(owner),
      actor: context.actor,
      at: context.at,
      ...(type === 'revoked' ? { reason: 'admin' as const } : {}),
    };
  }

  /** Delivers an event. A failing listener is logged; the change it reports has been made. */
  async emit(event: ApiKeyAdminEvent): Promise<void> {
    try {
      await deliverEvent(
        this.emitter,
        API_KEY_ADMIN_EVENTS[event.type],
        event,
        this.options.onEvent,
      );
    } catch (error) {
      this.logger.error(
        `An API key ${event.type} event listener failed for key ${event.prefix}: ${(error as Error)?.message}`,
      );
    }
  }
}
