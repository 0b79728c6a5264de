import { hash, randomUUID, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import {
  IsNull,
  MoreThan,
  QueryFailedError,
  type FindOptionsWhere,
  type Repository,
} from 'typeorm';
import {
  DEFAULT_API_KEY_NAME,
  getApiKeyOptionsToken,
  getApiKeyRepositoryToken,
} from './api-key.constants.js';
import type { AbstractApiKey, ApiKey } from './api-key.entity.js';
import {
  ApiKeyNotFoundError,
  ApiKeyStoreUnavailableError,
  ApiKeyValidationError,
} from './api-key.errors.js';
import { generateKey, isPrefix, isScope, parseKey } from './api-key.format.js';
import { BcryptApiKeyHasher, type ApiKeyHasher } from './api-key.hasher.js';
import { ConcurrencyLimiter } from './api-key.limiter.js';
import { ApiKeyPrefixLookup, type StoredApiKeyRow } from './api-key.lookup.js';
import { LruMap } from './api-key.lru.js';
import type { ResolvedApiKeyOptions } from './api-key.options.js';
import { ApiKeyUsageRecorder } from './api-key.usage.js';

/**
 * Why a presented key was refused. For logs and server-side callers only: the guard answers
 * every one of them with the same 401.
 *
 * @publicApi
 */
export type ApiKeyFailureReason = 'malformed' | 'unknown' | 'revoked' | 'expired' | 'bad_secret';

/**
 * Result of `ApiKeyService.verify()`.
 *
 * @publicApi
 */
export type ApiKeyVerification<T extends AbstractApiKey = ApiKey> =
  { valid: true; apiKey: T } | { valid: false; reason: ApiKeyFailureReason; prefix?: string };

/** Columns the service manages; `create()` refuses them as input. */
const MANAGED_FIELDS = [
  'id',
  'prefix',
  'hashedKey',
  'createdAt',
  'revokedAt',
  'lastUsedAt',
  'revoked',
] as const;

/**
 * What `create()` takes: a name, optional expiry and scopes, and any further columns of your
 * own entity (an owner relation, say).
 *
 * @publicApi
 */
export type CreateApiKeyInput<T extends AbstractApiKey = ApiKey> = {
  /** Free-form label, 1 to 100 characters. */
  name: string;
  /** When the key stops working; must be in the future. Omit or `null` for never. */
  expiresAt?: Date | null;
  /** Scopes for `@RequireScopes()`: letters, digits and `:._-`, matched exactly. */
  scopes?: string[];
} & Omit<
  Partial<T>,
  | (typeof MANAGED_FIELDS)[number]
  | 'name'
  | 'expiresAt'
  | 'scopes'
  | 'isExpired'
  | 'toJSON'
  | 'toString'
>;

/**
 * A created key: the entity, and the plaintext `key`, which is not stored anywhere and
 * cannot be shown again.
 *
 * @publicApi
 */
export interface CreatedApiKey<T extends AbstractApiKey = ApiKey> {
  apiKey: T;
  key: string;
}

/**
 * Options of `ApiKeyService.list()`.
 *
 * @publicApi
 */
export interface ListApiKeysOptions {
  /** Leave out revoked and expired keys. Default `false`: every key. */
  activeOnly?: boolean;
  /** At most this many keys (for paging). Default: all. */
  take?: number;
  /** Skip this many keys first (for paging). Default 0. */
  skip?: number;
}

/**
 * Options of `ApiKeyService.rotate()`.
 *
 * @publicApi
 */
export interface RotateApiKeyOptions {
  /**
   * Milliseconds the old key keeps working, so clients can switch without downtime.
   * `0` revokes it at once. The old key never gains time: an earlier expiry is kept.
   */
  gracePeriod: number;
}

/**
 * Result of `ApiKeyService.rotate()`: the new key (plaintext shown once) and the old one as it now stands.
 *
 * @publicApi
 */
export interface RotatedApiKey<T extends AbstractApiKey = ApiKey> extends CreatedApiKey<T> {
  previous: T;
}

/**
 * Whether the database refused the row itself (a constraint or a bad value), as opposed to
 * failing to run the statement at all. Only the server's verdict counts: a driver error with
 * no SQL state (closed connection, socket reset) or one of the connection and resource classes
 * (08, 53, 57, 58; SQLite's busy and I/O codes) is an outage.
 */
function isRowRejected(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = (
    error as QueryFailedError & { driverError?: { sqlState?: unknown; code?: unknown } }
  ).driverError;
  const state = driverError?.sqlState ?? driverError?.code;
  if (typeof state !== 'string') return false;
  if (state.startsWith('SQLITE_')) return /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(state);
  return /^[0-9A-Z]{5}$/.test(state) && !/^(08|53|57|58)/.test(state);
}
/** A bcrypt verifier is always available so keys hashed by the default survive a switch of hasher. */
const BCRYPT_VERIFIER = new BcryptApiKeyHasher({ cost: 10 });

/**
 * Creates, looks up, verifies and revokes API keys of one registration.
 *
 * Verification reads the key's row on every call (unless `rowCacheTtl` is set), so a
 * revocation or expiry made anywhere applies to the very next request. The slow hash runs
 * once per key and process: later calls compare a SHA-256 digest of the presented key in
 * constant time against the memoised one, tied to the stored hash it was checked against.
 *
 * @publicApi
 */
@Injectable()
export class ApiKeyService<T extends AbstractApiKey = ApiKey> implements BeforeApplicationShutdown {
  protected readonly logger = new Logger('ApiKeyService');
  /** Successful checks: key id to the hash they were checked against and the key's digest. */
  private readonly memo: LruMap<string, { hashedKey: string; digest: Buffer }>;
  /** Recent failed checks, by key id and digest, so a repeated bad secret costs no hash. */
  private readonly failures: LruMap<string, string>;
  private readonly rowCache: LruMap<string, StoredApiKeyRow<T> & { until: number }>;
  private readonly limiter: ConcurrencyLimiter;
  /** Slow checks in progress, by key id, digest and stored hash, shared by identical requests. */
  private readonly slowChecks = new Map<string, Promise<boolean>>();
  private readonly usage: ApiKeyUsageRecorder<T> | null;
  private readonly lookup: ApiKeyPrefixLookup<T>;

  constructor(
    @Inject(getApiKeyOptionsToken()) readonly options: ResolvedApiKeyOptions<T>,
    @Inject(getApiKeyRepositoryToken()) protected readonly repository: Repository<T>,
  ) {
    this.memo = new LruMap(options.verificationMemo ? options.verificationMemo.maxEntries : 0);
    this.failures = new LruMap(options.coldPath.failureMemoEntries);
    this.rowCache = new LruMap(options.rowCacheTtl > 0 ? 10_000 : 0);
    this.limiter = new ConcurrencyLimiter(
      options.coldPath.maxConcurrent,
      options.coldPath.maxQueued,
      options.coldPath.maxQueuedPerKey,
    );
    this.usage = options.usageTracking
      ? new ApiKeyUsageRecorder(repository, options.usageTracking.interval)
      : null;
    this.lookup = new ApiKeyPrefixLookup(repository, options.usableWhere);
  }

  /**
   * Makes a key and stores its hash. The returned `key` is the only copy of the plaintext.
   *
   * @throws {ApiKeyValidationError} if the name, scopes, expiry or extra fields are not acceptable
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be written
   */
  async create(input: CreateApiKeyInput<T>): Promise<CreatedApiKey<T>> {
    const { name, expiresAt = null, scopes = [], ...extra } = (input ?? {}) as CreateApiKeyInput<T>;
    if (typeof name !== 'string' || name.trim() === '' || name.length > 100) {
      throw new ApiKeyValidationError('A key needs a name of 1 to 100 characters.');
    }
    if (!Array.isArray(scopes) || !scopes.every(isScope)) {
      throw new ApiKeyValidationError(
        'Scopes must be strings of letters, digits and ":._-" (1 to 100 characters each).',
      );
    }
    const now = this.options.clock();
    if (expiresAt !== null && (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime()))) {
      throw new ApiKeyValidationError('expiresAt must be a valid Date or null.');
    }
    if (expiresAt !== null && expiresAt.getTime() <= now.getTime()) {
      throw new ApiKeyValidationError(
        `expiresAt (${expiresAt.toISOString()}) is not in the future.`,
      );
    }
    for (const field of MANAGED_FIELDS) {
      if (field in extra)
        throw new ApiKeyValidationError(`${field} is set by the service and cannot be given.`);
    }

    for (let attempt = 1; ; attempt++) {
      const { key, prefix } = generateKey(this.options.brand);
      const apiKey = this.repository.create({
        ...(extra as object),
        id: randomUUID(),
        prefix,
        hashedKey: await this.options.hasher.hash(key),
        name,
        scopes: [...new Set(scopes)],
        createdAt: now,
        expiresAt,
        revokedAt: null,
        lastUsedAt: null,
      } as unknown as T);
      try {
        await this.repository.insert(apiKey as any);
      } catch (error) {
        // 62^8 prefixes make a clash very unlikely, but the unique index is the arbiter: retry on one.
        if (
          attempt < 3 &&
          (await this.repository.existsBy({ prefix } as FindOptionsWhere<T>).catch(() => false))
        )
          continue;
        // A constraint the row breaks (a missing owner, say) is the caller's to fix, not an outage.
        if (isRowRejected(error))
          throw new ApiKeyValidationError(
            `The key could not be stored: ${(error as Error).message}`,
          );
        throw this.storeError('create an API key', error);
      }
      delete (apiKey as Partial<T>).hashedKey;
      return { apiKey, key };
    }
  }

  /**
   * Revokes a key for good. Idempotent: revoking a revoked key returns it unchanged, keeping
   * the first `revokedAt`. Takes effect on the next request in every process (in this process
   * at once even with `rowCacheTtl`).
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
      try {
        await this.repository.update(
          { id: apiKey.id, revokedAt: IsNull() } as FindOptionsWhere<T>,
          { revokedAt: this.options.clock() } as any,
        );
      } catch (error) {
        throw this.storeError('revoke an API key', error);
      }
    }
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
    const gracePeriod = options?.gracePeriod;
    if (typeof gracePeriod !== 'number' || !Number.isInteger(gracePeriod) || gracePeriod < 0) {
      throw new ApiKeyValidationError(
        'gracePeriod must be a whole number of milliseconds, 0 or more.',
      );
    }
    const old = await this.findOne(idOrPrefix, true);
    if (!old) throw new ApiKeyNotFoundError(idOrPrefix);
    const now = this.options.clock();
    if (old.revoked || old.isExpired(now))
      throw new ApiKeyValidationError(
        `API key ${old.prefix} is revoked or expired; create a new key instead.`,
      );

    const metadata = this.repository.metadata;
    const carried: Record<string, unknown> = {};
    for (const column of metadata.columns) {
      const property = column.propertyName;
      if (
        column.relationMetadata ||
        (MANAGED_FIELDS as readonly string[]).includes(property) ||
        ['name', 'scopes', 'expiresAt'].includes(property)
      )
        continue;
      carried[property] = (old as Record<string, unknown>)[property];
    }
    for (const relation of metadata.manyToOneRelations.concat(
      metadata.oneToOneRelations.filter((r) => r.isOwning),
    )) {
      const id = (old as Record<string, unknown>)[relation.propertyName];
      if (id != null)
        carried[relation.propertyName] =
          relation.inverseEntityMetadata.primaryColumns.length === 1
            ? { [relation.inverseEntityMetadata.primaryColumns[0].propertyName]: id }
            : id;
    }
    const created = await this.create({
      ...carried,
      name: old.name,
      scopes: old.scopes,
      expiresAt: old.expiresAt,
    } as CreateApiKeyInput<T>);
    let previous: T;
    if (gracePeriod === 0) {
      previous = await this.revoke(old.id);
    } else {
      const until = new Date(now.getTime() + gracePeriod);
      if (old.expiresAt === null || old.expiresAt > until) {
        try {
          await this.repository.update(
            { id: old.id } as FindOptionsWhere<T>,
            { expiresAt: until } as any,
          );
        } catch (error) {
          throw this.storeError("shorten the old key's expiry", error);
        }
      }
      this.forget(old);
      previous = (await this.findOne(old.id)) as T;
    }
    return { ...created, previous };
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
   * responses. Revoked and expired keys are refused before any hashing.
   *
   * @throws {ApiKeyStoreUnavailableError} if the key store cannot be read (never a silent pass)
   */
  async verify(key: string): Promise<ApiKeyVerification<T>> {
    const prefix = parseKey(key, this.options.brand);
    if (prefix === null) return { valid: false, reason: 'malformed' };
    const stored = await this.loadByPrefix(prefix);
    if (!stored) return { valid: false, reason: 'unknown', prefix };
    const { row, hashedKey } = stored;
    const now = this.options.clock();
    if (row.revoked) return { valid: false, reason: 'revoked', prefix };
    if (row.isExpired(now)) return { valid: false, reason: 'expired', prefix };
    if (!(await this.checkSecret(row, hashedKey, key)))
      return { valid: false, reason: 'bad_secret', prefix };
    this.usage?.record(row, now);
    return { valid: true, apiKey: row };
  }

  /**
   * Every key, newest first, without hashes.
   *
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async list(options: ListApiKeysOptions = {}): Promise<T[]> {
    const now = this.options.clock();
    const active = { revokedAt: IsNull() };
    const where = options.activeOnly
      ? ([
          { ...active, expiresAt: IsNull() },
          { ...active, expiresAt: MoreThan(now) },
        ] as FindOptionsWhere<T>[])
      : undefined;
    try {
      return await this.repository.find({
        where,
        order: { createdAt: 'DESC', id: 'ASC' } as any,
        take: options.take,
        skip: options.skip,
      });
    } catch (error) {
      throw this.storeError('list API keys', error);
    }
  }

  /**
   * One key by id or prefix, without its hash, or `null`.
   *
   * @param withRelationIds load owner relations as their ids (as `rotate()` needs)
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async findOne(idOrPrefix: string, withRelationIds = false): Promise<T | null> {
    if (typeof idOrPrefix !== 'string' || idOrPrefix.length === 0 || idOrPrefix.length > 64)
      return null;
    const where = (
      isPrefix(idOrPrefix) ? { prefix: idOrPrefix } : { id: idOrPrefix }
    ) as FindOptionsWhere<T>;
    try {
      return await this.repository.findOne({
        where,
        loadRelationIds: withRelationIds || undefined,
      });
    } catch (error) {
      throw this.storeError('read an API key', error);
    }
  }

  /** Writes pending `lastUsedAt` marks now (they are otherwise written every `usageTracking.interval`). */
  async flushUsage(): Promise<void> {
    await this.usage?.flush();
  }

  /** Writes pending `lastUsedAt` marks before the data source closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.usage?.close();
  }

  /**
   * Reads the row for a prefix, with its hash, honouring `usableWhere` and `rowCacheTtl`.
   *
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be read
   */
  protected async loadByPrefix(prefix: string): Promise<StoredApiKeyRow<T> | null> {
    const ttl = this.options.rowCacheTtl;
    const now = ttl > 0 ? this.options.clock().getTime() : 0;
    if (ttl > 0) {
      const cached = this.rowCache.get(prefix);
      if (cached && cached.until > now) return cached;
    }
    let stored: StoredApiKeyRow<T> | null;
    try {
      stored = await this.lookup.find(prefix);
    } catch (error) {
      throw this.storeError('read an API key', error);
    }
    if (!stored) return null;
    if (ttl > 0) this.rowCache.set(prefix, { ...stored, until: now + ttl });
    return stored;
  }

  /** Whether `key` matches `hashedKey`, through the memo when possible, else through a hasher. */
  private async checkSecret(row: T, hashedKey: string, key: string): Promise<boolean> {
    // One-shot: no Hash object to allocate on every request.
    const digest = hash('sha256', key, 'buffer');
    const known = this.memo.get(row.id);
    // A hash accepts one key (keys have one length, within every hasher's maxInputBytes), and the
    // memo holds the digest of the key this hash accepted: any other digest is a wrong secret,
    // refused without hashing, so wrong secrets for a key in use cost no bcrypt at all.
    if (known && known.hashedKey === hashedKey) return timingSafeEqual(known.digest, digest);
    const failureKey = `${row.id}:${digest.toString('base64')}`;
    if (this.failures.get(failureKey) === hashedKey) return false;
    // A client that opens with several requests at once has them share one slow check.
    const checkKey = `${failureKey}:${hashedKey}`;
    let check = this.slowChecks.get(checkKey);
    if (check === undefined) {
      check = this.slowCheck(row, hashedKey, key, digest, failureKey).finally(() =>
        this.slowChecks.delete(checkKey),
      );
      this.slowChecks.set(checkKey, check);
    }
    return check;
  }

  /** The hasher check of a key not memoised, bounded by the cold-path limiter; memoises the outcome. */
  private async slowCheck(
    row: T,
    hashedKey: string,
    key: string,
    digest: Buffer,
    failureKey: string,
  ): Promise<boolean> {
    const candidates = this.hashersFor(hashedKey);
    if (candidates.length === 0) {
      this.logger.error(
        `API key ${row.prefix} has a stored hash no configured hasher recognises; add its hasher to legacyHashers.`,
      );
      return false;
    }
    // Several hashers can claim one format (HMAC under an old and a new secret): try each in
    // order, in one slot, so a wrong secret does not queue again for each.
    const verifiedBy = await this.limiter.run(async () => {
      for (const hasher of candidates) if (await hasher.verify(key, hashedKey)) return hasher;
      return undefined;
    }, row.id);
    if (!verifiedBy) {
      this.failures.set(failureKey, hashedKey);
      return false;
    }
    let current = hashedKey;
    if (verifiedBy !== this.options.hasher || verifiedBy.needsRehash(hashedKey)) {
      current = await this.rehash(row, hashedKey, key);
    }
    this.memo.set(row.id, { hashedKey: current, digest });
    return true;
  }

  /**
   * Hashers that recognise a stored hash, current one first. bcrypt's check does not depend on
   * the configured cost, so only the first bcrypt hasher is kept: a bad secret costs one bcrypt.
   */
  private hashersFor(hashedKey: string): ApiKeyHasher[] {
    let bcryptSeen = false;
    return [this.options.hasher, ...this.options.legacyHashers, BCRYPT_VERIFIER].filter((h) => {
      if (!h.recognizes(hashedKey)) return false;
      if (h instanceof BcryptApiKeyHasher) {
        if (bcryptSeen) return false;
        bcryptSeen = true;
      }
      return true;
    });
  }

  /** Moves a key onto the current hasher after it verified under an old one (DRF 3.0's upgrade path). */
  private async rehash(row: T, oldHash: string, key: string): Promise<string> {
    const newHash = await this.options.hasher.hash(key);
    try {
      await this.repository.update(
        { id: row.id, hashedKey: oldHash } as FindOptionsWhere<T>,
        { hashedKey: newHash } as any,
      );
      this.rowCache.delete(row.prefix);
      this.logger.log(`Re-hashed API key ${row.prefix} with ${this.options.hasher.algorithm}.`);
      return newHash;
    } catch (error) {
      // The key did verify; failing to upgrade its hash is no reason to refuse it.
      this.logger.warn(`Could not re-hash API key ${row.prefix}: ${(error as Error).message}`);
      return oldHash;
    }
  }

  private forget(apiKey: T): void {
    this.memo.delete(apiKey.id);
    this.rowCache.delete(apiKey.prefix);
  }

  private storeError(action: string, error: unknown): ApiKeyStoreUnavailableError {
    if (error instanceof ApiKeyStoreUnavailableError) return error;
    this.logger.error(`Could not ${action}: ${(error as Error)?.message ?? String(error)}`);
    return new ApiKeyStoreUnavailableError(`Could not ${action}: the key store is unavailable.`, {
      cause: error,
    });
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
