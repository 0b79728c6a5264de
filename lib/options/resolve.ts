/**
 * The options pipeline: every default, every check and every resolution of `ApiKeyModule`'s
 * options, in this one file. Their types are in `../api-key.options.ts`; nothing else resolves
 * an option. `forRoot`, each `forRootAsync` form and `wireApiKeys` all come through here, so a
 * misconfiguration fails the same way, at boot, with an `ApiKeyConfigurationError` naming the
 * option and the fix.
 */
import { resolveExpiryNotices, resolveMaxLifetime } from '../policies/options.js';
import { availableParallelism } from 'node:os';
import type { Type } from '@nestjs/common';
import { getMetadataArgsStorage, type FindOptionsWhere } from 'typeorm';
import { DEFAULT_API_KEY_NAME } from '../api-key.constants.js';
import { AbstractApiKey, ApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import type {
  ApiKeyModuleAsyncOptions,
  ApiKeyModuleOptions,
  ApiKeyOptions,
  ApiKeyNotifySync,
  ApiKeyRevocationSync,
  ResolvedApiKeyOptions,
} from '../api-key.options.js';
import { findRawCondition } from '../change-feed/owners.js';
import { BRAND_PATTERN, keyLength, type ApiKeyFormat } from '../keys/format.js';
import { BcryptApiKeyHasher, assertBcryptLoads, type ApiKeyHasher } from '../keys/hasher.js';
import { DEFAULT_STORE_TIMEOUT, MAX_STORE_TIMEOUT } from '../store/deadline.js';

function fail(option: string, problem: string, fix: string): never {
  throw new ApiKeyConfigurationError(option, problem, fix);
}

// ---------------------------------------------------------------------------------------------
// The option names
// ---------------------------------------------------------------------------------------------

/** One `true` per field of `T`: the compiler refuses a missing field and an extra one. */
type EveryField<T> = { [K in keyof Required<T>]: true };

/** The fields of an option that is an object or `false`. */
type NestedFields<O> = EveryField<Exclude<O, false | undefined>>;

/** The names of `fields`, whose type `satisfies` ties to an interface. */
function fieldNames<F extends Record<string, true>>(fields: F): ReadonlyArray<keyof F & string> {
  return Object.keys(fields);
}

/** Every key option, for the unknown-option check and the README completeness check. */
export const KEY_OPTIONS = fieldNames({
  header: true,
  keyword: true,
  brand: true,
  keyFormat: true,
  hasher: true,
  legacyHashers: true,
  usableWhere: true,
  clock: true,
  realm: true,
  verificationMemo: true,
  coldPath: true,
  usageTracking: true,
  usageAnalytics: true,
  guessingAlerts: true,
  storeTimeout: true,
  maxLifetime: true,
  expiryNotices: true,
  revocationSync: true,
} satisfies EveryField<ApiKeyOptions>);

/** Options of forRoot that shape the module rather than key handling. */
export const REGISTRATION_OPTIONS = fieldNames({
  name: true,
  entity: true,
  dataSource: true,
  isGlobal: true,
} satisfies EveryField<Omit<ApiKeyModuleOptions, keyof ApiKeyOptions>>);

/** Every field `forRootAsync()` takes; key options come from its factory instead. */
export const ASYNC_REGISTRATION_FIELDS = fieldNames({
  imports: true,
  useFactory: true,
  inject: true,
  useClass: true,
  useExisting: true,
  extraProviders: true,
  name: true,
  entity: true,
  dataSource: true,
  isGlobal: true,
} satisfies EveryField<ApiKeyModuleAsyncOptions>);

/** Fields of `verificationMemo`. */
export const VERIFICATION_MEMO_FIELDS = fieldNames({
  maxEntries: true,
} satisfies NestedFields<ApiKeyOptions['verificationMemo']>);

/** Fields of `coldPath`. */
export const COLD_PATH_FIELDS = fieldNames({
  maxConcurrent: true,
  maxQueued: true,
  maxQueuedPerKey: true,
  failureMemoEntries: true,
} satisfies NestedFields<ApiKeyOptions['coldPath']>);

/** Fields of `usageTracking`. */

export const USAGE_TRACKING_FIELDS = fieldNames({
  interval: true,
} satisfies NestedFields<ApiKeyOptions['usageTracking']>);

/**
 * Options that were removed, with what replaces each. A registration that still passes one stops
 * at boot naming the replacement, instead of the generic unknown-option error.
 */
const REMOVED_OPTIONS: Readonly<Record<string, { problem: string; fix: string }>> = {
  rowCacheTtl: {
    problem:
      'was removed: it let a key pass on a cached row, without a fresh answer from the store, for up to the TTL, even during an outage.',
    fix: "set revocationSync: 'notify', which caches rows only while a change channel proves them current, and reads otherwise.",
  },
};

/**
 * The known name closest to `given`, when it is a likely misspelling (a different case, or at
 * most two letters added, dropped, changed or swapped), for a "did you mean" hint.
 */
export function nearestName(given: string, known: readonly string[]): string | null {
  const lower = given.toLowerCase();
  let best: string | null = null;
  let bestDistance = Math.min(2, Math.floor(given.length / 3));
  for (const name of known) {
    const distance = editDistance(lower, name.toLowerCase());
    if (distance <= bestDistance && (best === null || distance < bestDistance)) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The fix for an unknown name: the near miss when there is one, else every known name. */
function unknownNameFix(given: string, known: readonly string[], elsewhere: string): string {
  const near = nearestName(given, known);
  return near !== null
    ? `did you mean ${near}? Otherwise ${elsewhere}`
    : `${elsewhere} one of: ${known.join(', ')}.`;
}

// ---------------------------------------------------------------------------------------------
// Registration fields: checked before the module is built
// ---------------------------------------------------------------------------------------------

function validateIsGlobal(isGlobal: unknown): void {
  if (isGlobal !== undefined && typeof isGlobal !== 'boolean') {
    fail(
      'isGlobal',
      `expected true or false, got ${JSON.stringify(isGlobal)}.`,
      'set isGlobal: true or leave it unset.',
    );
  }
}

/**
 * Checks the registration fields given to `forRoot`/`forRootAsync`, before the module is built.
 *
 * @throws {ApiKeyConfigurationError} naming the field and the fix
 */
export function validateRegistration<T extends AbstractApiKey>(
  registration: Pick<ApiKeyModuleOptions<T>, 'name' | 'entity' | 'isGlobal'>,
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
  validateIsGlobal(registration.isGlobal);
  return { name, entity };
}

/**
 * Checks the fields given to `forRootAsync`: no unknown field (key options belong in the
 * factory's result), and the registration fields as `validateRegistration` does.
 *
 * @throws {ApiKeyConfigurationError} naming the field and the fix
 */
export function validateAsyncRegistration<T extends AbstractApiKey>(
  options: ApiKeyModuleAsyncOptions<T>,
): { name: string; entity: Type<T> } {
  for (const key of Object.keys(options ?? {})) {
    if (!(ASYNC_REGISTRATION_FIELDS as readonly string[]).includes(key)) {
      fail(
        key,
        'is not a forRootAsync() field.',
        unknownNameFix(key, ASYNC_REGISTRATION_FIELDS, 'return it from useFactory, or use'),
      );
    }
  }
  return validateRegistration(options);
}

// ---------------------------------------------------------------------------------------------
// Key options: checked and filled in by the options provider, at boot
// ---------------------------------------------------------------------------------------------

/** RFC 9110 token characters: what a header name or an auth scheme may be made of. */
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

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

/** An option that is an object of `known` fields or `false`; `{}` when it is left out. */
function nestedOption(
  option: string,
  value: unknown,
  known: readonly string[],
): Record<string, unknown> | false {
  if (value === false) return false;
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(
      option,
      `expected an object or false, got ${JSON.stringify(value)}.`,
      `pass { ... } to configure it or false to turn it off.`,
    );
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      fail(
        `${option}.${key}`,
        'is not an option.',
        unknownNameFix(key, known, 'remove it, or use'),
      );
  }
  return value as Record<string, unknown>;
}

/** Refuses a non-object, an unknown option, a registration field and a `null` value. */
function validateOptionNames(options: unknown): asserts options is ApiKeyOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    fail(
      'options',
      `expected an object, got ${JSON.stringify(options)}.`,
      'return an options object (or {}) from your factory.',
    );
  }
  for (const [key, value] of Object.entries(options)) {
    if ((REGISTRATION_OPTIONS as readonly string[]).includes(key)) {
      fail(
        key,
        'cannot be returned by an async options factory, because it changes which providers exist.',
        `pass ${key} at the top level of forRootAsync({ ${key}, useFactory }).`,
      );
    }
    const removed = REMOVED_OPTIONS[key];
    if (removed) fail(key, removed.problem, removed.fix);
    if (!(KEY_OPTIONS as readonly string[]).includes(key)) {
      fail(
        key,
        'is not an ApiKeyModule option.',
        unknownNameFix(key, KEY_OPTIONS, 'remove it, or use'),
      );
    }
    // null is never a default in disguise: a value someone meant to set and did not is refused.
    if (value === null) {
      fail(key, 'is null.', `set a value, or leave ${key} out to use its default.`);
    }
  }
}

function resolveHeader(header: unknown): string | null {
  if (header === undefined) return null;
  if (typeof header !== 'string' || !HTTP_TOKEN.test(header)) {
    fail(
      'header',
      `${JSON.stringify(header)} is not a valid header name.`,
      'use a header name such as "X-Api-Key".',
    );
  }
  if (header.toLowerCase() === 'authorization') {
    fail(
      'header',
      'cannot be Authorization.',
      'leave header unset to read `Authorization: <keyword> <key>`, and set keyword for another scheme.',
    );
  }
  return header.toLowerCase();
}

function resolveKeyShape(options: ApiKeyOptions): {
  keyword: string;
  brand: string;
  keyFormat: ApiKeyFormat;
} {
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
  const keyFormat = options.keyFormat ?? 'plain';
  if (keyFormat !== 'plain' && keyFormat !== 'checksummed')
    fail(
      'keyFormat',
      `${JSON.stringify(keyFormat)} is not a key format.`,
      'use "checksummed" or "plain".',
    );
  return { keyword, brand, keyFormat };
}

function resolveHashers(
  options: ApiKeyOptions,
  brand: string,
  keyFormat: ApiKeyFormat,
): { hasher: ApiKeyHasher; legacyHashers: ApiKeyHasher[] } {
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
    const length = keyLength(brand, keyFormat);
    if (h.maxInputBytes !== undefined && length > h.maxInputBytes) {
      fail(
        'brand',
        `makes keys ${length} bytes long, but ${h.algorithm} only reads the first ${h.maxInputBytes}; the rest of the secret would be ignored.`,
        `shorten brand to at most ${h.maxInputBytes - keyLength('', keyFormat)} characters, or use HmacSha256ApiKeyHasher.`,
      );
    }
  }
  // bcrypt is an optional peer: an app configured to hash with it must not boot without it.
  if ([hasher, ...legacyHashers].some((h) => h instanceof BcryptApiKeyHasher)) {
    try {
      assertBcryptLoads();
    } catch (error) {
      // The default hasher is bcrypt: an app that set no hasher is not told it passed one.
      if (options.hasher !== undefined || !(error instanceof ApiKeyConfigurationError)) throw error;
      throw new ApiKeyConfigurationError(
        'hasher',
        `the default hasher: ${error.problem}`,
        error.fix,
        false,
      );
    }
  }
  return { hasher, legacyHashers };
}

function validateWhereAndClock(options: ApiKeyOptions): void {
  const where = options.usableWhere;
  if (
    where !== undefined &&
    (typeof where !== 'object' || where === null || Array.isArray(where))
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
}

function resolveRealm(realm: unknown = 'api'): string {
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
  return realm;
}

function resolveColdPath(cold: Record<string, unknown>): ResolvedApiKeyOptions['coldPath'] {
  return {
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
  };
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
): ResolvedApiKeyOptions<T> {
  const given: ApiKeyOptions<T> = options ?? {};
  validateOptionNames(given);
  const header = resolveHeader(given.header);
  const { keyword, brand, keyFormat } = resolveKeyShape(given);
  const { hasher, legacyHashers } = resolveHashers(given, brand, keyFormat);
  validateWhereAndClock(given);
  const realm = resolveRealm(given.realm);
  const memo = nestedOption('verificationMemo', given.verificationMemo, VERIFICATION_MEMO_FIELDS);
  const cold = nestedOption('coldPath', given.coldPath, COLD_PATH_FIELDS);
  if (cold === false)
    fail(
      'coldPath',
      'cannot be turned off.',
      'pass { maxConcurrent, maxQueued, maxQueuedPerKey, failureMemoEntries } or leave it unset.',
    );
  const usage = nestedOption('usageTracking', given.usageTracking, USAGE_TRACKING_FIELDS);
  return {
    name: registration.name,
    entity: registration.entity,
    header,
    keyword,
    brand,
    keyFormat,
    hasher,
    legacyHashers,
    usableWhere: (given.usableWhere as FindOptionsWhere<T> | undefined) ?? null,
    clock: given.clock ?? (() => new Date()),
    realm,
    verificationMemo: memo && {
      maxEntries: positiveInteger('verificationMemo.maxEntries', memo.maxEntries, 10_000),
    },
    coldPath: resolveColdPath(cold),
    usageTracking: usage && {
      interval: positiveInteger('usageTracking.interval', usage.interval, 60_000),
    },
    usageAnalytics: resolveCounts('usageAnalytics', given.usageAnalytics),
    guessingAlerts: resolveCounts('guessingAlerts', given.guessingAlerts),
    storeTimeout: resolveStoreTimeout(given.storeTimeout),
    maxLifetime: resolveMaxLifetime(given.maxLifetime),
    expiryNotices: resolveExpiryNotices(given.expiryNotices),
    revocationSync: resolveRevocationSync(given),
    ...resolveNotifyPace(given),
  };
}

/**
 * Defaults of `usageAnalytics` and `guessingAlerts`, whose fields are all positive whole numbers
 * (their names are the fields the options take; `ResolvedApiKeyOptions` holds them to the types).
 */
const COUNT_DEFAULTS = {
  usageAnalytics: { flushInterval: 60_000, retentionDays: 90, maxPendingKeys: 100_000 },
  guessingAlerts: { threshold: 20, window: 600_000 },
};

function resolveCounts<O extends keyof typeof COUNT_DEFAULTS>(option: O, value: unknown) {
  const given = nestedOption(option, value, Object.keys(COUNT_DEFAULTS[option]));
  if (given === false) return false;
  const resolved: Record<string, number> = {};
  for (const [field, fallback] of Object.entries(COUNT_DEFAULTS[option]))
    resolved[field] = positiveInteger(`${option}.${field}`, given[field], fallback);
  return resolved as (typeof COUNT_DEFAULTS)[O];
}

function resolveStoreTimeout(value: unknown): number {
  const timeout = positiveInteger('storeTimeout', value, DEFAULT_STORE_TIMEOUT);
  if (timeout > MAX_STORE_TIMEOUT)
    fail(
      'storeTimeout',
      `${timeout} ms is longer than a timer can wait.`,
      'set at most 2147483647.',
    );
  return timeout;
}

/**
 * Default `coldPath.maxConcurrent`: one less than the CPU cores, so hashing never takes the
 * event loop's core, and at most 2, so it never takes more than half of libuv's default 4
 * threads; at least 1.
 */
export function defaultColdConcurrency(cores: number = availableParallelism()): number {
  return Math.max(1, Math.min(2, cores - 1));
}

/** Default `pollInterval`, in milliseconds. */
export const DEFAULT_POLL_INTERVAL = 100;

/**
 * What the default `maxStaleness` adds to `pollInterval`: room for a round trip that answers
 * late under load, so that one slow ping or poll does not make every request read.
 */
export const STALENESS_MARGIN = 150;

/** Default `maxStaleness`, in milliseconds, with the default `pollInterval`. */
export const DEFAULT_MAX_STALENESS = DEFAULT_POLL_INTERVAL + STALENESS_MARGIN;

/**
 * Validates `revocationSync`. Notify mode caches rows, so it refuses the options that would make
 * a cached row wrong without a notification: a `usableWhere` holding `Raw(...)` SQL (which may
 * read the clock or tables no trigger watches). Other `usableWhere` conditions are heard through
 * triggers on the tables they read.
 *
 * @throws {ApiKeyConfigurationError} naming the option at fault and the fix
 */
function resolveRevocationSync<T extends AbstractApiKey>(
  given: ApiKeyOptions<T>,
): ApiKeyRevocationSync {
  const setting = given.revocationSync ?? 'read';
  const mode = typeof setting === 'object' && setting !== null ? setting.mode : setting;
  const extra = typeof setting === 'object' && setting !== null ? unknownSettings(setting) : [];
  if (
    (mode !== 'read' && mode !== 'notify') ||
    extra.length > 0 ||
    (mode === 'read' && setting !== mode)
  )
    throw new ApiKeyConfigurationError(
      'revocationSync',
      `expected 'read' or 'notify' (or { mode: 'notify', pollInterval, maxStaleness }), got ${JSON.stringify(setting)}.`,
      "set 'notify' to cache rows kept current by change notifications, or leave it unset.",
    );
  const raw = mode === 'notify' ? findRawCondition(given.usableWhere, 'usableWhere') : null;
  if (raw !== null)
    throw new ApiKeyConfigurationError(
      'revocationSync',
      `'notify' cannot follow ${raw}: a Raw(...) condition may read the clock or tables no trigger watches, so a cached key could pass after it turned false.`,
      'write that condition with column values and operators (Equal, In, IsNull, MoreThan...), or leave revocationSync unset for this registration.',
    );
  return mode;
}

const NOTIFY_SETTINGS = ['mode', 'pollInterval', 'maxStaleness'];

function unknownSettings(setting: object): string[] {
  return Object.keys(setting).filter((key) => !NOTIFY_SETTINGS.includes(key));
}

/**
 * The pace of notify mode's change channel: a round trip every `pollInterval` ms, and rows
 * served from memory only within `maxStaleness` ms of the last one that succeeded. Either
 * follows from the other when only one is given (`maxStaleness` = interval + margin; the
 * interval at most half of `maxStaleness`).
 *
 * @throws {ApiKeyConfigurationError} when either is not a whole number in its range, or the
 *   interval is not shorter than `maxStaleness`
 */
function resolveNotifyPace<T extends AbstractApiKey>(given: ApiKeyOptions<T>) {
  const setting = typeof given.revocationSync === 'object' ? given.revocationSync : null;
  const interval = milliseconds('pollInterval', setting?.pollInterval, 60_000);
  const staleness = milliseconds('maxStaleness', setting?.maxStaleness, 120_000);
  // With neither given, half of Infinity leaves the default interval.
  const half = Math.max(1, Math.floor((staleness ?? Infinity) / 2));
  const revocationPollInterval = interval ?? Math.min(DEFAULT_POLL_INTERVAL, half);
  const revocationMaxStaleness = staleness ?? revocationPollInterval + STALENESS_MARGIN;
  if (revocationPollInterval >= revocationMaxStaleness)
    fail(
      'revocationSync',
      `pollInterval (${revocationPollInterval} ms) must be shorter than maxStaleness (${revocationMaxStaleness} ms): the lease would lapse between round trips, and every request would read.`,
      'set pollInterval to at most half of maxStaleness, or leave it unset.',
    );
  return { revocationPollInterval, revocationMaxStaleness };
}

/**
 * A setting of `revocationSync` in milliseconds, or `undefined` when not given.
 *
 * @throws {ApiKeyConfigurationError} when it is not a whole number from 1 to `max`
 */
function milliseconds(name: keyof ApiKeyNotifySync, value: unknown, max: number) {
  const ms = value as number;
  if (value !== undefined && !(Number.isInteger(ms) && ms >= 1 && ms <= max))
    fail(
      'revocationSync',
      `${name}: expected a whole number of milliseconds from 1 to ${max}, got ${JSON.stringify(value)}.`,
      `set ${name} in that range, or leave it unset (default ${name === 'pollInterval' ? DEFAULT_POLL_INTERVAL : DEFAULT_MAX_STALENESS}).`,
    );
  return value as number | undefined;
}
