import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { IsNull, type FindOptionsWhere, type Repository } from 'typeorm';
import {
  DEFAULT_API_KEY_NAME,
  getApiKeyOptionsToken,
  getApiKeyRepositoryToken,
} from './api-key.constants.js';
import {
  ApiKeyDormancy,
  type DormantApiKeyRevocation,
  type FindDormantApiKeysOptions,
  type RevokeDormantApiKeysOptions,
} from './store/dormant.js';
import type { AbstractApiKey, ApiKey } from './api-key.entity.js';
import { ApiKeyNotFoundError, ApiKeyValidationError } from './api-key.errors.js';
import { findEventBus, type ApiKeyEventBus } from './api-key.events.js';
import { parseKey } from './keys/format.js';
import {
  carriedColumns,
  validateCreateInput,
  validateGracePeriod,
  validateUpdateInput,
} from './store/input.js';
import type {
  ApiKeyVerification,
  CreateApiKeyInput,
  CreatedApiKey,
  ListApiKeysOptions,
  RotateApiKeyOptions,
  RotatedApiKey,
  UpdateApiKeyInput,
  VerifyApiKeyOptions,
} from './api-key.interfaces.js';
import { ApiKeyPrefixLookup, type StoredApiKeyRow } from './store/lookup.js';
import type { ResolvedApiKeyOptions } from './api-key.options.js';
import { createRowCache } from './change-feed/setup.js';
import type { ApiKeyRowCache } from './change-feed/cache.js';
import { ownCopy } from './store/compiled/copy.js';
import { ApiKeyRows } from './store/rows.js';
import { storeUnavailable, ThrottledErrorLog } from './store/errors.js';
import { ApiKeyUsageRecorder } from './store/usage.js';
import { listWhere } from './store/where.js';
import { ApiKeyVerifier } from './verification/verifier.js';
import { ApiKeyPolicies } from './policies/enforce.js';
import { checkPolicies } from './policies/input.js';
import { checkLifetime } from './policies/max-lifetime.js';
import { ApiKeyExpirySweep } from './policies/expiry-notices.js';
import { announceStatus, statusEvent, writeDisabled } from './policies/events.js';

// The guard imports these from here.
export type { ApiKeyFailureReason, ApiKeyVerification } from './api-key.interfaces.js';

/**
 * Creates, looks up, verifies and revokes API keys of one registration.
 *
 * Verification reads the key's row on every call (in `revocationSync: 'notify'`, while a change
 * channel keeps a cached row current), so a revocation or expiry made anywhere applies to the
 * very next request. Whether the secret matches is the verifier's question
 * (`verification/verifier.ts`), which runs the slow hash once per key and process.
 *
 * @publicApi
 */
@Injectable()
export class ApiKeyService<T extends AbstractApiKey = ApiKey>
  implements OnApplicationBootstrap, BeforeApplicationShutdown
{
  protected readonly logger = new Logger('ApiKeyService');
  private readonly storeErrors = new ThrottledErrorLog(this.logger);
  private readonly rowCache: ApiKeyRowCache<T>;
  private readonly verifier: ApiKeyVerifier<T>;
  private readonly usage: ApiKeyUsageRecorder<T> | null;
  private readonly lookup: ApiKeyPrefixLookup<T>;
  private readonly rows: ApiKeyRows<T>;
  private readonly dormancy: ApiKeyDormancy<T>;
  private readonly policies: ApiKeyPolicies<T>;
  private readonly expirySweep: ApiKeyExpirySweep<T> | null;
  private eventBus?: Promise<ApiKeyEventBus | null>;

  /** @param moduleRef where the app's `@nestjs/event-emitter` bus is looked for (none outside Nest) */
  constructor(
    @Inject(getApiKeyOptionsToken()) readonly options: ResolvedApiKeyOptions<T>,
    @Inject(getApiKeyRepositoryToken()) protected readonly repository: Repository<T>,
    @Optional() @Inject(ModuleRef) private readonly moduleRef?: ModuleRef,
  ) {
    this.rowCache = createRowCache(options, repository, this.logger);
    this.verifier = new ApiKeyVerifier(options, {
      repository,
      logger: this.logger,
      onRehashed: (row) => this.rowCache.delete(row.prefix),
    });
    this.usage = options.usageTracking
      ? new ApiKeyUsageRecorder(repository, options.usageTracking.interval, options)
      : null;
    this.lookup = new ApiKeyPrefixLookup(repository, options.usableWhere, options.storeTimeout);
    this.rows = new ApiKeyRows(repository, options, this.storeErrors);
    this.policies = new ApiKeyPolicies(repository, (action, write) => this.rows.run(action, write));
    this.dormancy = new ApiKeyDormancy({
      repository,
      options,
      rows: this.rows,
      flushUsage: () => this.flushUsage(),
      forget: (apiKey) => this.forget(apiKey),
      eventBus: () => this.events(),
    });
    this.expirySweep = options.expiryNotices
      ? new ApiKeyExpirySweep(options.expiryNotices, options, repository, this.logger, () =>
          this.events(),
        )
      : null;
  }

  /** Starts the expiring-key sweep (`expiryNotices`), once the app is up. */
  onApplicationBootstrap(): void {
    this.expirySweep?.start();
  }

  /**
   * Announces now, with `api-key.expiring`, the usable keys expiring within `expiryNotices.within`
   * that no instance has announced yet, and returns them; `[]` without `expiryNotices`. The sweep
   * calls it every `expiryNotices.interval`.
   *
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async notifyExpiring(): Promise<T[]> {
    const sweep = this.expirySweep;
    return sweep ? this.rows.run('find expiring API keys', () => sweep.sweep()) : [];
  }

  /**
   * Makes a key and stores its hash. The returned `key` is the only copy of the plaintext.
   *
   * @throws {ApiKeyValidationError} if the name, scopes, expiry or extra fields are not acceptable
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be written
   */
  async create(input: CreateApiKeyInput<T>): Promise<CreatedApiKey<T>> {
    const now = this.options.clock();
    const valid = validateCreateInput(input, now);
    checkLifetime(valid.expiresAt, now, this.options.maxLifetime);
    return this.rows.insertNew(valid, now);
  }

  /**
   * Revokes a key for good. Idempotent: revoking a revoked key returns it unchanged, keeping
   * the first `revokedAt`. Takes effect on the next request in every process (in notify mode,
   * once the change is heard; in this process at once).
   *
   * @param idOrPrefix the key's id or its 8-character prefix
   * @throws {ApiKeyNotFoundError} if no key has that id or prefix
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async revoke(idOrPrefix: string): Promise<T> {
    const apiKey = await this.findOne(idOrPrefix);
    if (!apiKey) throw new ApiKeyNotFoundError(idOrPrefix);
    this.forget(apiKey);
    if (!apiKey.revoked) {
      const where = { id: apiKey.id, revokedAt: IsNull() } as FindOptionsWhere<T>;
      await this.rows.run('revoke an API key', () =>
        this.repository.update(where, { revokedAt: this.options.clock() } as any),
      );
    }
    return (await this.findOne(apiKey.id)) as T;
  }

  /**
   * Suspends a key: it is refused (401, `verify()` reason `disabled`) until `enable()`. Idempotent:
   * a disabled key keeps its first `disabledAt`. Takes effect as a revocation does. Emits
   * `api-key.disabled` when it changed something.
   *
   * @param idOrPrefix the key's id or its 8-character prefix
   * @throws {ApiKeyNotFoundError} if no key has that id or prefix
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async disable(idOrPrefix: string): Promise<T> {
    return this.setDisabled(idOrPrefix, true);
  }

  /**
   * Resumes a suspended key. Idempotent. A revoked key stays refused: enabling it is refused
   * here, and by the table's trigger for any other writer. Emits `api-key.enabled` when it
   * changed something.
   *
   * @param idOrPrefix the key's id or its 8-character prefix
   * @throws {ApiKeyNotFoundError} if no key has that id or prefix
   * @throws {ApiKeyValidationError} if the key is revoked
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async enable(idOrPrefix: string): Promise<T> {
    return this.setDisabled(idOrPrefix, false);
  }

  /**
   * Changes a usable key's name, scopes or expiry. A revoked or expired key is read-only.
   *
   * @param idOrPrefix the key's id or its 8-character prefix
   * @throws {ApiKeyNotFoundError} if no key has that id or prefix
   * @throws {ApiKeyValidationError} if a change is not acceptable, or the key is revoked or expired
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async update(idOrPrefix: string, changes: UpdateApiKeyInput): Promise<T> {
    const now = this.options.clock();
    const valid = validateUpdateInput(changes, now);
    if (valid.expiresAt !== undefined)
      checkLifetime(valid.expiresAt, now, this.options.maxLifetime);
    const apiKey = await this.findOne(idOrPrefix);
    if (!apiKey) throw new ApiKeyNotFoundError(idOrPrefix);
    if (apiKey.revoked || apiKey.isExpired(now))
      throw new ApiKeyValidationError(
        `API key ${apiKey.prefix} is revoked or expired; it is read-only.`,
      );
    Object.assign(valid, checkPolicies(valid as Record<string, unknown>, apiKey));
    // A new expiry is announced again before it comes.
    if (valid.expiresAt !== undefined) (valid as Record<string, unknown>).expiryNotifiedAt = null;
    if (Object.keys(valid).length > 0) {
      // The revokedAt condition keeps a revocation made meanwhile from being written over.
      const where = { id: apiKey.id, revokedAt: IsNull() } as FindOptionsWhere<T>;
      await this.rows.run('update an API key', () => this.repository.update(where, valid as any));
    }
    this.forget(apiKey);
    return (await this.findOne(apiKey.id)) as T;
  }

  /**
   * Replaces a key with a new one carrying the same name, scopes, expiry and owner columns,
   * and lets the old one work for `gracePeriod` more milliseconds (or revokes it at once for 0).
   *
   * @param idOrPrefix the key's id or its 8-character prefix
   * @throws {ApiKeyNotFoundError} if no key has that id or prefix
   * @throws {ApiKeyValidationError} if the key is revoked or expired (there is nothing to rotate), or the grace period is invalid
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async rotate(idOrPrefix: string, options: RotateApiKeyOptions): Promise<RotatedApiKey<T>> {
    const gracePeriod = validateGracePeriod(options);
    const old = await this.findOne(idOrPrefix, true);
    if (!old) throw new ApiKeyNotFoundError(idOrPrefix);
    const now = this.options.clock();
    if (old.revoked || old.isExpired(now))
      throw new ApiKeyValidationError(
        `API key ${old.prefix} is revoked or expired; create a new key instead.`,
      );
    // A new key would not be suspended: rotating must not be a way round a suspension.
    if (old.disabled)
      throw new ApiKeyValidationError(`API key ${old.prefix} is disabled; enable it first.`);
    const created = await this.create({
      ...carriedColumns(this.repository.metadata, old),
      name: old.name,
      scopes: old.scopes,
      expiresAt: old.expiresAt,
    } as CreateApiKeyInput<T>);
    if (gracePeriod === 0) return { ...created, previous: await this.revoke(old.id) };
    const until = new Date(now.getTime() + gracePeriod);
    if (old.expiresAt === null || old.expiresAt > until) {
      await this.rows.run("shorten the old key's expiry", () =>
        this.repository.update({ id: old.id } as FindOptionsWhere<T>, { expiresAt: until } as any),
      );
    }
    this.forget(old);
    return { ...created, previous: (await this.findOne(old.id)) as T };
  }

  /**
   * The usable key a plaintext key belongs to, or `null` (unknown, wrong secret, revoked,
   * expired or refused by `usableWhere`). DRF API Key's `get_from_key`, but expiry is honoured.
   *
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async findByKey(key: string): Promise<T | null> {
    const result = await this.verify(key);
    return result.valid ? result.apiKey : null;
  }

  /**
   * Whether a plaintext key is usable right now.
   *
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async isValid(key: string): Promise<boolean> {
    return (await this.verify(key)).valid;
  }

  /**
   * Checks a presented key and says why it failed. Reasons are for logs and callers, never for
   * responses. Revoked, expired and disabled keys are refused before any hashing; a right key's
   * policies (IP allow-list, credits) are applied after it, see `VerifyApiKeyOptions`.
   *
   * @param options `recordUse: false` leaves `lastUsedAt` alone; `clientIp` checks the allow-list;
   *   `credit` checks, spends or skips credits
   * @throws {ApiKeyStoreUnavailableError} if the key store cannot be read or a credit cannot be
   *   spent (never a silent pass)
   */
  async verify(key: string, options?: VerifyApiKeyOptions): Promise<ApiKeyVerification<T>> {
    const prefix = parseKey(key, this.options.brand);
    if (prefix === null) return { valid: false, reason: 'malformed' };
    const stored = await this.loadByPrefix(prefix);
    if (!stored) return { valid: false, reason: 'unknown', prefix };
    const { row, hashedKey } = stored;
    const now = this.options.clock();
    if (row.revoked) return { valid: false, reason: 'revoked', prefix };
    if (row.isExpired(now)) return { valid: false, reason: 'expired', prefix };
    if (row.disabledAt != null) return { valid: false, reason: 'disabled', prefix };
    const outcome = await this.verifier.check(row, hashedKey, key);
    if (outcome !== 'verified') return { valid: false, reason: outcome, prefix };
    if (ApiKeyPolicies.applyTo(row)) {
      const refusal = await this.policies.admit(row, now, options);
      if (refusal !== null) return { valid: false, reason: refusal, prefix };
    }
    if (options?.recordUse !== false) this.usage?.record(row, now);
    return { valid: true, apiKey: row };
  }

  /**
   * Whether a request from `clientIp` may use `apiKey`: the key has no `allowedIps`, or the
   * address is in them (IPv4-mapped IPv6 addresses match IPv4 ranges). An unknown address
   * (`null`) is in no list. The guard asks it with `request.ip`.
   */
  isAddressAllowed(apiKey: T, clientIp: string | null | undefined): boolean {
    return this.policies.allowsAddress(apiKey, clientIp);
  }

  /**
   * Spends one of a usage-limited key's credits (refilling it first when a refill is due) and
   * sets `apiKey.remaining` to what is left; `false` when none is left. A key without a limit
   * answers `true` with no write. The guard calls it for each request it accepts.
   *
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be written (never a silent pass)
   */
  async spendCredit(apiKey: T): Promise<boolean> {
    return this.policies.spend(apiKey, this.options.clock());
  }

  /**
   * Keys, newest first, without hashes: every key, or those `where` selects (one owner's, say:
   * `list({ where: { partnerId } })`), and of those only the usable ones with `activeOnly`.
   *
   * @throws {ApiKeyValidationError} if `where` is not an object or names what the entity lacks
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async list(options: ListApiKeysOptions<T> = {}): Promise<T[]> {
    const where = listWhere(this.repository.metadata, options, this.options.clock());
    return this.rows.run('list API keys', () =>
      this.repository.find({
        where,
        order: { createdAt: 'DESC', id: 'ASC' } as any,
        take: options.take,
        skip: options.skip,
      }),
    );
  }

  /**
   * One key by id or prefix, without its hash, or `null`.
   *
   * @param withRelationIds load owner relations as their ids (as `rotate()` needs)
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async findOne(idOrPrefix: string, withRelationIds = false): Promise<T | null> {
    return this.rows.findOne(idOrPrefix, withRelationIds);
  }

  /**
   * Usable keys unused for `unusedFor` ms: last used longer ago, or never used and created
   * longer ago. Pending `lastUsedAt` marks of this process are written first.
   *
   * @throws {ApiKeyValidationError} for a bad `unusedFor` or `where`, or with `usageTracking: false`
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async findDormant(options: FindDormantApiKeysOptions<T>): Promise<T[]> {
    return this.dormancy.find(options);
  }

  /**
   * Revokes the keys `findDormant()` finds (only lists them with `dryRun`), emitting a `revoked`
   * event with reason `dormant` for each, and returns them.
   *
   * @throws {ApiKeyValidationError} as `findDormant()` does
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async revokeDormant(
    options: RevokeDormantApiKeysOptions<T>,
  ): Promise<DormantApiKeyRevocation<T>> {
    return this.dormancy.revoke(options);
  }

  /** Writes pending `lastUsedAt` marks now (they are otherwise written every `usageTracking.interval`). */
  async flushUsage(): Promise<void> {
    await this.usage?.flush();
  }

  /** Closes the change listener (notify mode) and writes pending `lastUsedAt` marks before the data source closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.expirySweep?.stop();
    await this.rowCache.close();
    await this.usage?.close();
  }

  /**
   * Reads the row for a prefix, with its hash, honouring `usableWhere` and `revocationSync`.
   *
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be read
   */
  protected async loadByPrefix(prefix: string): Promise<StoredApiKeyRow<T> | null> {
    const ticket = this.rowCache.ticket();
    const cached = this.rowCache.get(prefix, ticket);
    // Each request gets its own entity: a handler that edits request.apiKey (its scopes, say)
    // must not change what later requests of the key are judged on.
    if (cached) return { row: ownCopy(cached.row), hashedKey: cached.hashedKey };
    let stored: StoredApiKeyRow<T> | null;
    try {
      stored = await this.lookup.find(prefix);
    } catch (error) {
      throw storeUnavailable(this.storeErrors, 'read an API key', error);
    }
    if (!stored) return null;
    if (this.rowCache.caching)
      this.rowCache.set(prefix, { row: ownCopy(stored.row), hashedKey: stored.hashedKey }, ticket);
    return stored;
  }

  /** Sets or clears a key's `disabledAt`, as `disable()` and `enable()` document. */
  private async setDisabled(idOrPrefix: string, disabled: boolean): Promise<T> {
    const apiKey = await this.findOne(idOrPrefix);
    if (!apiKey) throw new ApiKeyNotFoundError(idOrPrefix);
    if (!disabled && apiKey.revoked)
      throw new ApiKeyValidationError(
        `API key ${apiKey.prefix} is revoked; revocation is final, it cannot be enabled.`,
      );
    this.forget(apiKey);
    if (apiKey.disabled === disabled) return apiKey;
    const at = this.options.clock();
    const changed = await this.rows.run(`${disabled ? 'disable' : 'enable'} an API key`, () =>
      writeDisabled(this.repository, apiKey, disabled, at),
    );
    const updated = (await this.findOne(apiKey.id)) as T;
    const type = disabled ? 'disabled' : 'enabled';
    if (changed)
      void announceStatus(
        this.events(),
        statusEvent(updated, type, this.options.name, at),
        this.logger,
      );
    return updated;
  }

  /** The app's `@nestjs/event-emitter` bus, looked for once; `null` when there is none. */
  private events(): Promise<ApiKeyEventBus | null> {
    return (this.eventBus ??= this.moduleRef
      ? findEventBus(this.moduleRef)
      : Promise.resolve(null));
  }

  /** Drops what this process remembers of a key, so a revocation or rotation applies at once. */
  private forget(apiKey: T): void {
    this.verifier.forget(apiKey.id);
    this.rowCache.delete(apiKey.prefix);
  }
}

/**
 * Token of a registration's `ApiKeyService`: the class itself for the default registration,
 * a string for named ones.
 *
 * @publicApi
 */
export function getApiKeyServiceToken(
  name: string = DEFAULT_API_KEY_NAME,
): string | typeof ApiKeyService {
  return name === DEFAULT_API_KEY_NAME ? ApiKeyService : `API_KEY:SERVICE:${name}`;
}
