import { availableParallelism } from 'node:os';
import type { ModuleMetadata, Provider, Type } from '@nestjs/common';
import {
  getMetadataArgsStorage,
  type DataSource,
  type DataSourceOptions,
  type FindOptionsWhere,
} from 'typeorm';
import { DEFAULT_API_KEY_NAME } from './api-key.constants.js';
import { AbstractApiKey, ApiKey } from './api-key.entity.js';
import { ApiKeyConfigurationError } from './api-key.errors.js';
import { BRAND_PATTERN, keyLength } from './api-key.format.js';
import { BcryptApiKeyHasher, type ApiKeyHasher } from './api-key.hasher.js';

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
   * Milliseconds a looked-up key row may be served from a per-process cache without reading
   * the database. A revocation made by another process then takes up to this long to apply
   * (a revoke in this process applies at once). It also applies during a database outage: a
   * key whose row was read less than this long ago is judged on that row, so a valid key is let
   * in; a request that needs a read gets 503. Default `0`: every request reads the row, so an
   * outage lets no request in.
   */
  rowCacheTtl?: number;
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
  rowCacheTtl: number;
}

/** Every key option, for the README completeness check. */
export const KEY_OPTIONS: ReadonlyArray<keyof ApiKeyOptions> = [
  'header',
  'keyword',
  'brand',
  'hasher',
  'legacyHashers',
  'usableWhere',
  'clock',
  'realm',
  'verificationMemo',
  'coldPath',
  'usageTracking',
  'rowCacheTtl',
];
/** Options of forRoot that shape the module rather than key handling. */
export const REGISTRATION_OPTIONS: ReadonlyArray<keyof ApiKeyModuleOptions> = [
  'name',
  'entity',
  'dataSource',
  'isGlobal',
];

/** RFC 9110 token characters: what a header name or an auth scheme may be made of. */
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function fail(option: string, problem: string, fix: string): never {
  throw new ApiKeyConfigurationError(option, problem, fix);
}

function positiveInteger(
  option: string,
  value: unknown,
  fallback: number,
  allowZero = false,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    fail(
      option,
      `expected ${allowZero ? 'a non-negative' : 'a positive'} integer, got ${JSON.stringify(value)}.`,
      `set ${option} to a whole number${allowZero ? ' (0 to disable)' : ' of 1 or more'}.`,
    );
  }
  return value;
}

function isHasher(value: unknown): value is ApiKeyHasher {
  const h = value as ApiKeyHasher;
  return (
    !!h &&
    ['hash', 'verify', 'recognizes', 'needsRehash'].every(
      (m) => typeof (h as any)[m] === 'function',
    )
  );
}

function objectOrFalse(option: string, value: unknown): Record<string, unknown> | false {
  if (value === false) return false;
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(
      option,
      `expected an object or false, got ${JSON.stringify(value)}.`,
      `pass { ... } to configure it or false to turn it off.`,
    );
  }
  return value as Record<string, unknown>;
}

function refuseUnknown(option: string, value: Record<string, unknown>, known: string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      fail(
        `${option}.${key}`,
        'is not an option.',
        `remove it, or use one of: ${known.join(', ')}.`,
      );
  }
}

/**
 * Checks the registration fields given to `forRoot`/`forRootAsync`, before the module is built.
 *
 * @throws {ApiKeyConfigurationError} naming the field and the fix
 */
export function validateRegistration<T extends AbstractApiKey>(
  registration: Pick<ApiKeyModuleOptions<T>, 'name' | 'entity'>,
): { name: string; entity: Type<T> } {
  const name = registration.name ?? DEFAULT_API_KEY_NAME;
  if (typeof name !== 'string' || !/^[A-Za-z0-9_-]+$/.test(name)) {
    fail(
      'name',
      `${JSON.stringify(name)} is not a valid registration name.`,
      'use letters, digits, "_" or "-", e.g. "partner".',
    );
  }
  const entity = (registration.entity ?? ApiKey) as Type<T>;
  if (typeof entity !== 'function' || !(entity.prototype instanceof AbstractApiKey)) {
    fail(
      'entity',
      `${String((entity as any)?.name ?? entity)} does not extend AbstractApiKey.`,
      'declare your key entity as `class MyKey extends AbstractApiKey` with @Entity().',
    );
  }
  if (!getMetadataArgsStorage().tables.some((table) => table.target === entity)) {
    fail(
      'entity',
      `${entity.name} is not decorated with @Entity().`,
      `add @Entity('your_table') to ${entity.name}.`,
    );
  }
  return { name, entity };
}

/**
 * Validates key options and fills in defaults. Runs inside the options provider, so
 * `forRoot` and every `forRootAsync` form fail the same way, at boot.
 *
 * @throws {ApiKeyConfigurationError} naming the option at fault and the fix
 */
export function resolveApiKeyOptions<T extends AbstractApiKey>(
  options: ApiKeyOptions<T> | undefined | null,
  registration: { name: string; entity: Type<T> },
  allowRegistrationFields = false,
): ResolvedApiKeyOptions<T> {
  if (options == null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    fail(
      'options',
      `expected an object, got ${JSON.stringify(options)}.`,
      'return an options object (or {}) from your factory.',
    );
  }
  const known = allowRegistrationFields ? [...KEY_OPTIONS, ...REGISTRATION_OPTIONS] : KEY_OPTIONS;
  for (const key of Object.keys(options)) {
    if ((REGISTRATION_OPTIONS as string[]).includes(key) && !allowRegistrationFields) {
      fail(
        key,
        'cannot be returned by an async options factory, because it changes which providers exist.',
        `pass ${key} at the top level of forRootAsync({ ${key}, useFactory }).`,
      );
    }
    if (!(known as string[]).includes(key)) {
      fail(key, 'is not an ApiKeyModule option.', `remove it, or use one of: ${known.join(', ')}.`);
    }
    // null is never a default in disguise: a value someone meant to set and did not is refused.
    if ((options as Record<string, unknown>)[key] === null) {
      fail(key, 'is null.', `set a value, or leave ${key} out to use its default.`);
    }
  }

  let header: string | null = null;
  if (options.header !== undefined) {
    if (typeof options.header !== 'string' || !HTTP_TOKEN.test(options.header)) {
      fail(
        'header',
        `${JSON.stringify(options.header)} is not a valid header name.`,
        'use a header name such as "X-Api-Key".',
      );
    }
    if (options.header.toLowerCase() === 'authorization') {
      fail(
        'header',
        'cannot be Authorization.',
        'leave header unset to read `Authorization: <keyword> <key>`, and set keyword for another scheme.',
      );
    }
    header = options.header.toLowerCase();
  }
  const keyword = options.keyword ?? 'Api-Key';
  if (typeof keyword !== 'string' || !HTTP_TOKEN.test(keyword)) {
    fail(
      'keyword',
      `${JSON.stringify(keyword)} is not a valid authorization scheme.`,
      'use a single word such as "Api-Key" or "Bearer".',
    );
  }
  const brand = options.brand ?? '';
  if (typeof brand !== 'string' || !BRAND_PATTERN.test(brand)) {
    fail(
      'brand',
      `${JSON.stringify(brand)} is not allowed.`,
      'use at most 32 letters, digits, "_" or "-", e.g. "sk_live_".',
    );
  }
  const hasher = options.hasher ?? new BcryptApiKeyHasher();
  if (!isHasher(hasher)) {
    fail(
      'hasher',
      'does not implement ApiKeyHasher (hash, verify, recognizes, needsRehash).',
      'pass new BcryptApiKeyHasher(), new HmacSha256ApiKeyHasher({ secret }) or your own ApiKeyHasher.',
    );
  }
  const legacyHashers = options.legacyHashers ?? [];
  if (!Array.isArray(legacyHashers) || !legacyHashers.every(isHasher)) {
    fail(
      'legacyHashers',
      'must be an array of ApiKeyHasher.',
      'pass e.g. [new BcryptApiKeyHasher()] or leave it unset.',
    );
  }
  for (const h of [hasher, ...legacyHashers]) {
    if (h.maxInputBytes !== undefined && keyLength(brand) > h.maxInputBytes) {
      fail(
        'brand',
        `makes keys ${keyLength(brand)} bytes long, but ${h.algorithm} only reads the first ${h.maxInputBytes}; the rest of the secret would be ignored.`,
        `shorten brand to at most ${h.maxInputBytes - keyLength('')} characters, or use HmacSha256ApiKeyHasher.`,
      );
    }
  }
  if (
    options.usableWhere !== undefined &&
    (typeof options.usableWhere !== 'object' ||
      options.usableWhere === null ||
      Array.isArray(options.usableWhere))
  ) {
    fail(
      'usableWhere',
      'must be a TypeORM where object.',
      'pass e.g. { partner: { active: true } }.',
    );
  }
  if (options.clock !== undefined && typeof options.clock !== 'function') {
    fail('clock', 'must be a function returning a Date.', 'pass e.g. () => new Date().');
  }
  const realm = options.realm ?? 'api';
  if (
    typeof realm !== 'string' ||
    !/^[\x20-\x7e]*$/.test(realm) ||
    realm.includes('"') ||
    realm.includes('\\')
  ) {
    fail(
      'realm',
      `${JSON.stringify(realm)} cannot be put in a WWW-Authenticate header.`,
      'use printable ASCII without quotes or backslashes.',
    );
  }

  const memo = objectOrFalse('verificationMemo', options.verificationMemo);
  if (memo) refuseUnknown('verificationMemo', memo, ['maxEntries']);
  const cold = objectOrFalse('coldPath', options.coldPath);
  if (cold === false)
    fail(
      'coldPath',
      'cannot be turned off.',
      'pass { maxConcurrent, maxQueued, maxQueuedPerKey, failureMemoEntries } or leave it unset.',
    );
  refuseUnknown('coldPath', cold, [
    'maxConcurrent',
    'maxQueued',
    'maxQueuedPerKey',
    'failureMemoEntries',
  ]);
  const usage = objectOrFalse('usageTracking', options.usageTracking);
  if (usage) refuseUnknown('usageTracking', usage, ['interval']);

  return {
    name: registration.name,
    entity: registration.entity,
    header,
    keyword,
    brand,
    hasher,
    legacyHashers,
    usableWhere: (options.usableWhere as FindOptionsWhere<T> | undefined) ?? null,
    clock: options.clock ?? (() => new Date()),
    realm,
    verificationMemo: memo && {
      maxEntries: positiveInteger('verificationMemo.maxEntries', memo.maxEntries, 10_000),
    },
    coldPath: {
      maxConcurrent: positiveInteger(
        'coldPath.maxConcurrent',
        cold.maxConcurrent,
        defaultColdConcurrency(),
      ),
      maxQueued: positiveInteger('coldPath.maxQueued', cold.maxQueued, 100, true),
      maxQueuedPerKey: positiveInteger('coldPath.maxQueuedPerKey', cold.maxQueuedPerKey, 10, true),
      failureMemoEntries: positiveInteger(
        'coldPath.failureMemoEntries',
        cold.failureMemoEntries,
        10_000,
        true,
      ),
    },
    usageTracking: usage && {
      interval: positiveInteger('usageTracking.interval', usage.interval, 60_000),
    },
    rowCacheTtl: positiveInteger('rowCacheTtl', options.rowCacheTtl, 0, true),
  };
}

/**
 * Default `coldPath.maxConcurrent`: one less than the CPU cores, so hashing never takes the
 * event loop's core, and at most 2, so it never takes more than half of libuv's default 4
 * threads; at least 1.
 */
export function defaultColdConcurrency(cores: number = availableParallelism()): number {
  return Math.max(1, Math.min(2, cores - 1));
}
