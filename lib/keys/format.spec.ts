import { describe, expect, it } from 'vitest';
import {
  API_KEY_PREFIX_LENGTH,
  API_KEY_SECRET_LENGTH,
  generateKey,
  isPrefix,
  isScope,
  keyLength,
  parseKey,
  randomAlphanumeric,
} from './format.js';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

describe('generateKey', () => {
  it('makes <prefix 8>.<secret 32> of letters and digits only, with the prefix as its first 8 characters (DRF 16)', () => {
    for (let i = 0; i < 200; i++) {
      const { key, prefix } = generateKey();
      expect(key).toMatch(/^[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}$/);
      expect(key).toHaveLength(41);
      expect(prefix).toBe(key.slice(0, 8));
    }
    expect(API_KEY_PREFIX_LENGTH).toBe(8);
    expect(API_KEY_SECRET_LENGTH).toBe(32);
  });

  it('puts the brand in front and keeps the prefix after it', () => {
    const { key, prefix } = generateKey('sk_live_');
    expect(key).toMatch(/^sk_live_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}$/);
    expect(prefix).toBe(key.slice(8, 16));
    expect(key).toHaveLength(keyLength('sk_live_'));
  });

  it('never repeats a key or a prefix over many draws', () => {
    const keys = new Set<string>();
    const prefixes = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const { key, prefix } = generateKey();
      keys.add(key);
      prefixes.add(prefix);
    }
    expect(keys.size).toBe(20_000);
    expect(prefixes.size).toBe(20_000);
  });

  it('draws from the whole alphabet: every letter and digit shows up', () => {
    // 62 symbols over 40,000 draws: a symbol left out would mean a broken or biased alphabet.
    const seen = new Set(randomAlphanumeric(40_000));
    expect([...seen].sort().join('')).toBe([...ALPHANUMERIC].sort().join(''));
  });
});

describe('parseKey', () => {
  const { key, prefix } = generateKey();
  const branded = generateKey('sk_live_');

  it('returns the prefix of a well-formed key', () => {
    expect(parseKey(key, '')).toBe(prefix);
    expect(parseKey(branded.key, 'sk_live_')).toBe(branded.prefix);
  });

  it.each([
    ['one character short', key.slice(0, -1)],
    ['one character long', `${key}a`],
    ['a trailing space', `${key} `],
    ['a leading space', ` ${key}`],
    ['only the prefix', prefix],
    ['prefix and dot, no secret', `${prefix}.`],
    ['no dot (same length)', `${prefix}x${key.slice(9)}`],
    ['the dot one place early', `${key.slice(0, 7)}.${key.charAt(7)}${key.slice(9)}`],
    ['the dot one place late', `${key.slice(0, 8)}${key.charAt(9)}.${key.slice(10)}`],
    ['two dots', `${prefix}.${key.slice(9, 24)}.${key.slice(25)}`],
    ['a dash in the secret', `${key.slice(0, 20)}-${key.slice(21)}`],
    ['an underscore in the prefix', `_${key.slice(1)}`],
    ['a non-ASCII letter', `${key.slice(0, 20)}é${key.slice(21)}`],
    ['a NUL byte', `${key.slice(0, 20)}\0${key.slice(21)}`],
    ['a newline', `${key.slice(0, 40)}\n`],
    ['the empty string', ''],
    ['a megabyte of letters', 'a'.repeat(1_000_000)],
    ['a megabyte with a valid key in front', key + 'a'.repeat(1_000_000)],
  ])('refuses %s', (_case, presented) => {
    expect(parseKey(presented, '')).toBeNull();
  });

  it('checks the brand: another brand, a missing brand or an unexpected brand is refused', () => {
    expect(parseKey(`sk_test_${branded.key.slice(8)}`, 'sk_live_')).toBeNull();
    expect(parseKey(key, 'sk_live_')).toBeNull();
    expect(parseKey(`sk_live_${key}`, 'sk_live_')).toBe(prefix);
    expect(parseKey(branded.key, '')).toBeNull();
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 12345678],
    ['an object', { toString: () => key }],
    ['an array holding a key', [key]],
    ['a Buffer of a key', Buffer.from(key)],
  ])('refuses %s', (_case, presented) => {
    expect(parseKey(presented, '')).toBeNull();
  });
});

describe('isPrefix and keyLength', () => {
  it('tells an 8-character alphanumeric prefix from anything else', () => {
    expect(isPrefix('Ab3dE6g8')).toBe(true);
    expect(isPrefix('Ab3dE6g')).toBe(false);
    expect(isPrefix('Ab3dE6g89')).toBe(false);
    expect(isPrefix('Ab3dE6g-')).toBe(false);
    expect(isPrefix('3f2b8c9e-1d2a-4c5b-9e8f-7a6b5c4d3e2f')).toBe(false);
  });

  it('counts brand, prefix, dot and secret', () => {
    expect(keyLength('')).toBe(41);
    expect(keyLength('sk_live_')).toBe(49);
  });
});

describe('isScope', () => {
  it('accepts letters, digits and ":._-", 1 to 100 of them', () => {
    for (const scope of ['projects:read', 'a.b_c-d', 'A', 'x'.repeat(100)]) {
      expect(isScope(scope), scope).toBe(true);
    }
  });

  it('refuses "*" anywhere: scopes match exactly, so a wildcard would be a scope named "*"', () => {
    for (const scope of ['*', 'projects:*', '*:read', 'a*b'])
      expect(isScope(scope), scope).toBe(false);
  });

  it('refuses spaces, commas, empty, too long and non-strings', () => {
    for (const scope of ['has space', 'a,b', '', 'x'.repeat(101), 42, null, undefined]) {
      expect(isScope(scope), String(scope)).toBe(false);
    }
  });
});
