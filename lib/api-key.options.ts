import type {
  ApiKeyExpiryNoticeOptions,
  ResolvedExpiryNotices,
} from './policies/expiry-notices.js';
import type { ApiKeyMaxLifetime, ResolvedMaxLifetime } from './policies/max-lifetime.js';
import type { ModuleMetadata, Provider, Type } from '@nestjs/common';
import type { DataSource, DataSourceOptions, FindOptionsWhere } from 'typeorm';
import type { AbstractApiKey } from './api-key.entity.js';
import type { ApiKeyFormat } from './keys/format.js';
import type { ApiKeyHasher } from './keys/hasher.js';

/*
 * The types of every option of `ApiKeyModule`, and nothing else: their defaults, checks and
 * resolution live in `./options/resolve.ts`.
 */

/**
 * How keys are read, hashed and checked. Every field is optional; defaults are given per field.
 * Unknown fields are refused at boot, so a typo cannot silently switch a protection off.
 *
 * @publicApi
 */
export interface ApiKeyOptions<T extends AbstractApiKey = AbstractApiKey> {
  /**
   * Read the key raw from this header (e.g. `X-Api-Key`) instead of `Authorization`. When set,
   * `Authorization` is ignored entirely, as DRF API Key's `API_KEY_CUSTOM_HEADER`.
   * Default: unset, keys come from `Authorization: <keyword> <key>`.
   */
  header?: string;
  /**
   * Scheme expected in `Authorization: <keyword> <key>`, matched exactly and case-insensitively.
   * Default `Api-Key`; `Bearer` is common for tools that only speak bearer tokens.
   */
  keyword?: string;
  /**
   * Fixed text in front of every key, such as `sk_live_`, so leaked keys are easy to spot
   * and to scan for. Letters, digits, `_` and `-`, at most 32. Default `''`.
   */
  brand?: string;
  /**
   * Shape of the keys `create()` and `rotate()` make: `'checksummed'`
   * (`<brand>v1_<prefix>_<secret><checksum>`, which scanners can find and confirm offline and
   * whose typos are refused before any database read) or `'plain'` (`<brand><prefix>.<secret>`).
   * Keys of both shapes verify whatever this says. Default `'plain'`, so upgrading changes no
   * key an app hands out; new apps should choose `'checksummed'`.
   */
  keyFormat?: ApiKeyFormat;
  /** Hashes keys at rest. Default `new BcryptApiKeyHasher({ cost: 10 })`. */
  hasher?: ApiKeyHasher;
  /**
   * Hashers that made hashes you still have in the table. A key whose hash one of them
   * recognises still verifies, and is re-hashed with `hasher` on that success. bcrypt is
   * always recognised, so switching from the default to HMAC needs nothing here.
   */
  legacyHashers?: ApiKeyHasher[];
  /**
   * Extra conditions a key row must meet to be usable, as a TypeORM `where` (relations
   * allowed), e.g. `{ partner: { active: true } }` to refuse keys of inactive owners. This is
   * DRF API Key's `get_usable_keys` hook; it is checked in the same query as the lookup.
   */
  usableWhere?: FindOptionsWhere<T>;
  /** Source of the current time; inject a fake in tests instead of sleeping. Default `() => new Date()`. */
  clock?: () => Date;
  /** Realm named in `WWW-Authenticate` on a 401. Default `api`. */
  realm?: string;
  /**
   * Per-process memo of successful verifications, so a key pays for the slow hash once, not
   * on every request. Entries are least-recently-used evicted. Default `{ maxEntries: 10000 }`;
   * `false` turns it off (every request then runs the hasher).
   */
  verificationMemo?: { maxEntries?: number } | false;
  /** Bounds on slow-hash work for keys not yet memoised. */
  coldPath?: {
    /**
     * Slow checks run at once, at most. Default: one less than the CPU cores, between 1 and 2,
     * so hashing leaves a core to the event loop and libuv threads to file and DNS work.
     */
    maxConcurrent?: number;
    /**
     * Checks waiting for a slot, at most; beyond it the request gets 503. Checks made to wait
     * until no other key does (see `maxQueuedPerKey`) may hold half of it; beyond that half they
     * are refused as beyond `maxQueuedPerKey`. Default 100.
     */
    maxQueued?: number;
    /**
     * Checks of one key waiting for a slot, at most. Beyond it the request gets 401 unchecked
     * (reason `flooded`) if the key has not verified in this process, else 503. One key's checks
     * run one at a time, keys take turns, a key's first check goes before keys that have had one,
     * and another secret for a key already being checked, or for a key that failed a check in the
     * last minute, waits until no other key does, so wrong secrets aimed at known prefixes cannot
     * hold up new keys. Default 10.
     */
    maxQueuedPerKey?: number;
    /** Recent failed (prefix, secret) pairs remembered so a repeated bad secret costs no hash. Default 10000. */
    failureMemoEntries?: number;
  };
  /**
   * Record `lastUsedAt` at most once per key per `interval` ms, off the request path, in
   * batches, flushed at shutdown. Default `{ interval: 60000 }`; `false` turns tracking off.
   */
  usageTracking?: { interval?: number } | false;
  /**
   * Counts per key, per hour and by outcome (`ok`, `unauthorized`, `forbidden`, `usage_exceeded`,
   * `rate_limited`, and `unknown` per registration), kept in memory and added to the
   * `api_key_usage` table by one statement per `flushInterval` ms (default 60000), at each hour
   * boundary and at shutdown; read them with `ApiKeyService.usage()`. At most `maxPendingKeys`
   * distinct keys (default 100000) are held between writes: more ask for an early write, and while
   * the store is unavailable, counts beyond that many rows are dropped, with one logged line saying
   * how many. Counts older than `retentionDays` (default 90) are deleted. `false` turns it off.
   * See docs/usage.md.
   */
  usageAnalytics?:
    { flushInterval?: number; retentionDays?: number; maxPendingKeys?: number } | false;
  /**
   * Emit `api-key.suspicious` (and log a warning) when `threshold` wrong secrets (default 20) are
   * sent for one key within `window` ms (default 600000), once per window. `false` turns it off.
   */
  guessingAlerts?: { threshold?: number; window?: number } | false;
  /**
   * Milliseconds a key-store read or write may take before it counts as an outage: a request
   * whose key row has not come back by then gets 503 with `Retry-After`, however long the
   * database stalls, and service resumes by itself once it answers again. Also bounds the
   * service's own calls (`create`, `revoke`, `list`...), which then throw
   * `ApiKeyStoreUnavailableError` (a write that timed out may still apply), and `lastUsedAt`
   * writes, which are retried. Set your driver's connect and statement timeouts as well (see
   * docs/verification.md), so stalled connections are given up, not just stopped waiting for. Default
   * `5000`.
   */
  storeTimeout?: number;
  /**
   * Longest a key may live: `'90d'`, `'12h'`, `'2w'` or milliseconds. `create()`, `rotate()`,
   * `update()` and the admin page then refuse a key without an expiry, or with a later one,
   * naming the limit, as GitHub organisations limit fine-grained tokens. Keys made before keep
   * theirs. Default: no limit.
   */
  maxLifetime?: ApiKeyMaxLifetime;
  /**
   * Expiry notices (docs/policies.md): an `api-key.expiring` event once per key expiring within
   * `within` ms (default 7 days), from a sweep every `interval` ms (default 1 hour), and with
   * `header: true` an `API-Key-Expiration` response header. Default: off.
   */
  expiryNotices?: ApiKeyExpiryNoticeOptions | false;
  /**
   * How a change made by another process (a revoke, delete, rotation, scope or expiry update)
   * reaches this one. `'read'` (default): every request reads the key row, so a change applies
   * to the next request. `'notify'`: verified rows are cached in the process and dropped when a
   * change is heard: on PostgreSQL a trigger on the key table notifies it over one `LISTEN`
   * connection taken from the pool; on MariaDB/MySQL and SQLite triggers bump a one-row change
   * counter that each process polls every `pollInterval` ms (`{ mode: 'notify', pollInterval }`,
   * default 100), emptying its cache when it moves. Expiry is still checked against the clock
   * on every request. Trust in the cache is a lease: a row is served from memory only while the
   * channel has proved itself within `maxStaleness` ms (default 250), by a round trip every
   * `pollInterval` (a ping of the `LISTEN` connection, or a poll); past it, and while the
   * channel is down, every request reads. The triggers are created at boot when missing (or ship
   * `createApiKeyNotifyMigration()`); boot fails if they cannot be. With `usableWhere`, a
   * trigger on each table it reads empties every cache after an INSERT, DELETE or TRUNCATE there,
   * or an UPDATE of a column the condition (or a join) reads; `Raw(...)` conditions are refused.
   */
  revocationSync?: 'read' | 'notify' | ApiKeyNotifySync;
}

/**
 * How other processes' changes to a key reach this one: `'read'` (every request reads the row)
 * or `'notify'` (rows cached while a change channel keeps them current).
 *
 * @publicApi
 */
export type ApiKeyRevocationSync = 'read' | 'notify';

/**
 * `revocationSync` with settings: notify mode, with the pace of its change channel and the
 * longest it may go unproven before the cache stops serving.
 *
 * @publicApi
 */
export interface ApiKeyNotifySync {
  mode: 'notify';
  /**
   * Milliseconds between the channel's round trips: polls of the change counter on
   * MariaDB/MySQL and SQLite, pings of the `LISTEN` connection on PostgreSQL. Default 100, or
   * half of `maxStaleness` when that is smaller; it must be shorter than `maxStaleness`.
   */
  pollInterval?: number;
  /**
   * The longest, in milliseconds, a row is served from memory after the last round trip that
   * proved the channel had reported every change. It bounds what a silent partition (a black
   * hole: nothing answers, nothing is refused) can let through: a key revoked during one may
   * pass for at most this long after the link went silent, never after. Default
   * `pollInterval + 150`, so 250 with the default interval; `revocationSync: 'read'` is the
   * same with 0.
   */
  maxStaleness?: number;
}

/**
 * Options of `ApiKeyModule.forRoot()`: key handling plus where keys live.
 *
 * @publicApi
 */
export interface ApiKeyModuleOptions<
  T extends AbstractApiKey = AbstractApiKey,
> extends ApiKeyOptions<T> {
  /**
   * Registration name, for several key types side by side. Each name gets its own service
   * (`@InjectApiKeyService(name)`) and guard (`createApiKeyGuard(name)`). Default `default`.
   */
  name?: string;
  /** Key entity, a subclass of `AbstractApiKey` decorated with `@Entity`. Default `ApiKey` (`api_keys`). */
  entity?: Type<T>;
  /** TypeORM data source the entity lives in (its name, options or instance). Default: the default data source. */
  dataSource?: DataSource | DataSourceOptions | string;
  /** Make the module global, so its service and guard can be injected anywhere. Default `false`. */
  isGlobal?: boolean;
}

/**
 * A class that makes options, for `forRootAsync({ useClass })` and `useExisting`.
 *
 * @publicApi
 */
export interface ApiKeyOptionsFactory<T extends AbstractApiKey = AbstractApiKey> {
  createApiKeyOptions(): ApiKeyOptions<T> | Promise<ApiKeyOptions<T>>;
}

/**
 * Options of `ApiKeyModule.forRootAsync()`. Fields that shape the dependency graph
 * (`name`, `entity`, `dataSource`, `isGlobal`) are given here, not returned by the factory.
 *
 * @publicApi
 */
export interface ApiKeyModuleAsyncOptions<T extends AbstractApiKey = AbstractApiKey>
  extends
    Pick<ModuleMetadata, 'imports'>,
    Pick<ApiKeyModuleOptions<T>, 'name' | 'entity' | 'dataSource' | 'isGlobal'> {
  /** Factory returning the options; its arguments are the providers listed in `inject`. */
  useFactory?: (...args: any[]) => ApiKeyOptions<T> | Promise<ApiKeyOptions<T>>;
  /** Providers passed to `useFactory`. */
  inject?: any[];
  /** A class implementing `ApiKeyOptionsFactory`, instantiated by the module. */
  useClass?: Type<ApiKeyOptionsFactory<T>>;
  /** An existing provider implementing `ApiKeyOptionsFactory`, imported through `imports`. */
  useExisting?: Type<ApiKeyOptionsFactory<T>>;
  /** Providers added to the module, e.g. for `useClass` to depend on. */
  extraProviders?: Provider[];
}

/**
 * Options with every default filled in, as the service and guard see them.
 *
 * @publicApi
 */
export interface ResolvedApiKeyOptions<T extends AbstractApiKey = AbstractApiKey> {
  name: string;
  entity: Type<T>;
  header: string | null;
  keyword: string;
  brand: string;
  keyFormat: ApiKeyFormat;
  hasher: ApiKeyHasher;
  legacyHashers: ApiKeyHasher[];
  usableWhere: FindOptionsWhere<T> | null;
  clock: () => Date;
  realm: string;
  verificationMemo: { maxEntries: number } | false;
  coldPath: {
    maxConcurrent: number;
    maxQueued: number;
    maxQueuedPerKey: number;
    failureMemoEntries: number;
  };
  usageTracking: { interval: number } | false;
  usageAnalytics: { flushInterval: number; retentionDays: number; maxPendingKeys: number } | false;
  guessingAlerts: { threshold: number; window: number } | false;
  storeTimeout: number;
  /** `maxLifetime` in milliseconds, with the text naming it; `null` for no limit. */
  maxLifetime: ResolvedMaxLifetime | null;
  expiryNotices: ResolvedExpiryNotices | false;
  revocationSync: ApiKeyRevocationSync;
  /** Milliseconds between the change channel's round trips in notify mode (polls or pings). */
  revocationPollInterval: number;
  /** Milliseconds a cached row may be served after the channel last proved itself (notify mode). */
  revocationMaxStaleness: number;
}
