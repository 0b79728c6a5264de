import type { Logger } from '@nestjs/common';
import {
  And,
  IsNull,
  LessThanOrEqual,
  MoreThan,
  type FindOptionsWhere,
  type Repository,
} from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import type { ApiKeyEventBus } from '../api-key.events.js';

/**
 * Name of the event emitted once per key, on `@nestjs/event-emitter`'s bus, when it will expire
 * within `expiryNotices.within`: `@OnEvent(API_KEY_EXPIRING_EVENT)`, with an `ApiKeyExpiringEvent`.
 *
 * @publicApi
 */
export const API_KEY_EXPIRING_EVENT = 'api-key.expiring';

/**
 * A key that will expire soon. It never carries the key or its hash.
 *
 * @publicApi
 */
export interface ApiKeyExpiringEvent {
  type: 'expiring';
  registration: string;
  id: string;
  prefix: string;
  name: string;
  expiresAt: Date;
  /** When the sweep found it, by the registration's clock. */
  at: Date;
}

/**
 * The `expiryNotices` option: `api-key.expiring` events from a periodic sweep, and an opt-in
 * response header with the key's expiry.
 *
 * @publicApi
 */
export interface ApiKeyExpiryNoticeOptions {
  /** How long before its expiry a key is announced, in ms. Default 7 days. */
  within?: number;
  /** Milliseconds between sweeps. Default 1 hour. */
  interval?: number;
  /**
   * Send `API-Key-Expiration: 2030-01-31 12:00:00 UTC` on every accepted request of a key with an
   * expiry, as GitHub sends `GitHub-Authentication-Token-Expiration`. Default `false`.
   */
  header?: boolean;
}

/** `expiryNotices` once resolved. */
export interface ResolvedExpiryNotices {
  within: number;
  interval: number;
  header: boolean;
}

/** The name of the response header carrying a key's expiry. @publicApi */
export const API_KEY_EXPIRATION_HEADER = 'API-Key-Expiration';

/** An instant as GitHub writes token expiries: `2030-01-31 12:00:00 UTC`. */
export function expirationHeaderValue(expiresAt: Date): string {
  return `${expiresAt.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * Finds usable keys expiring within the window and announces each once, across instances: a key
 * is announced by the instance whose conditional `UPDATE … SET expiry_notified_at = now WHERE
 * id = ? AND expiry_notified_at IS NULL` changed its row, and no other. `update()` of a key's
 * expiry clears the mark, so a key given a new expiry is announced again before that one.
 */
export class ApiKeyExpirySweep<T extends AbstractApiKey> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  /**
   * @param registration the registration's name and clock
   * @param eventBus the app's event bus, if it has one
   */
  constructor(
    private readonly options: ResolvedExpiryNotices,
    private readonly registration: { name: string; clock: () => Date },
    private readonly repository: Repository<T>,
    private readonly logger: Logger,
    private readonly eventBus: () => Promise<ApiKeyEventBus | null>,
  ) {}

  /** Sweeps every `interval`, the first time now; the timer does not keep the process alive. */
  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.running ??= this.sweep()
        .catch((error: unknown) =>
          this.logger.warn(`The expiring-key sweep failed: ${(error as Error)?.message}`),
        )
        .finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(tick, this.options.interval);
    this.timer.unref();
  }

  /** Stops sweeping, once the sweep under way is done. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /**
   * One sweep: announces, and returns, the keys this instance was first to mark.
   *
   * @throws whatever the driver throws when the table cannot be read or written
   */
  async sweep(): Promise<T[]> {
    const { repository } = this;
    const now = this.registration.clock();
    const until = new Date(now.getTime() + this.options.within);
    const due = await repository.find({
      where: {
        revokedAt: IsNull(),
        expiryNotifiedAt: IsNull(),
        expiresAt: And(MoreThan(now), LessThanOrEqual(until)),
      } as FindOptionsWhere<T>,
    });
    const announced: T[] = [];
    for (const apiKey of due) {
      const marked = await repository.update(
        { id: apiKey.id, expiryNotifiedAt: IsNull() } as FindOptionsWhere<T>,
        { expiryNotifiedAt: now } as any,
      );
      if (marked.affected !== 1) continue;
      announced.push(apiKey);
      await this.announce(apiKey, now);
    }
    return announced;
  }

  private async announce(apiKey: T, at: Date): Promise<void> {
    const event: ApiKeyExpiringEvent = {
      type: 'expiring',
      registration: this.registration.name,
      id: apiKey.id,
      prefix: apiKey.prefix,
      name: apiKey.name,
      expiresAt: apiKey.expiresAt!,
      at,
    };
    try {
      (await this.eventBus())?.emit(API_KEY_EXPIRING_EVENT, event);
    } catch (error) {
      this.logger.warn(`An api-key.expiring listener failed: ${(error as Error)?.message}`);
    }
  }
}
