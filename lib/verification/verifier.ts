import { hash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import type { FindOptionsWhere, Repository } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { BcryptApiKeyHasher, type ApiKeyHasher } from '../keys/hasher.js';
import { compareSecretTag, secretTagFor } from '../keys/secret-tag.js';
import { withinStoreTimeout } from '../store/deadline.js';
import { ConcurrencyLimiter } from './limiter.js';
import { LruMap } from './lru.js';
import type { ResolvedApiKeyOptions } from '../api-key.options.js';

/** Checks bcrypt hashes whatever the configured hashers (see "Legacy hashers" on the class). */
const BCRYPT_VERIFIER = new BcryptApiKeyHasher({ cost: 10 });

/** How long a key that failed a slow check has its further checks deferred, in ms. */
const SUSPECT_WINDOW = 60_000;
/** Keys remembered as having failed a slow check recently. */
const SUSPECT_ENTRIES = 10_000;

/**
 * The presented key's digest as bytes, for the memo's and the tag's constant-time comparisons.
 * Written and compared with no `await` between, so one buffer serves every check without an
 * allocation.
 */
const presentedDigest = Buffer.alloc(32);

/**
 * The presented key's SHA-256 digest, one-shot and as text: neither a Hash object nor a Buffer
 * is allocated on every request (a Buffer costs twice the hash), and the failure memo keys on
 * the text as it is.
 */
const digestOf = (key: string): string => hash('sha256', key, 'base64');

/**
 * What a check found: the right secret, a wrong one, or none checked because the key's share of
 * the cold-path queue is full of other secrets (see "Cold-path limiter" on `ApiKeyVerifier`).
 */
export type ApiKeyCheckOutcome = 'verified' | 'bad_secret' | 'flooded';

/** What the verifier needs besides the options: where to re-hash, where to log, whom to tell. */
export interface ApiKeyVerifierDependencies<T extends AbstractApiKey> {
  repository: Repository<T>;
  logger: Logger;
  /** Called after a key's stored hash or tag was replaced, so copies of the old row can be dropped. */
  onRehashed: (row: T) => void;
}

/**
 * Decides whether a presented key matches a row's stored hash, paying for the slow hash as
 * rarely as is safe. Internal to `ApiKeyService`, which reads the row and applies revocation
 * and expiry first; this class only answers "is this the secret".
 *
 * - **Secret tag.** A row may hold, beside its hash, 32 bits of its key's SHA-256 (bound to that
 *   hash; see `keys/secret-tag.ts`). A key whose bits differ is a wrong secret, refused before
 *   the slow hash and its queue, without being remembered as a failure: so guesses at a known
 *   prefix cost what an unknown prefix costs, and never delay nor crowd out the key's own checks.
 *   Only a key with the right 32 bits (the right key, or one guess in 2^32) reaches the hasher.
 *   A row without a tag (stored before tags) gains one when its key next verifies.
 * - **Success memo.** A stored hash accepts exactly one key (keys have one length, within every
 *   hasher's `maxInputBytes`), so once a key verified, its SHA-256 digest is kept by key id
 *   together with the hash it verified against. Later requests compare digests in constant time
 *   instead of hashing, and any other digest is a wrong secret refused without hashing: wrong
 *   secrets for a key in use cost no bcrypt at all. The entry applies only while the row still
 *   holds that hash, so a secret changed elsewhere is hashed again, not trusted.
 * - **Failure memo.** A recent wrong secret is remembered by key id, digest and stored hash, so
 *   a client retrying the same bad key costs one hash, not one per request.
 * - **Single flight.** Identical checks in progress (same key id, digest and stored hash) share
 *   one promise, so a client that opens with several requests at once pays for one hash.
 * - **Cold-path limiter.** Hashing runs under a `ConcurrencyLimiter` grouped by key id: slow
 *   hashes cannot take every libuv thread, checks queue within bounds, and keys take turns, a
 *   key's first check going before keys that have had one. A check is deferred when its key
 *   is already being checked for another secret, or failed a slow check in the last minute and
 *   has not verified since: it gets a slot only when no other key waits, and deferred checks
 *   hold at most half the queue, so wrong secrets spread over known prefixes cannot keep new
 *   keys waiting.
 * - **Refusals.** When the queue is full of other keys' checks the request gets a 503: its key
 *   may be right, so it is told to come back. When the refusal is the key's own doing (its share
 *   of the queue, or the deferred share, is full) and the key has not verified in this process,
 *   the answer is `flooded`, a 401: that many distinct secrets for one key are mostly wrong (a
 *   client's own repeats share one check), and a 503 there would tell an attacker that the
 *   prefix belongs to an active key where an unknown or revoked one answers 401.
 * - **Legacy hashers.** Every hasher that recognises the stored format is tried, current one
 *   first, in one limiter slot. bcrypt hashes are checked even when no configured hasher is
 *   bcrypt, so keys made under the default survive a switch of hasher.
 * - **Re-hash.** A key that verified under an old hasher, or under the current one with outdated
 *   parameters, is moved onto the current hasher (DRF API Key 3.0's upgrade path).
 */
export class ApiKeyVerifier<T extends AbstractApiKey> {
  /** Successful checks: key id to the hash they were checked against and the key's digest. */
  private readonly memo: LruMap<string, { hashedKey: string; digest: Buffer }>;
  /** Recent failed checks: key id and digest to the hash they failed against. */
  private readonly failures: LruMap<string, string>;
  /** Slow checks in progress, by key id, digest and stored hash. */
  private readonly slowChecks = new Map<string, Promise<ApiKeyCheckOutcome>>();
  /** Keys whose last slow check failed: key id to when, by the configured clock. */
  private readonly suspects = new LruMap<string, number>(SUSPECT_ENTRIES);
  private readonly limiter: ConcurrencyLimiter;

  constructor(
    private readonly options: ResolvedApiKeyOptions<T>,
    private readonly dependencies: ApiKeyVerifierDependencies<T>,
  ) {
    this.memo = new LruMap(options.verificationMemo ? options.verificationMemo.maxEntries : 0);
    this.failures = new LruMap(options.coldPath.failureMemoEntries);
    this.limiter = new ConcurrencyLimiter(
      options.coldPath.maxConcurrent,
      options.coldPath.maxQueued,
      options.coldPath.maxQueuedPerKey,
    );
  }

  /**
   * Whether `key` is the secret `hashedKey` was made from: through the memos when they know,
   * else through the hashers, one check per distinct request in flight.
   *
   * @param row the key's row, for its id and prefix
   * @throws {ApiKeyStoreUnavailableError} if the cold-path queue is full of other keys' checks
   */
  check(
    row: T,
    hashedKey: string,
    key: string,
    secretTag: string | null = null,
  ): Promise<ApiKeyCheckOutcome> {
    const digest = digestOf(key);
    const known = this.checkMemoised(row, hashedKey, digest, secretTag);
    return known === undefined
      ? this.checkOnce(row, hashedKey, key, digest, secretTag)
      : Promise.resolve(known);
  }

  /**
   * What the memos and the secret tag already tell of `key` against `hashedKey`, decided at once
   * with no hashing and no wait: `verified` or `bad_secret`, or `undefined` when only `check()`
   * can tell.
   */
  checkAtOnce(
    row: T,
    hashedKey: string,
    key: string,
    secretTag: string | null = null,
  ): 'verified' | 'bad_secret' | undefined {
    return this.checkMemoised(row, hashedKey, digestOf(key), secretTag);
  }

  /** The answer known without hashing: the success memo, then the secret tag, then recent failures. */
  private checkMemoised(
    row: T,
    hashedKey: string,
    digest: string,
    secretTag: string | null,
  ): 'verified' | 'bad_secret' | undefined {
    presentedDigest.write(digest, 'base64');
    const known = this.memo.get(row.id);
    if (known && known.hashedKey === hashedKey)
      return timingSafeEqual(known.digest, presentedDigest) ? 'verified' : 'bad_secret';
    // Not remembered as a failure nor as a suspect: it cost nothing, and must not defer the key.
    if (compareSecretTag(secretTag, presentedDigest, hashedKey) === 'mismatch') return 'bad_secret';
    return this.failures.get(`${row.id}:${digest}`) === hashedKey ? 'bad_secret' : undefined;
  }

  /** The slow check of a key the memos do not know, shared by identical checks in flight. */
  private checkOnce(
    row: T,
    hashedKey: string,
    key: string,
    digest: string,
    secretTag: string | null,
  ): Promise<ApiKeyCheckOutcome> {
    presentedDigest.write(digest, 'base64');
    const tagged = compareSecretTag(secretTag, presentedDigest, hashedKey) === 'match';
    const failureKey = `${row.id}:${digest}`;
    const checkKey = `${failureKey}:${hashedKey}`;
    let check = this.slowChecks.get(checkKey);
    if (check === undefined) {
      check = this.slowCheck(row, hashedKey, key, digest, failureKey, tagged).finally(() =>
        this.slowChecks.delete(checkKey),
      );
      this.slowChecks.set(checkKey, check);
    }
    return check;
  }

  /** Checks waiting for a slot on the cold path, for the metrics gauge. */
  get queued(): number {
    return this.limiter.queued;
  }

  /** Drops what is memoised for a key, so its next check reads nothing from before. */
  forget(id: string): void {
    this.memo.delete(id);
  }

  /**
   * The hasher check of a key not memoised, bounded by the cold-path limiter; memoises the
   * outcome, and stores the key's tag after a success when the row had none for its hash.
   *
   * @param tagged whether the row's tag, for this hash, matched the key
   */
  private async slowCheck(
    row: T,
    hashedKey: string,
    key: string,
    digest: string,
    failureKey: string,
    tagged: boolean,
  ): Promise<ApiKeyCheckOutcome> {
    const candidates = this.hashersFor(hashedKey);
    if (candidates.length === 0) {
      this.dependencies.logger.error(
        `API key ${row.prefix} has a stored hash no configured hasher recognises; add its hasher to legacyHashers.`,
      );
      return 'bad_secret';
    }
    // A client's own repeats share one check, so another secret for a key already being
    // checked is someone else's guess: it waits behind keys checked for the first time.
    const deferred = this.limiter.isBusy(row.id) || this.isSuspect(row.id);
    if (this.limiter.refusal(row.id, deferred) === 'group' && !this.verifiedHere(row.id))
      return 'flooded';
    // Several hashers can claim one format (HMAC under an old and a new secret): one slot for
    // all of them, so a wrong secret does not queue again for each.
    const verifiedBy = await this.limiter.run(
      async () => {
        for (const hasher of candidates) if (await hasher.verify(key, hashedKey)) return hasher;
        return undefined;
      },
      row.id,
      deferred,
    );
    if (!verifiedBy) {
      this.failures.set(failureKey, hashedKey);
      this.suspects.set(row.id, this.options.clock().getTime());
      return 'bad_secret';
    }
    this.suspects.delete(row.id);
    const keyDigest = Buffer.from(digest, 'base64');
    let current = hashedKey;
    if (verifiedBy !== this.options.hasher || verifiedBy.needsRehash(hashedKey)) {
      current = await this.rehash(row, hashedKey, key, keyDigest);
    } else if (!tagged) {
      await this.storeTag(row, hashedKey, keyDigest);
    }
    this.memo.set(row.id, { hashedKey: current, digest: keyDigest });
    return 'verified';
  }

  /** Whether a key failed a slow check within the last `SUSPECT_WINDOW` and has not verified since. */
  private isSuspect(id: string): boolean {
    const failedAt = this.suspects.get(id);
    return failedAt !== undefined && this.options.clock().getTime() - failedAt < SUSPECT_WINDOW;
  }

  /**
   * Whether a key verified in this process, so a refusal might turn away its rightful client.
   * Without the memo there is no telling, so every key counts as verified.
   */
  private verifiedHere(id: string): boolean {
    return this.options.verificationMemo === false || this.memo.get(id) !== undefined;
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

  /**
   * Stores the key's hash from the current hasher, with its tag; returns the hash the row now
   * holds.
   */
  private async rehash(row: T, oldHash: string, key: string, keyDigest: Buffer): Promise<string> {
    const newHash = await this.options.hasher.hash(key);
    const stored = await this.updateRow(row, oldHash, 're-hash', {
      hashedKey: newHash,
      secretTag: secretTagFor(keyDigest, newHash),
    });
    if (!stored) return oldHash;
    this.dependencies.logger.log(
      `Re-hashed API key ${row.prefix} with ${this.options.hasher.algorithm}.`,
    );
    return newHash;
  }

  /** Stores the tag of a key that verified against `hashedKey` (none for an HMAC hash). */
  private async storeTag(row: T, hashedKey: string, keyDigest: Buffer): Promise<void> {
    const secretTag = secretTagFor(keyDigest, hashedKey);
    if (secretTag !== null) await this.updateRow(row, hashedKey, 'tag', { secretTag });
  }

  /**
   * Writes `values` to the key's row if it still holds `oldHash`, within `storeTimeout`; says
   * whether the write went through.
   *
   * @param what the write, for the warning if it fails
   */
  private async updateRow(
    row: T,
    oldHash: string,
    what: string,
    values: { hashedKey?: string; secretTag: string | null },
  ): Promise<boolean> {
    const { repository, logger, onRehashed } = this.dependencies;
    try {
      // Conditional on the old hash, so a secret changed meanwhile by another process is kept.
      await withinStoreTimeout(
        repository.update({ id: row.id, hashedKey: oldHash } as FindOptionsWhere<T>, values as any),
        this.options.storeTimeout,
      );
      onRehashed(row);
      return true;
    } catch (error) {
      // The key did verify; failing to upgrade its row is no reason to refuse it.
      logger.warn(`Could not ${what} API key ${row.prefix}: ${(error as Error).message}`);
      return false;
    }
  }
}
