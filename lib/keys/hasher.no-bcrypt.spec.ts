import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openKeyStore, withWrongSecret, type KeyStore } from '../../test/support/key-store.js';
import { ApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { BcryptApiKeyHasher, HmacSha256ApiKeyHasher } from './hasher.js';
import { resolveApiKeyOptions } from '../options/resolve.js';

/** How `require('bcrypt')` fails in this file: as when it is not installed, or when its binding is broken. */
const bcryptLoad = vi.hoisted(() => ({ failure: 'missing' as 'missing' | 'broken' }));

vi.mock('node:module', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:module')>();
  return {
    ...original,
    createRequire(from: string | URL) {
      const realRequire = original.createRequire(from);
      return (id: string) => {
        if (id !== 'bcrypt') return realRequire(id);
        if (bcryptLoad.failure === 'broken') throw new Error('invalid ELF header\nstack');
        throw Object.assign(new Error(`Cannot find module 'bcrypt'\nRequire stack:\n- here`), {
          code: 'MODULE_NOT_FOUND',
        });
      };
    },
  };
});

const REGISTRATION = { name: 'default', entity: ApiKey };
const HMAC = new HmacSha256ApiKeyHasher({ secret: 'x'.repeat(32) });
const A_BCRYPT_HASH = `$2b$10$${'a'.repeat(53)}`;

function expectNamesTheFix(error: unknown): void {
  expect(error).toBeInstanceOf(ApiKeyConfigurationError);
  expect((error as ApiKeyConfigurationError).option).toBe('hasher');
  expect((error as Error).message).toContain(
    'BcryptApiKeyHasher needs the bcrypt package, which is not installed.',
  );
  expect((error as Error).message).toContain('npm install bcrypt');
  expect((error as Error).message).toContain('new HmacSha256ApiKeyHasher({ secret })');
}

describe('without the bcrypt package', () => {
  afterEach(() => {
    bcryptLoad.failure = 'missing';
  });

  it('still makes bcrypt hashers and reads bcrypt hashes, which needs no bcrypt', () => {
    const hasher = new BcryptApiKeyHasher();
    expect(hasher.recognizes(A_BCRYPT_HASH)).toBe(true);
    expect(hasher.needsRehash(A_BCRYPT_HASH)).toBe(false);
  });

  it('refuses to hash or verify with bcrypt, naming the fix, as a rejection', async () => {
    const hasher = new BcryptApiKeyHasher({ cost: 4 });
    expectNamesTheFix(await hasher.hash('key').catch((e: unknown) => e));
    expectNamesTheFix(await hasher.verify('key', A_BCRYPT_HASH).catch((e: unknown) => e));
  });

  it('fails at boot when the options hash with bcrypt, by default or as a legacy hasher', () => {
    expectNamesTheFix(catchError(() => resolveApiKeyOptions({}, REGISTRATION)));
    expectNamesTheFix(
      catchError(() =>
        resolveApiKeyOptions(
          { hasher: HMAC, legacyHashers: [new BcryptApiKeyHasher()] },
          REGISTRATION,
        ),
      ),
    );
  });

  it('does not say the app passed a hasher when it passed none', () => {
    const error = catchError(() => resolveApiKeyOptions({}, REGISTRATION)) as Error;
    expect(error.message).toMatch(/^ApiKeyModule: the default hasher: BcryptApiKeyHasher needs/);
    expect(error.message).not.toContain('option "hasher"');
    const given = catchError(() =>
      resolveApiKeyOptions({ hasher: new BcryptApiKeyHasher() }, REGISTRATION),
    ) as Error;
    expect(given.message).toMatch(/^ApiKeyModule option "hasher": BcryptApiKeyHasher needs/);
  });

  it('boots with HMAC only', () => {
    expect(resolveApiKeyOptions({ hasher: HMAC }, REGISTRATION).hasher).toBe(HMAC);
  });

  it('says so, and still names the fix, when bcrypt is installed but cannot load', () => {
    bcryptLoad.failure = 'broken';
    const error = catchError(() => resolveApiKeyOptions({}, REGISTRATION));
    expect(error).toBeInstanceOf(ApiKeyConfigurationError);
    expect((error as Error).message).toContain(
      'the bcrypt package is installed but could not be loaded (invalid ELF header).',
    );
    expect((error as Error).message).toContain('npm install bcrypt');
  });
});

describe('an HMAC service without the bcrypt package', () => {
  let store: KeyStore;

  beforeAll(async () => {
    store = await openKeyStore('sqlite');
  });
  afterAll(() => store?.close());

  it('creates and verifies keys, though it would also recognise old bcrypt hashes', async () => {
    const service = store.service({ hasher: HMAC });
    const { key } = await service.create({ name: 'hmac only' });
    expect(await service.isValid(key)).toBe(true);
    expect(await service.isValid(withWrongSecret(key))).toBe(false);
  });
});

function catchError(attempt: () => unknown): unknown {
  try {
    attempt();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, but nothing was thrown');
}
