import { randomBytes } from 'node:crypto';

/** Characters a key's prefix and secret are drawn from. */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Largest multiple of 62 below 256: bytes at or above it are dropped so every character is equally likely. */
const UNBIASED_LIMIT = 248;

/** Length of the public prefix of a key. @publicApi */
export const API_KEY_PREFIX_LENGTH = 8;
/** Length of the secret part of a key: 62^32, about 190 bits. @publicApi */
export const API_KEY_SECRET_LENGTH = 32;

const PREFIX_PATTERN = /^[A-Za-z0-9]{8}$/;
const SECRET_PATTERN = /^[A-Za-z0-9]{32}$/;

// No `*`: scopes match exactly, so a wildcard-looking scope would grant nothing it seems to grant.
const SCOPE_PATTERN = /^[A-Za-z0-9:._-]{1,100}$/;

/**
 * Whether a value can be a scope: 1 to 100 letters, digits and `:._-` (no spaces, commas or `*`).
 * Scopes are compared exactly and case-sensitively: `projects:write` grants nothing else.
 */
export function isScope(value: unknown): value is string {
  return typeof value === 'string' && SCOPE_PATTERN.test(value);
}

/** A brand prefix, such as `sk_live_`, may hold only these characters. */
export const BRAND_PATTERN = /^[A-Za-z0-9_-]{0,32}$/;

/** Draws `length` characters of `ALPHABET` from the operating system's CSPRNG, without modulo bias. */
export function randomAlphanumeric(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < UNBIASED_LIMIT) {
        out += ALPHABET[byte % ALPHABET.length];
        if (out.length === length) break;
      }
    }
  }
  return out;
}

/** A freshly generated key and the prefix it will be looked up by. */
export interface GeneratedKey {
  /** The whole key, `<brand><prefix>.<secret>`, to be shown once. */
  key: string;
  /** The 8-character public prefix. */
  prefix: string;
}

/**
 * Makes a new key `<brand><prefix>.<secret>`.
 *
 * @param brand optional fixed text in front, such as `sk_live_`
 */
export function generateKey(brand = ''): GeneratedKey {
  const prefix = randomAlphanumeric(API_KEY_PREFIX_LENGTH);
  return { key: `${brand}${prefix}.${randomAlphanumeric(API_KEY_SECRET_LENGTH)}`, prefix };
}

/** Length in characters of a key made with the given brand. */
export function keyLength(brand: string): number {
  return brand.length + API_KEY_PREFIX_LENGTH + 1 + API_KEY_SECRET_LENGTH;
}

/**
 * Returns the lookup prefix of a presented key, or `null` if it cannot be a key of ours.
 * Anything that fails here is refused without touching the database, so hostile input of any
 * size or content costs a length check and two anchored regular expressions at most.
 */
export function parseKey(presented: unknown, brand: string): string | null {
  if (
    typeof presented !== 'string' ||
    presented.length !== keyLength(brand) ||
    !presented.startsWith(brand)
  ) {
    return null;
  }
  const prefix = presented.slice(brand.length, brand.length + API_KEY_PREFIX_LENGTH);
  const separator = presented.charAt(brand.length + API_KEY_PREFIX_LENGTH);
  const secret = presented.slice(brand.length + API_KEY_PREFIX_LENGTH + 1);
  if (separator !== '.' || !PREFIX_PATTERN.test(prefix) || !SECRET_PATTERN.test(secret)) {
    return null;
  }
  return prefix;
}

/** Whether a string has the shape of a stored prefix (used to tell ids from prefixes). */
export function isPrefix(value: string): boolean {
  return PREFIX_PATTERN.test(value);
}
