import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { AbstractApiKey } from '../api-key.entity.js';
import { deliverEvent, findEventBus, type ApiKeyEventBus } from '../api-key.events.js';
import {
  API_KEY_ADMIN_EVENTS,
  API_KEY_ADMIN_OPTIONS,
  type ApiKeyAdminEvent,
  type ApiKeyAdminEventType,
  type ResolvedApiKeyAdminOptions,
} from './admin.options.js';

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
