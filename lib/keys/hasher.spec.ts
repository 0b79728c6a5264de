import bcrypt from 'bcrypt';
import { describe, expect, it } from 'vitest';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { generateKey } from './format.js';
import { BcryptApiKeyHasher, HmacSha256ApiKeyHasher, type ApiKeyHasher } from './hasher.js';

const SECRET = 'a-pepper-of-at-least-thirty-two-bytes!!';
const OTHER_SECRET = 'another-pepper-of-thirty-two-bytes-or-more';

describe('BcryptApiKeyHasher', () => {
  const hasher = new BcryptApiKeyHasher({ cost: 4 });
  const { key } = generateKey();
  const other = generateKey().key;

  it('hashes to a salted bcrypt string of its cost that verifies the key and nothing else', async () => {
    const hashed = await hasher.hash(key);
    expect(hashed).toMatch(/^\$2b\$04\$[./A-Za-z0-9]{53}$/);
    expect(hashed).not.toContain(key);
    expect(hashed).not.toContain(key.slice(9));
    expect(await hasher.hash(key)).not.toBe(hashed);
    expect(await hasher.verify(key, hashed)).toBe(true);
    expect(await hasher.verify(other, hashed)).toBe(false);
    expect(await hasher.verify(key.slice(0, -1), hashed)).toBe(false);
    expect(await hasher.verify(hashed, hashed)).toBe(false);
  });

  it('recognises bcrypt hashes only', async () => {
    expect(hasher.recognizes(await hasher.hash(key))).toBe(true);
    expect(hasher.recognizes(await new BcryptApiKeyHasher({ cost: 5 }).hash(key))).toBe(true);
    expect(hasher.recognizes(await new HmacSha256ApiKeyHasher({ secret: SECRET }).hash(key))).toBe(
      false,
    );
    expect(hasher.recognizes('sha512$$' + 'a'.repeat(128))).toBe(false);
    expect(hasher.recognizes('$2b$04$tooshort')).toBe(false);
    expect(hasher.recognizes('')).toBe(false);
  });

  it('asks for a rehash of hashes made at another cost only', async () => {
    const cost4 = await hasher.hash(key);
    expect(hasher.needsRehash(cost4)).toBe(false);
    expect(new BcryptApiKeyHasher({ cost: 5 }).needsRehash(cost4)).toBe(true);
    expect(
      new BcryptApiKeyHasher({ cost: 5 }).needsRehash(
        await new BcryptApiKeyHasher({ cost: 5 }).hash(key),
      ),
    ).toBe(false);
  });

  it('defaults to cost 10 and declares the 72-byte input limit', () => {
    expect(new BcryptApiKeyHasher().cost).toBe(10);
    expect(hasher.maxInputBytes).toBe(72);
    expect(hasher.algorithm).toBe('bcrypt');
  });

  it('really ignores input past 72 bytes, which is why long brands are refused at boot', async () => {
    const head = 'x'.repeat(72);
    const hashed = await hasher.hash(`${head}first-secret`);
    expect(await hasher.verify(`${head}a-completely-different-secret`, hashed)).toBe(true);
  });

  it.each([3, 32, 4.5, Number.NaN, '10' as unknown as number])(
    'refuses cost %s with an error naming the hasher option',
    (cost) => {
      const attempt = () => new BcryptApiKeyHasher({ cost });
      expect(attempt).toThrow(ApiKeyConfigurationError);
      expect(attempt).toThrow(/option "hasher"/);
    },
  );

  it('accepts the ends of the range', () => {
    expect(new BcryptApiKeyHasher({ cost: 4 }).cost).toBe(4);
    expect(new BcryptApiKeyHasher({ cost: 31 }).cost).toBe(31);
  });
});

describe('HmacSha256ApiKeyHasher', () => {
  const hasher = new HmacSha256ApiKeyHasher({ secret: SECRET });
  const { key } = generateKey();

  it('verifies the key it hashed and refuses any other (DRF 26)', async () => {
    const hashed = await hasher.hash(key);
    expect(hashed).toMatch(/^hmac-sha256\$[0-9a-f]{64}$/);
    expect(hashed).not.toContain(key.slice(9));
    expect(await hasher.verify(key, hashed)).toBe(true);
    expect(await hasher.verify(generateKey().key, hashed)).toBe(false);
    expect(await hasher.verify(`${key} `, hashed)).toBe(false);
  });

  it('does not verify a hash made under another secret, though it recognises its format', async () => {
    const hashed = await new HmacSha256ApiKeyHasher({ secret: OTHER_SECRET }).hash(key);
    expect(hasher.recognizes(hashed)).toBe(true);
    expect(await hasher.verify(key, hashed)).toBe(false);
  });

  it('takes a Buffer secret the same as its UTF-8 string', async () => {
    const fromBuffer = new HmacSha256ApiKeyHasher({ secret: Buffer.from(SECRET, 'utf8') });
    expect(await fromBuffer.verify(key, await hasher.hash(key))).toBe(true);
  });

  it('recognises its own format only, and refuses to verify anything else', async () => {
    const bcryptHash = await new BcryptApiKeyHasher({ cost: 4 }).hash(key);
    const own = await hasher.hash(key);
    expect(hasher.recognizes(own)).toBe(true);
    expect(hasher.recognizes(bcryptHash)).toBe(false);
    expect(hasher.recognizes(own.slice(0, -1))).toBe(false);
    expect(hasher.recognizes(`${own}0`)).toBe(false);
    expect(hasher.recognizes('sha512$$' + 'a'.repeat(128))).toBe(false);
    expect(await hasher.verify(key, bcryptHash)).toBe(false);
    expect(await hasher.verify(key, own.slice(0, -2))).toBe(false);
  });

  it('never asks for a rehash and has no input limit', async () => {
    const asInterface: ApiKeyHasher = hasher;
    expect(asInterface.needsRehash(await hasher.hash(key))).toBe(false);
    expect(asInterface.maxInputBytes).toBeUndefined();
  });

  it.each([
    ['a 31-byte secret', { secret: 'x'.repeat(31) }],
    ['a 31-byte Buffer', { secret: Buffer.alloc(31, 1) }],
    ['an empty secret', { secret: '' }],
    ['no secret', {} as { secret: string }],
    ['no options', undefined as unknown as { secret: string }],
  ])('refuses %s, naming the hasher option (DRF 27)', (_case, options) => {
    expect(() => new HmacSha256ApiKeyHasher(options)).toThrow(ApiKeyConfigurationError);
    expect(() => new HmacSha256ApiKeyHasher(options)).toThrow(/option "hasher".*32 bytes/);
  });

  it('accepts exactly 32 bytes, counted in bytes not characters', () => {
    expect(() => new HmacSha256ApiKeyHasher({ secret: 'x'.repeat(32) })).not.toThrow();
    // 16 two-byte characters are 32 bytes.
    expect(() => new HmacSha256ApiKeyHasher({ secret: 'é'.repeat(16) })).not.toThrow();
    expect(() => new HmacSha256ApiKeyHasher({ secret: 'é'.repeat(15) })).toThrow(
      ApiKeyConfigurationError,
    );
  });

  it('is not fooled by the secret changing after construction', async () => {
    const secret = Buffer.from(SECRET);
    const copying = new HmacSha256ApiKeyHasher({ secret });
    const hashed = await copying.hash(key);
    secret.fill(0);
    expect(await copying.verify(key, hashed)).toBe(true);
  });
});

describe('bcrypt interoperability', () => {
  it('verifies hashes made by the bcrypt library directly, in every prefix variant', async () => {
    const { key } = generateKey();
    const hasher = new BcryptApiKeyHasher({ cost: 4 });
    const direct = await bcrypt.hash(key, 4);
    expect(hasher.recognizes(direct)).toBe(true);
    expect(await hasher.verify(key, direct)).toBe(true);
    const asA = direct.replace(/^\$2b\$/, '$2a$');
    expect(hasher.recognizes(asA)).toBe(true);
    expect(await hasher.verify(key, asA)).toBe(true);
  });
});
