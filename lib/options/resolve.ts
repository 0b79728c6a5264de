import { availableParallelism } from 'node:os';
import type { Type } from '@nestjs/common';
import type { FindOptionsWhere } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { BRAND_PATTERN, keyLength, type ApiKeyFormat } from '../keys/format.js';
import { BcryptApiKeyHasher, assertBcryptLoads, type ApiKeyHasher } from '../keys/hasher.js';
import {
  COLD_PATH_FIELDS,
  KEY_OPTIONS,
  REGISTRATION_OPTIONS,
  USAGE_TRACKING_FIELDS,
  VERIFICATION_MEMO_FIELDS,
} from './fields.js';
import type { ApiKeyOptions, ResolvedApiKeyOptions } from '../api-key.options.js';
import { resolvePollInterval, resolveRevocationSync } from '../change-feed/setup.js';
import { DEFAULT_STORE_TIMEOUT, MAX_STORE_TIMEOUT } from '../store/deadline.js';

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
        `remove it, or use one of: ${known.join(', ')}.`,
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
    if (!(KEY_OPTIONS as readonly string[]).includes(key)) {
      fail(
        key,
        'is not an ApiKeyModule option.',
        `remove it, or use one of: ${KEY_OPTIONS.join(', ')}.`,
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
  if ([hasher, ...legacyHashers].some((h) => h instanceof BcryptApiKeyHasher)) assertBcryptLoads();
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
    rowCacheTtl: positiveInteger('rowCacheTtl', given.rowCacheTtl, 0, true),
    storeTimeout: resolveStoreTimeout(given.storeTimeout),
    revocationSync: resolveRevocationSync(given),
    revocationPollInterval: resolvePollInterval(given),
  };
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
