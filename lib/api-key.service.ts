import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnModuleInit,
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
import { UsageAnalytics } from './usage/analytics.js';
import { ensureUsageTable } from './usage/schema.js';
import { GuessingAlerts } from './usage/guessing.js';
import type { ApiKeyUsageOutcome } from './usage/outcomes.js';
import { busiestKeys, keyUsage, type UsageQuerySources } from './usage/queries.js';
import type { ApiKeyUsageQuery, ApiKeyUsageReport } from './usage/report.js';
import { findEventBus, type ApiKeyEventBus } from './api-key.events.js';
import { misspelledKeyPrefix, parseKey } from './keys/format.js';
import {
  carriedColumns,
  validateCreateInput,
  validateGracePeriod,
  validateUpdateInput,
} from './store/input.js';
import type {
  ApiKeyUsageByKey,
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
import { ApiKeySuspension } from './policies/suspension.js';

// The guard imports these from here.
export type { ApiKeyFailureReason, ApiKeyVerification } from './api-key.interfaces.js';

/** Why the verifier refused a known key's secret. */
type ApiKeyCheckRefusal = 'bad_secret' | 'flooded';

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
  implements OnApplicationBootstrap, OnModuleInit, BeforeApplicationShutdown
{
  protected readonly logger = new Logger('ApiKeyService');
  private readonly storeErrors = new ThrottledErrorLog(this.logger);
  private readonly rowCache: ApiKeyRowCache<T>;
  private readonly verifier: ApiKeyVerifier<T>;
  private readonly lastUse: ApiKeyUsageRecorder<T> | null;
  private readonly analytics: UsageAnalytics | null;
  private readonly guessing: GuessingAlerts | null;
  private readonly lookup: ApiKeyPrefixLookup<T>;
  private readonly rows: ApiKeyRows<T>;
  private readonly dormancy: ApiKeyDormancy<T>;
  private readonly policies: ApiKeyPolicies<T>;
  private readonly suspension: ApiKeySuspension<T>;
  private readonly expirySweep: ApiKeyExpirySweep<T> | null;
  private eventBus?: Promise<ApiKeyEventBus | null>;
  /** What the usage queries read through. */
  private readonly usageSources: UsageQuerySources<T>;
  /**
   * Whether `verifyAtOnce` can ever answer: rows are cached (notify mode) and `verify` and
   * `loadByPrefix` are this class's own, so that it may stand in for them. The guard asks first,
   * so that in read mode, where every request reads its row, it does not parse a request twice.
   *
   * @internal
   */
  readonly answersAtOnce: boolean;

  /** @param moduleRef where the app's `@nestjs/event-emitter` bus is looked for (none outside Nest) */
  constructor(
    @Inject(getApiKeyOptionsToken()) readonly options: ResolvedApiKeyOptions<T>,
    @Inject(getApiKeyRepositoryToken()) protected readonly repository: Repository<T>,
    @Optional() @Inject(ModuleRef) private readonly moduleRef?: ModuleRef,
  ) {
    this.rowCache = createRowCache(options, repository, this.logger);
    this.answersAtOnce =
      this.rowCache.caching &&
      this.verify === ApiKeyService.prototype.verify &&
      this.loadByPrefix === ApiKeyService.prototype.loadByPrefix;
    this.verifier = new ApiKeyVerifier(options, {
      repository,
      logger: this.logger,
      onRehashed: (row) => this.rowCache.delete(row.prefix),
    });
    this.lastUse = options.usageTracking
      ? new ApiKeyUsageRecorder(repository, options.usageTracking.interval, options)
      : null;
    this.analytics = UsageAnalytics.create(options, repository);
    this.guessing = options.guessingAlerts
      ? new GuessingAlerts(options.name, options.guessingAlerts, this.logger, () => this.bus())
      : null;
    this.lookup = new ApiKeyPrefixLookup(repository, options.usableWhere, options.storeTimeout);
    this.rows = new ApiKeyRows(repository, options, this.storeErrors);
    this.policies = new ApiKeyPolicies(repository, (action, write) => this.rows.run(action, write));
    this.usageSources = {
      analytics: this.analytics,
      registration: options.name,
      rows: this.rows,
      repository,
      findOne: (idOrPrefix) => this.findOne(idOrPrefix),
    };
    this.suspension = new ApiKeySuspension({
      repository,
      options,
      rows: this.rows,
      logger: this.logger,
      bus: () => this.bus(),
      findOne: (idOrPrefix) => this.findOne(idOrPrefix),
      forget: (apiKey) => this.forget(apiKey),
    });
    this.dormancy = new ApiKeyDormancy({
      repository,
      options,
      rows: this.rows,
      flushUsage: () => this.flushUsage(),
      forget: (apiKey) => this.forget(apiKey),
      eventBus: () => this.bus(),
    });
    this.expirySweep = options.expiryNotices
      ? new ApiKeyExpirySweep(options.expiryNotices, options, repository, this.logger, () =>
          this.bus(),
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
    return this.suspension.set(idOrPrefix, true);
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
    return this.suspension.set(idOrPrefix, false);
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
    if (prefix === null) return malformed(key, this.options.brand);
    const stored = await this.loadByPrefix(prefix);
    const verdict =
      this.judge(key, prefix, stored) ?? (await this.judgeSlowly(key, prefix, stored!));
    const now = this.options.clock();
    if (!verdict.valid) {
      // Here, not in judge(): verifyAtOnce() may judge a request that verify() then judges again.
      if (verdict.reason === 'bad_secret') this.guessing?.note(prefix, now);
      return verdict;
    }
    if (ApiKeyPolicies.applyTo(verdict.apiKey)) {
      const refusal = await this.policies.admit(verdict.apiKey, now, options);
      if (refusal !== null)
        return { valid: false, reason: refusal, prefix, keyId: verdict.apiKey.id };
    }
    if (options?.recordUse !== false) this.lastUse?.record(verdict.apiKey, now);
    return verdict;
  }

  /**
   * What `verify(key)` would answer, when it can be told at once: the row cached (notify mode,
   * channel up) and the key's digest memoised, or the key malformed. `undefined` otherwise, and
   * whenever `verify` or `loadByPrefix` is overridden, so that an override is never bypassed;
   * the caller then awaits `verify(key)`. No read, no hash, no wait: the guard's fast path.
   * Records use as `verify` does. A right key with a request policy (an IP allow-list or credits)
   * is `undefined` too: those need the request and a write, which only `verify` and the guard's
   * full check apply.
   *
   * @internal
   */
  verifyAtOnce(key: string): ApiKeyVerification<T> | undefined {
    if (!this.answersAtOnce) return undefined;
    const prefix = parseKey(key, this.options.brand);
    if (prefix === null) return malformed(key, this.options.brand);
    const stored = this.cachedRow(prefix);
    if (stored === undefined) return undefined;
    const verdict = this.judge(key, prefix, stored);
    if (!verdict?.valid) return verdict;
    if (ApiKeyPolicies.applyTo(verdict.apiKey)) return undefined;
    this.lastUse?.record(verdict.apiKey, this.options.clock());
    return verdict;
  }

  /**
   * The verdict on `key`'s secret given its row (`null`: no such key), when the memos can tell:
   * revoked, expired and disabled keys are refused before any hashing. `undefined` when the slow
   * check is needed. A right key's request policies are the caller's to apply.
   */
  private judge(
    key: string,
    prefix: string,
    stored: StoredApiKeyRow<T> | null,
  ): ApiKeyVerification<T> | undefined {
    if (!stored) return { valid: false, reason: 'unknown', prefix };
    const { row, hashedKey, secretTag } = stored;
    const now = this.options.clock();
    if (row.revoked) return { valid: false, reason: 'revoked', prefix, keyId: row.id };
    if (row.isExpired(now)) return { valid: false, reason: 'expired', prefix, keyId: row.id };
    if (row.disabledAt != null) return { valid: false, reason: 'disabled', prefix, keyId: row.id };
    const outcome = this.verifier.checkAtOnce(row, hashedKey, key, secretTag ?? null);
    if (outcome === undefined) return undefined;
    if (outcome !== 'verified') return this.refused(outcome, prefix, row);
    return { valid: true, apiKey: row };
  }

  /** The verdict on a key the memos do not know: the slow hash, bounded by the cold-path limiter. */
  private async judgeSlowly(
    key: string,
    prefix: string,
    { row, hashedKey, secretTag }: StoredApiKeyRow<T>,
  ): Promise<ApiKeyVerification<T>> {
    const outcome = await this.verifier.check(row, hashedKey, key, secretTag ?? null);
    if (outcome !== 'verified') return this.refused(outcome, prefix, row);
    return { valid: true, apiKey: row };
  }

  /** A refusal of a known key's secret. */
  private refused(reason: ApiKeyCheckRefusal, prefix: string, row: T): ApiKeyVerification<T> {
    return { valid: false, reason, prefix, keyId: row.id };
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

  /**
   * Writes pending `lastUsedAt` marks and usage counts now (they are otherwise written every
   * `usageTracking.interval` and `usageAnalytics.flushInterval`).
   */
  async flushUsage(): Promise<void> {
    await this.lastUse?.flush();
    await this.analytics?.flush();
  }

  /**
   * Requests per hour or day by outcome, of one key (by id or prefix) or, without `key`, of the
   * whole registration (unknown keys included), with totals. Counts this process has not written
   * yet are written first, so they are included.
   *
   * @throws {ApiKeyValidationError} for a bad span or granularity, or with `usageAnalytics: false`
   * @throws {ApiKeyNotFoundError} if no key has that id or prefix
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async usage(query: ApiKeyUsageQuery): Promise<ApiKeyUsageReport> {
    return keyUsage(this.usageSources, query);
  }

  /**
   * The keys with the most requests from `since` to `until` (rounded out to whole hours), busiest
   * first, at most `limit` (default 10), with their counts by outcome. `apiKey` is `null` for a
   * key deleted since.
   *
   * @throws {ApiKeyValidationError} for a bad span, or with `usageAnalytics: false`
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async busiestKeys(query: {
    since: Date;
    until: Date;
    limit?: number;
  }): Promise<ApiKeyUsageByKey<T>[]> {
    return busiestKeys(this.usageSources, query);
  }

  /**
   * Counts one request's outcome for usage analytics: what the guard calls once per keyed
   * request, and integrations (the throttler guard) for the refusals they make. `keyId` is
   * `null` for a key no row matched (counted as `unknown`, per registration); `prefix`, the
   * key's prefix when known. Does nothing with `usageAnalytics: false`. The hot path: a `Map`
   * lookup or two, no I/O.
   */
  recordOutcome(outcome: ApiKeyUsageOutcome, keyId: string | null, prefix?: string): void {
    if (this.analytics?.record(outcome, keyId, prefix) === 'wrong_secret')
      this.guessing?.note(prefix!, this.options.clock());
  }

  /**
   * Prefixes of this registration's keys for which wrong secrets passed `guessingAlerts`'
   * threshold within the last window, in this process: the admin page's warning badges.
   */
  suspiciousPrefixes(): string[] {
    return this.guessing?.suspicious(this.options.clock()) ?? [];
  }

  /** Requests waiting for a slot on the cold path (the slow hash), in this process. */
  get coldPathQueued(): number {
    return this.verifier.queued;
  }

  /** Per-process totals by outcome (indexed as the outcomes are listed), for `/metrics`. */
  get outcomeTotals(): readonly number[] | null {
    return this.analytics?.tally.totals ?? null;
  }

  /**
   * At boot, creates the usage analytics table when it is missing (as `synchronize` leaves it).
   *
   * @throws {ApiKeyConfigurationError} when it is missing and cannot be created
   */
  async onModuleInit(): Promise<void> {
    await ensureUsageTable(this.repository, this.options);
  }

  /**
   * Closes the change listener (notify mode), and writes pending `lastUsedAt` marks and usage
   * counts before the data source closes.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.expirySweep?.stop();
    await this.rowCache.close();
    await this.lastUse?.close();
    await this.analytics?.close();
  }

  /** The app's event bus, looked for once. */
  private bus(): Promise<ApiKeyEventBus | null> {
    return (this.eventBus ??= this.moduleRef
      ? findEventBus(this.moduleRef)
      : Promise.resolve(null));
  }

  /**
   * Reads the row for a prefix, with its hash, honouring `usableWhere` and `revocationSync`.
   *
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be read
   */
  protected async loadByPrefix(prefix: string): Promise<StoredApiKeyRow<T> | null> {
    const ticket = this.rowCache.ticket();
    const cached = this.cachedRow(prefix, ticket);
    if (cached) return cached;
    let stored: StoredApiKeyRow<T> | null;
    try {
      stored = await this.lookup.find(prefix);
    } catch (error) {
      throw storeUnavailable(this.storeErrors, 'read an API key', error);
    }
    if (!stored) return null;
    if (this.rowCache.caching)
      this.rowCache.set(prefix, { ...stored, row: ownCopy(stored.row) }, ticket);
    return stored;
  }

  /**
   * The cached row of `prefix`, as a copy of its own, if the row cache may serve it to a read
   * holding `ticket` (by default, one taken now).
   */
  private cachedRow(
    prefix: string,
    ticket = this.rowCache.ticket(),
  ): StoredApiKeyRow<T> | undefined {
    const cached = this.rowCache.get(prefix, ticket);
    // Each request gets its own entity: a handler that edits request.apiKey (its scopes, say)
    // must not change what later requests of the key are judged on.
    return (
      cached && {
        row: ownCopy(cached.row),
        hashedKey: cached.hashedKey,
        secretTag: cached.secretTag,
      }
    );
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

/** The refusal of a key `parseKey` refused, with its prefix when it has the checksummed shape. */
function malformed<T extends AbstractApiKey>(key: string, brand: string): ApiKeyVerification<T> {
  const prefix = misspelledKeyPrefix(key, brand);
  return prefix === null
    ? { valid: false, reason: 'malformed' }
    : { valid: false, reason: 'malformed', prefix };
}
