import type { Logger } from '@nestjs/common';
import type { Repository } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyNotFoundError, ApiKeyValidationError } from '../api-key.errors.js';
import type { ApiKeyEventBus } from '../api-key.events.js';
import type { ResolvedApiKeyOptions } from '../api-key.options.js';
import type { ApiKeyRows } from '../store/rows.js';
import { announceStatus, statusEvent, writeDisabled } from './events.js';

/** What suspending and resuming keys needs of the service. */
export interface ApiKeySuspensionContext<T extends AbstractApiKey> {
  repository: Repository<T>;
  options: ResolvedApiKeyOptions<T>;
  rows: ApiKeyRows<T>;
  logger: Logger;
  /** The app's event bus, looked for once. */
  bus: () => Promise<ApiKeyEventBus | null>;
  findOne: (idOrPrefix: string) => Promise<T | null>;
  /** Drops what this process remembers of a key, so the change applies at once. */
  forget: (apiKey: T) => void;
}

/** `ApiKeyService.disable()` and `enable()`: sets or clears a key's `disabledAt`, and announces it. */
export class ApiKeySuspension<T extends AbstractApiKey> {
  constructor(private readonly context: ApiKeySuspensionContext<T>) {}

  /**
   * Suspends (`disabled`) or resumes a key, as `disable()` and `enable()` document.
   *
   * @throws {ApiKeyNotFoundError} if no key has that id or prefix
   * @throws {ApiKeyValidationError} when enabling a revoked key
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async set(idOrPrefix: string, disabled: boolean): Promise<T> {
    const { repository, options, rows, logger } = this.context;
    const apiKey = await this.context.findOne(idOrPrefix);
    if (!apiKey) throw new ApiKeyNotFoundError(idOrPrefix);
    if (!disabled && apiKey.revoked)
      throw new ApiKeyValidationError(
        `API key ${apiKey.prefix} is revoked; revocation is final, it cannot be enabled.`,
      );
    this.context.forget(apiKey);
    if (apiKey.disabled === disabled) return apiKey;
    const at = options.clock();
    const changed = await rows.run(`${disabled ? 'disable' : 'enable'} an API key`, () =>
      writeDisabled(repository, apiKey, disabled, at),
    );
    const updated = (await this.context.findOne(apiKey.id)) as T;
    const type = disabled ? 'disabled' : 'enabled';
    if (changed)
      void announceStatus(this.context.bus(), statusEvent(updated, type, options.name, at), logger);
    return updated;
  }
}
