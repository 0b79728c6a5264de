import { hash } from 'node:crypto';
import {
  BadRequestException,
  Inject,
  Injectable,
  Logger,
  PayloadTooLargeException,
  ServiceUnavailableException,
  UnauthorizedException,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { QueryFailedError, type Repository } from 'typeorm';
import { DEFAULT_API_KEY_NAME, getApiKeyRepositoryToken } from '../api-key.constants.js';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError, ApiKeyStoreUnavailableError } from '../api-key.errors.js';
import { deliverEvent, findEventBus, type ApiKeyEventBus } from '../api-key.events.js';
import { getApiKeyServiceToken, type ApiKeyService } from '../api-key.service.js';
import { BcryptApiKeyHasher } from '../keys/hasher.js';
import { ThrottledErrorLog } from '../store/errors.js';
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
import { DEFAULT_MAX_BODY_BYTES, type ReportBody } from './secret-scanning.body.js';
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
  private services: [string, ApiKeyService<AbstractApiKey>, Repository<AbstractApiKey>][] = [];
  /** Warnings about requests, at most one line per cause every 10 s whatever is sent. */
  private readonly warnings = new ThrottledErrorLog({ error: (line) => this.logger.warn(line) });
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
        return [
          name,
          this.moduleRef.get(getApiKeyServiceToken(name), { strict: false }),
          this.moduleRef.get(getApiKeyRepositoryToken(name), { strict: false }),
        ];
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
   * @param raw the request body exactly as received: `null` when it was over `maxBodyBytes`,
   *   `undefined` when it could not be read
   * @throws {UnauthorizedException} when the signature is missing or does not verify
   * @throws {PayloadTooLargeException} for a body over `maxBodyBytes`
   * @throws {BadRequestException} for a body that is not a list of matches
   * @throws {ServiceUnavailableException} when the key store or GitHub's keys cannot be reached
   */
  async handle(
    raw: ReportBody | undefined,
    identifier: unknown,
    signature: unknown,
  ): Promise<SecretScanningLabel[]> {
    if (raw === undefined) {
      // The reader matched no route (a versioned one, say) and the app keeps no raw bodies.
      this.warnings.error(
        "Secret scanning could not read a report's body: mount the endpoint without versioning, or create the app with NestFactory.create(AppModule, { rawBody: true }).",
      );
      throw new BadRequestException("The report's body could not be read.");
    }
    if (raw === null || raw.length > (this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES))
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

  /**
   * Whether one reported token is a key of ours, acting on it if it is live. `true_positive`
   * means the token is, or was, a key this app issued: its secret matches a stored hash, whether
   * the key is live, revoked or expired. Anything else, a made-up secret on a real prefix
   * included, is a `false_positive`.
   */
  protected async judge(entry: LeakReportEntry): Promise<SecretScanningLabel> {
    let label: SecretScanningLabel['label'] = 'false_positive';
    for (const [registration, service, repository] of this.services) {
      // A report is no use of the key: it must not keep a dormant key alive.
      const result = await this.storeCall(() => service.verify(entry.token, { recordUse: false }));
      if (result.valid) {
        await this.act(registration, service, result.apiKey, entry);
        label = 'true_positive';
      } else if (
        ['revoked', 'expired', 'unknown'].includes(result.reason) &&
        result.prefix !== undefined &&
        (await this.storeCall(() => wasIssued(service, repository, result.prefix!, entry.token)))
      ) {
        // A dead key (or one usableWhere refuses) whose secret it is: a replay, or a late leak.
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
      if (error instanceof ApiKeyStoreUnavailableError || error instanceof QueryFailedError)
        throw new ServiceUnavailableException();
      throw error;
    }
  }
}

/** Checks bcrypt hashes, which every registration recognises whatever its hashers. */
const BCRYPT = new BcryptApiKeyHasher();

/**
 * Whether `token` is the secret of the key stored under `prefix`, live or not (and whatever
 * `usableWhere` says): the stored hash, read by prefix, checked by each hasher that recognises it.
 */
async function wasIssued(
  service: ApiKeyService<AbstractApiKey>,
  repository: Repository<AbstractApiKey>,
  prefix: string,
  token: string,
): Promise<boolean> {
  const row = await repository
    .createQueryBuilder('key')
    .select('key.id')
    .addSelect('key.hashedKey')
    .where('key.prefix = :prefix', { prefix })
    .getOne();
  if (!row?.hashedKey) return false;
  const { hasher, legacyHashers } = service.options;
  for (const candidate of [hasher, ...legacyHashers, BCRYPT])
    if (candidate.recognizes(row.hashedKey) && (await candidate.verify(token, row.hashedKey)))
      return true;
  return false;
}
