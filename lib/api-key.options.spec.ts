import 'reflect-metadata';
import { availableParallelism } from 'node:os';
import { Column, Entity } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { DEFAULT_API_KEY_NAME } from './api-key.constants.js';
import { AbstractApiKey, ApiKey } from './api-key.entity.js';
import { ApiKeyConfigurationError } from './api-key.errors.js';
import { BcryptApiKeyHasher, HmacSha256ApiKeyHasher, type ApiKeyHasher } from './keys/hasher.js';
import { type ApiKeyOptions } from './api-key.options.js';
import {
  defaultColdConcurrency,
  REGISTRATION_OPTIONS,
  resolveApiKeyOptions,
  validateAsyncRegistration,
  validateRegistration,
} from './options/resolve.js';

const REGISTRATION = { name: DEFAULT_API_KEY_NAME, entity: ApiKey };
const HMAC = new HmacSha256ApiKeyHasher({ secret: 'x'.repeat(32) });

/** Runs `attempt` and returns the configuration error it threw; fails the test if it threw nothing or something else. */
function configurationError(attempt: () => unknown): ApiKeyConfigurationError {
  try {
    attempt();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiKeyConfigurationError);
    return error as ApiKeyConfigurationError;
  }
  throw new Error('expected an ApiKeyConfigurationError, but nothing was thrown');
}

/** Asserts that `options` are refused with an error naming `option` in both its field and its message. */
function expectRefused(options: unknown, option: string, also?: RegExp): void {
  const error = configurationError(() =>
    resolveApiKeyOptions(options as ApiKeyOptions, REGISTRATION),
  );
  expect(error.option).toBe(option);
  expect(error.message).toContain(`option "${option}"`);
  expect(error.message).toContain('Fix:');
  if (also) expect(error.message).toMatch(also);
}

@Entity('options_spec_keys')
class ProjectApiKey extends AbstractApiKey {
  @Column({ type: 'varchar', length: 36 })
  projectId!: string;
}

class UndecoratedApiKey extends AbstractApiKey {}

@Entity('options_spec_not_keys')
class NotAKey {
  @Column({ type: 'varchar', primary: true })
  id!: string;
}

describe('resolveApiKeyOptions defaults', () => {
  it('fills in every default', () => {
    const before = Date.now();
    const resolved = resolveApiKeyOptions({}, REGISTRATION);
    expect(resolved).toMatchObject({
      name: 'default',
      entity: ApiKey,
      header: null,
      keyword: 'Api-Key',
      brand: '',
      legacyHashers: [],
      usableWhere: null,
      realm: 'api',
      verificationMemo: { maxEntries: 10_000 },
      coldPath: {
        maxConcurrent: defaultColdConcurrency(availableParallelism()),
        maxQueued: 100,
        maxQueuedPerKey: 10,
        failureMemoEntries: 10_000,
      },
      usageTracking: { interval: 60_000 },
      storeTimeout: 5_000,
    });
    expect(resolved.hasher).toBeInstanceOf(BcryptApiKeyHasher);
    expect((resolved.hasher as BcryptApiKeyHasher).cost).toBe(10);
    const now = resolved.clock().getTime();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  it.each([
    [1, 1],
    [2, 1],
    [3, 2],
    [64, 2],
  ])('runs %i-core machines with %i slow check(s) at once by default', (cores, expected) => {
    expect(defaultColdConcurrency(cores)).toBe(expected);
  });

  it('treats undefined and null options as {}', () => {
    expect(resolveApiKeyOptions(undefined, REGISTRATION).keyword).toBe('Api-Key');
    expect(resolveApiKeyOptions(null, REGISTRATION).keyword).toBe('Api-Key');
  });

  it('keeps given values, lower-casing the header name for lookups', () => {
    const clock = () => new Date(0);
    const given = {
      header: 'X-Api-Key',
      keyword: 'Bearer',
      brand: 'sk_live_',
      hasher: HMAC,
      clock,
      realm: 'partners',
      verificationMemo: false,
      coldPath: { maxConcurrent: 4, maxQueued: 0, maxQueuedPerKey: 0, failureMemoEntries: 0 },
      usageTracking: false,
      storeTimeout: 2_500,
      usableWhere: { name: 'x' },
    } as const;
    expect(resolveApiKeyOptions(given, REGISTRATION)).toMatchObject({
      ...given,
      header: 'x-api-key',
    });
  });

  it('fills nested defaults when only some nested fields are given', () => {
    const resolved = resolveApiKeyOptions(
      { coldPath: { maxQueued: 5 }, verificationMemo: {}, usageTracking: {} },
      REGISTRATION,
    );
    expect(resolved.coldPath).toEqual({
      maxConcurrent: defaultColdConcurrency(),
      maxQueued: 5,
      maxQueuedPerKey: 10,
      failureMemoEntries: 10_000,
    });
    expect(resolved.verificationMemo).toEqual({ maxEntries: 10_000 });
    expect(resolved.usageTracking).toEqual({ interval: 60_000 });
  });
});

describe('resolveApiKeyOptions refuses, naming the option', () => {
  it('an unknown option such as `headers`, suggesting the near one', () =>
    expectRefused(
      { headers: 'X-Api-Key' },
      'headers',
      /not an ApiKeyModule option\. Fix: did you mean header\?/,
    ));
  it.each([
    ['hedaer', 'header'],
    ['KeyWord', 'keyword'],
    ['storeTimout', 'storeTimeout'],
    ['revocationsync', 'revocationSync'],
  ])('a misspelt option %s, suggesting %s', (given, near) =>
    expectRefused({ [given]: 1 }, given, new RegExp(`did you mean ${near}\\?`)),
  );
  it('an unknown option with no near one, listing every option', () =>
    expectRefused({ cacheEverything: true }, 'cacheEverything', /use one of: header, keyword,/));
  it('a misspelt nested option, suggesting the near one', () =>
    expectRefused({ coldPath: { maxQueud: 5 } }, 'coldPath.maxQueud', /did you mean maxQueued\?/));
  it('rowCacheTtl, removed, naming revocationSync: notify as its replacement', () =>
    expectRefused(
      { rowCacheTtl: 30_000 },
      'rowCacheTtl',
      /was removed.*Fix: set revocationSync: 'notify'/s,
    ));
  it('rowCacheTtl even at 0, so no registration keeps an option that does nothing', () =>
    expectRefused({ rowCacheTtl: 0 }, 'rowCacheTtl', /revocationSync: 'notify'/));
  it.each(['hasher', 'keyword', 'header', 'clock', 'verificationMemo', 'usageTracking'])(
    '%s: null, rather than silently using the default',
    (option) => expectRefused({ [option]: null }, option, /is null/),
  );
  it('options that are not an object', () => {
    expectRefused('X-Api-Key', 'options');
    expectRefused([], 'options');
  });

  it('header Authorization, in any case', () => {
    expectRefused({ header: 'Authorization' }, 'header', /cannot be Authorization/);
    expectRefused({ header: 'AUTHORIZATION' }, 'header');
  });
  it.each(['X Api Key', 'X-Api-Key:', '', 'X-Api-Key\r\nX-Evil: 1', 'Ключ'])(
    'header %j, which is not a header name',
    (header) => expectRefused({ header }, 'header', /not a valid header name/),
  );
  it('a header that is not a string', () => expectRefused({ header: 42 }, 'header'));

  it.each(['Api Key', '', 'Api-Key:', 'Bearer\n'])('keyword %j', (keyword) =>
    expectRefused({ keyword }, 'keyword', /not a valid authorization scheme/),
  );

  it.each(['sk.live.', 'sk live', 'sk/live', 'ключ', 'x'.repeat(33)])('brand %j', (brand) =>
    expectRefused({ brand }, 'brand'),
  );

  it("a brand that would push keys past bcrypt's 72 bytes, but not the same brand with HMAC", () => {
    const longBrand = 'b'.repeat(32);
    expectRefused(
      { brand: longBrand },
      'brand',
      /73 bytes long, but bcrypt only reads the first 72/,
    );
    expectRefused({ brand: longBrand, hasher: new BcryptApiKeyHasher({ cost: 4 }) }, 'brand');
    expect(resolveApiKeyOptions({ brand: longBrand, hasher: HMAC }, REGISTRATION).brand).toBe(
      longBrand,
    );
    expect(resolveApiKeyOptions({ brand: 'b'.repeat(31) }, REGISTRATION).brand).toBe(
      'b'.repeat(31),
    );
  });

  it('a long brand when a legacy hasher is bcrypt, since old keys are still checked with it', () =>
    expectRefused(
      { brand: 'b'.repeat(32), hasher: HMAC, legacyHashers: [new BcryptApiKeyHasher({ cost: 4 })] },
      'brand',
    ));

  it('a hasher that does not implement ApiKeyHasher', () => {
    expectRefused(
      { hasher: { hash: async () => 'x', verify: async () => true } },
      'hasher',
      /does not implement ApiKeyHasher/,
    );
    expectRefused({ hasher: 'bcrypt' }, 'hasher');
  });

  it('legacyHashers that are not an array of hashers', () => {
    expectRefused({ legacyHashers: HMAC }, 'legacyHashers');
    expectRefused({ legacyHashers: [HMAC, {}] }, 'legacyHashers');
  });

  it('a storeTimeout longer than a timer can wait, which would fire at once', () =>
    expectRefused({ storeTimeout: 2 ** 31 }, 'storeTimeout', /at most 2147483647/));
  it('a clock that is not a function', () => expectRefused({ clock: new Date() }, 'clock'));
  it('usableWhere that is not an object', () => {
    expectRefused({ usableWhere: 'active = 1' }, 'usableWhere');
    expectRefused({ usableWhere: [{ name: 'x' }] }, 'usableWhere');
  });
  it.each(['say "hi"', 'back\\slash', 'line\nbreak', 'naïve'])(
    'realm %j, which cannot go in WWW-Authenticate',
    (realm) => expectRefused({ realm }, 'realm'),
  );

  it.each([
    [{ verificationMemo: { maxEntries: 0 } }, 'verificationMemo.maxEntries'],
    [{ verificationMemo: { maxEntries: -1 } }, 'verificationMemo.maxEntries'],
    [{ verificationMemo: { maxEntries: 1.5 } }, 'verificationMemo.maxEntries'],
    [{ coldPath: { maxConcurrent: 0 } }, 'coldPath.maxConcurrent'],
    [{ coldPath: { maxConcurrent: -2 } }, 'coldPath.maxConcurrent'],
    [{ coldPath: { maxQueued: -1 } }, 'coldPath.maxQueued'],
    [{ coldPath: { failureMemoEntries: -1 } }, 'coldPath.failureMemoEntries'],
    [{ coldPath: { maxQueuedPerKey: -1 } }, 'coldPath.maxQueuedPerKey'],
    [{ coldPath: { maxQueuedPerKey: 1.5 } }, 'coldPath.maxQueuedPerKey'],
    [{ usageTracking: { interval: 0 } }, 'usageTracking.interval'],
    [{ usageTracking: { interval: '60s' } }, 'usageTracking.interval'],
    [{ storeTimeout: 0 }, 'storeTimeout'],
    [{ storeTimeout: 1.5 }, 'storeTimeout'],
    [{ storeTimeout: '5s' }, 'storeTimeout'],
  ])('%j: a number out of range', (options, option) => expectRefused(options, option, /integer/));

  it.each([
    [{ verificationMemo: { maxEntrys: 10 } }, 'verificationMemo.maxEntrys'],
    [{ coldPath: { concurrency: 2 } }, 'coldPath.concurrency'],
    [{ usageTracking: { intervalMs: 1000 } }, 'usageTracking.intervalMs'],
  ])('%j: an unknown nested field', (options, option) =>
    expectRefused(options, option, /is not an option/),
  );

  it('coldPath: false, because the hashing bound cannot be switched off', () =>
    expectRefused({ coldPath: false }, 'coldPath', /cannot be turned off/));
  it.each(['verificationMemo', 'coldPath', 'usageTracking'])(
    '%s given as true or a number',
    (option) => {
      expectRefused({ [option]: true }, option);
      expectRefused({ [option]: 5 }, option);
    },
  );

  it.each(REGISTRATION_OPTIONS)('%s returned from an async options factory', (option) => {
    expectRefused(
      { [option]: option === 'isGlobal' ? true : 'x' },
      option,
      /cannot be returned by an async options factory/,
    );
  });
});

describe('validateRegistration', () => {
  it('defaults to the built-in entity and the default name', () => {
    expect(validateRegistration({})).toEqual({ name: 'default', entity: ApiKey });
  });

  it('accepts a decorated subclass of AbstractApiKey under a valid name', () => {
    expect(validateRegistration({ name: 'project-keys_2', entity: ProjectApiKey })).toEqual({
      name: 'project-keys_2',
      entity: ProjectApiKey,
    });
  });

  it('refuses an entity that does not extend AbstractApiKey', () => {
    const error = configurationError(() => validateRegistration({ entity: NotAKey as any }));
    expect(error.option).toBe('entity');
    expect(error.message).toMatch(/NotAKey does not extend AbstractApiKey/);
  });

  it('refuses AbstractApiKey itself and things that are not classes', () => {
    expect(
      configurationError(() => validateRegistration({ entity: AbstractApiKey as any })).option,
    ).toBe('entity');
    expect(configurationError(() => validateRegistration({ entity: 'ApiKey' as any })).option).toBe(
      'entity',
    );
  });

  it('refuses a key class without @Entity, and says to add it', () => {
    const error = configurationError(() => validateRegistration({ entity: UndecoratedApiKey }));
    expect(error.option).toBe('entity');
    expect(error.message).toMatch(
      /UndecoratedApiKey is not decorated with @Entity\(\).*add @Entity/,
    );
  });

  it.each(['', 'has space', 'dots.in.name', 'ключ', 42])('refuses name %j', (name) => {
    const error = configurationError(() => validateRegistration({ name: name as string }));
    expect(error.option).toBe('name');
  });
});

describe('validateAsyncRegistration', () => {
  const useFactory = () => ({});

  it('checks the registration fields as forRoot does', () => {
    expect(validateAsyncRegistration({ useFactory })).toEqual({ name: 'default', entity: ApiKey });
    expect(
      validateAsyncRegistration({ name: 'project', entity: ProjectApiKey, useFactory }),
    ).toEqual({ name: 'project', entity: ProjectApiKey });
    expect(configurationError(() => validateAsyncRegistration({ name: 'not ok' })).option).toBe(
      'name',
    );
  });

  it.each(['yes', 1, null])('refuses isGlobal %j, as forRoot does', (isGlobal) => {
    const error = configurationError(() =>
      validateAsyncRegistration({ useFactory, isGlobal: isGlobal as never }),
    );
    expect(error.option).toBe('isGlobal');
    expect(error.message).toContain(`expected true or false, got ${JSON.stringify(isGlobal)}.`);
    expect(error.message).toContain('Fix: set isGlobal: true or leave it unset.');
  });

  it('accepts isGlobal true and false', () => {
    expect(() => validateAsyncRegistration({ useFactory, isGlobal: true })).not.toThrow();
    expect(() => validateAsyncRegistration({ useFactory, isGlobal: false })).not.toThrow();
  });

  it('refuses a key option given beside the factory, naming it and where it belongs', () => {
    const error = configurationError(() =>
      validateAsyncRegistration({ useFactory, keyword: 'Bearer' } as never),
    );
    expect(error.option).toBe('keyword');
    expect(error.message).toMatch(/is not a forRootAsync\(\) field.*return it from useFactory/);
  });
});

describe('custom hashers', () => {
  it('accepts any object with the four methods', () => {
    const inner = new BcryptApiKeyHasher({ cost: 4 });
    const custom: ApiKeyHasher = {
      algorithm: 'custom',
      hash: (key) => inner.hash(key),
      verify: (key, hashed) => inner.verify(key, hashed),
      recognizes: (hashed) => inner.recognizes(hashed),
      needsRehash: () => false,
    };
    expect(resolveApiKeyOptions({ hasher: custom }, REGISTRATION).hasher).toBe(custom);
  });
});
