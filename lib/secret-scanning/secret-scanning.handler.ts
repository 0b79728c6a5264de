import { hash } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  PayloadTooLargeException,
  ServiceUnavailableException,
  UnauthorizedException,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { DEFAULT_API_KEY_NAME } from '../api-key.constants.js';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError, ApiKeyStoreUnavailableError } from '../api-key.errors.js';
import { deliverEvent, findEventBus, type ApiKeyEventBus } from '../api-key.events.js';
import { getApiKeyServiceToken, type ApiKeyService } from '../api-key.service.js';
import {
  API_KEY_LEAKED_EVENT,
  SECRET_SCANNING_OPTIONS,
  type ApiKeyLeakedEvent,
  type SecretScanningOptions,
} from './secret-scanning.options.js';
import {
  GITHUB_SECRET_SCANNING_KEYS_URL,
  SecretScanningPublicKeys,
} from './secret-scanning.public-keys.js';
import {
  parseLeakReport,
  type LeakReportEntry,
  type SecretScanningLabel,
} from './secret-scanning.report.js';

/**
 * Handles GitHub secret-scanning partner reports: checks the signature over the raw body,
 * then, for each reported token that is a live key of a configured registration, revokes it
 * (or leaves it, with `action: 'notify'`) and tells listeners. Tokens are never logged or echoed:
 * the answer names them by their SHA-256.
 */
@Injectable()
export class SecretScanningHandler implements OnModuleInit {
  protected readonly logger = new Logger('SecretScanning');
  private services: [string, ApiKeyService<AbstractApiKey>][] = [];
  private publicKeys!: SecretScanningPublicKeys;
  private bus: ApiKeyEventBus | null = null;

  constructor(
    @Inject(SECRET_SCANNING_OPTIONS) protected readonly options: SecretScanningOptions,
    protected readonly moduleRef: ModuleRef,
  ) {}

  /**
   * Finds the key services and the event bus, and loads the public keys.
   *
   * @throws {ApiKeyConfigurationError} for a registration that does not exist or unusable public keys
   */
  async onModuleInit(): Promise<void> {
    this.publicKeys = new SecretScanningPublicKeys(
      this.options.publicKeys ?? { url: GITHUB_SECRET_SCANNING_KEYS_URL },
    );
    this.services = (this.options.registrations ?? [DEFAULT_API_KEY_NAME]).map((name) => {
      try {
        return [name, this.moduleRef.get(getApiKeyServiceToken(name), { strict: false })];
      } catch {
        throw new ApiKeyConfigurationError(
          'secretScanning.registrations',
          `no ApiKeyModule registration named "${name}" is visible.`,
          'register it with ApiKeyModule.forRoot({ name }) (isGlobal, or in the same module), or fix the name.',
        );
      }
    });
    this.bus = await findEventBus(this.moduleRef);
  }

  /**
   * Answers one report.
   *
   * @param raw the request body exactly as received (`req.rawBody`)
   * @throws {UnauthorizedException} when the signature is missing or does not verify
   * @throws {PayloadTooLargeException} for a body over `maxBodyBytes`
   * @throws {BadRequestException} for a body that is not a list of matches
   * @throws {ServiceUnavailableException} when the key store or GitHub's keys cannot be reached
   */
  async handle(
    raw: Buffer | undefined,
    identifier: unknown,
    signature: unknown,
  ): Promise<SecretScanningLabel[]> {
    if (!Buffer.isBuffer(raw))
      throw new Error(
        'Secret scanning needs the raw request body: create the app with NestFactory.create(AppModule, { rawBody: true }).',
      );
    if (raw.length > (this.options.maxBodyBytes ?? 1024 * 1024))
      throw new PayloadTooLargeException();
    if (typeof identifier !== 'string' || typeof signature !== 'string')
      throw new UnauthorizedException();
    const signed = await this.publicKeys.verify(raw, identifier, signature).catch((error) => {
      this.logger.error(`Could not load GitHub's public keys: ${(error as Error).message}`);
      throw new ServiceUnavailableException();
    });
    if (!signed) throw new UnauthorizedException();
    const entries = parseLeakReport(raw, this.options.maxTokens ?? 1000);
    const labels: SecretScanningLabel[] = [];
    for (const entry of entries) labels.push(await this.judge(entry));
    return labels;
  }

  /** Whether one reported token is a key of ours, acting on it if it is live. */
  protected async judge(entry: LeakReportEntry): Promise<SecretScanningLabel> {
    let label: SecretScanningLabel['label'] = 'false_positive';
    for (const [registration, service] of this.services) {
      // A report is no use of the key: it must not keep a dormant key alive.
      const result = await this.storeCall(() => service.verify(entry.token, { recordUse: false }));
      if (result.valid) {
        await this.act(registration, service, result.apiKey, entry);
        label = 'true_positive';
      } else if (result.reason === 'revoked' || result.reason === 'expired') {
        // A well-formed token on a dead key's prefix: a replay, or a key leaked after its end.
        label = 'true_positive';
      }
    }
    return { token_hash: hash('sha256', entry.token), token_type: entry.type, label };
  }

  /** Revokes a live leaked key (unless `notify`) and tells the listeners. */
  protected async act(
    registration: string,
    service: ApiKeyService<AbstractApiKey>,
    apiKey: AbstractApiKey,
    entry: LeakReportEntry,
  ): Promise<void> {
    const revoke = (this.options.action ?? 'revoke') === 'revoke';
    const row = revoke ? await this.storeCall(() => service.revoke(apiKey.id)) : apiKey;
    this.logger.warn(
      `API key ${row.prefix} (${registration}) was reported leaked${revoke ? ' and revoked' : ''}.`,
    );
    const event: ApiKeyLeakedEvent = {
      id: row.id,
      prefix: row.prefix,
      apiKey: row,
      registration,
      url: entry.url,
      source: entry.source,
      revoked: revoke,
    };
    await deliverEvent(this.bus, API_KEY_LEAKED_EVENT, event, this.options.onLeaked);
  }

  /** Runs a key-store call; an outage is a 503 so that GitHub sends the report again. */
  private async storeCall<R>(call: () => Promise<R>): Promise<R> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof ApiKeyStoreUnavailableError) throw new ServiceUnavailableException();
      throw error;
    }
  }
}
