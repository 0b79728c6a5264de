import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  apiKeyPattern,
  apiKeyPatternSource,
  checksumOf,
  generateKey,
  isWellFormedApiKey,
  keyLength,
  parseKey,
} from './format.js';
import { BcryptApiKeyHasher, HmacSha256ApiKeyHasher } from './hasher.js';

const DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Base62 of a CRC32, restated with BigInt division rather than the implementation's loop. */
function restatedChecksum(body: string): string {
  let value = BigInt(crc32(body));
  let out = '';
  for (let i = 0; i < 6; i++, value /= 62n) out = DIGITS[Number(value % 62n)] + out;
  return out;
}

/** One character of `key` at `index` replaced by another key character. */
function changedAt(key: string, index: number): string {
  const swapped = key.charAt(index) === 'A' ? 'B' : 'A';
  return key.slice(0, index) + swapped + key.slice(index + 1);
}

describe('checksummed keys', () => {
  it('are <brand>v1_<prefix 8>_<secret 32><CRC32 in base62, 6>, with the prefix after the marker', () => {
    for (const brand of ['', 'sk_live_', 'acme-']) {
      for (let i = 0; i < 100; i++) {
        const { key, prefix } = generateKey(brand, 'checksummed');
        expect(key.startsWith(`${brand}v1_${prefix}_`)).toBe(true);
        expect(key.slice(brand.length)).toMatch(/^v1_[A-Za-z0-9]{8}_[A-Za-z0-9]{38}$/);
        expect(key).toHaveLength(keyLength(brand, 'checksummed'));
        expect(key.slice(-6)).toBe(restatedChecksum(key.slice(0, -6)));
        expect(parseKey(key, brand)).toBe(prefix);
        expect(isWellFormedApiKey(key, brand)).toBe(true);
      }
    }
    expect(keyLength('', 'checksummed')).toBe(50);
  });

  it('writes the extremes of CRC32 in six digits, most significant first', () => {
    expect(checksumOf('')).toBe('AAAAAA');
    for (const body of ['a', 'v1_AAAAAAAA_', 'x'.repeat(100)])
      expect(checksumOf(body)).toBe(restatedChecksum(body));
  });

  it('refuses a key with any one character changed, in the checksum or before it', () => {
    const { key } = generateKey('sk_live_', 'checksummed');
    for (let i = 0; i < key.length; i++) {
      expect(parseKey(changedAt(key, i), 'sk_live_'), `position ${i}`).toBeNull();
      expect(isWellFormedApiKey(changedAt(key, i), 'sk_live_')).toBe(false);
    }
  });

  it('refuses a wrong marker, separator, brand or length even with a matching checksum', () => {
    const body = `v1_AbCdEfGh_${'k'.repeat(32)}`;
    expect(parseKey(body + checksumOf(body), '')).toBe('AbCdEfGh');
    for (const other of [
      `v2_AbCdEfGh_${'k'.repeat(32)}`,
      `v1_AbCdEfGh.${'k'.repeat(32)}`,
      `v1-AbCdEfGh_${'k'.repeat(32)}`,
      `v1_AbCdEf-h_${'k'.repeat(32)}`,
      `v1_AbCdEfGh_${'k'.repeat(31)}é`,
    ])
      expect(parseKey(other + checksumOf(other), ''), other).toBeNull();
    expect(parseKey(body + checksumOf(body), 'sk_')).toBeNull();
    expect(parseKey(`sk_${body}${checksumOf(body)}`, 'sk_')).toBeNull();
  });

  it('keep plain keys working beside them: the format is read from each key', () => {
    const plain = generateKey('sk_');
    expect(plain.key).toMatch(/^sk_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}$/);
    expect(parseKey(plain.key, 'sk_')).toBe(plain.prefix);
    expect(isWellFormedApiKey(plain.key, 'sk_')).toBe(false);
  });

  it('fit bcrypt for brands up to 22 characters', () => {
    expect(keyLength('x'.repeat(22), 'checksummed')).toBe(new BcryptApiKeyHasher().maxInputBytes);
  });
});

describe('apiKeyPattern and apiKeyPatternSource', () => {
  it('find every generated key in text, and nothing in plain keys, hashes or longer words', async () => {
    const keys = Array.from({ length: 200 }, () => generateKey('sk_live_', 'checksummed').key);
    const plain = generateKey('sk_live_').key;
    const hashes = [
      await new BcryptApiKeyHasher({ cost: 4 }).hash(keys[0]),
      await new HmacSha256ApiKeyHasher({ secret: 'x'.repeat(32) }).hash(keys[0]),
    ];
    const text = [
      ...keys.map((key) => `token=${key};`),
      plain,
      ...hashes,
      `x${keys[1]}`,
      `${keys[2]}x`,
    ].join('\n');
    expect(text.match(apiKeyPattern('sk_live_'))).toEqual(keys);
    for (const hash of hashes) expect(apiKeyPattern('').test(hash)).toBe(false);
  });

  it('give a boundary-free source for GitHub and GitLab custom patterns', () => {
    expect(apiKeyPatternSource('sk_live_')).toBe('sk_live_v1_[A-Za-z0-9]{8}_[A-Za-z0-9]{38}');
    const { key } = generateKey('sk_live_', 'checksummed');
    expect(new RegExp(`^${apiKeyPatternSource('sk_live_')}$`).test(key)).toBe(true);
  });

  it('refuse non-strings and keys of another brand in isWellFormedApiKey', () => {
    const { key } = generateKey('sk_live_', 'checksummed');
    for (const value of [undefined, null, 42, [key], Buffer.from(key)])
      expect(isWellFormedApiKey(value, 'sk_live_')).toBe(false);
    expect(isWellFormedApiKey(key, 'sk_test_')).toBe(false);
    expect(isWellFormedApiKey(key)).toBe(false);
  });
});
