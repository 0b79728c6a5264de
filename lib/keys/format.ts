import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** Characters a key's prefix and secret are drawn from. */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Largest multiple of 62 below 256: bytes at or above it are dropped so every character is equally likely. */
const UNBIASED_LIMIT = 248;

/** Length of the public prefix of a key. @publicApi */
export const API_KEY_PREFIX_LENGTH = 8;
/** Length of the secret part of a key: 62^32, about 190 bits. @publicApi */
export const API_KEY_SECRET_LENGTH = 32;

/**
 * Whether `text` holds only `ALPHABET`'s characters from `start` up to `end` (excluded). Read in
 * place: parsing a presented key slices and matches nothing but the prefix it returns.
 */
function isAlphanumericRun(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    // Setting bit 0x20 lower-cases an ASCII letter and maps no other code into a-z.
    const lower = code | 0x20;
    if (!(code >= 0x30 && code <= 0x39) && !(lower >= 0x61 && lower <= 0x7a)) return false;
  }
  return true;
}

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

/**
 * The shape new keys are made in. Keys of either shape verify, whatever this says: the format
 * is read from each key.
 *
 * - `plain`: `<brand><prefix 8>.<secret 32>`, the original format.
 * - `checksummed`: `<brand>v1_<prefix 8>_<secret 32><checksum 6>`, GitHub's token design: `v1_`
 *   marks the format's version, and the checksum is the CRC32 of everything before it in base62
 *   (see `checksumOf`), so scanners can confirm a candidate offline and a mistyped or guessed
 *   key is refused before any database read.
 *
 * @publicApi
 */
export type ApiKeyFormat = 'plain' | 'checksummed';

/** The version marker of checksummed keys, between the brand and the prefix. */
export const CHECKSUMMED_KEY_MARKER = 'v1_';
/** Length of a checksummed key's checksum: 62^6 covers every CRC32 value. */
const CHECKSUM_LENGTH = 6;

/** A freshly generated key and the prefix it will be looked up by. */
export interface GeneratedKey {
  /** The whole key, to be shown once. */
  key: string;
  /** The 8-character public prefix. */
  prefix: string;
}

/**
 * The checksum of a checksummed key's body (everything before the checksum): its CRC32 written
 * in base62 with `ALPHABET`'s order as digit values, most significant first, 6 characters.
 */
export function checksumOf(body: string): string {
  let value = crc32(body);
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/**
 * Makes a new key in the given format (see `ApiKeyFormat`).
 *
 * @param brand optional fixed text in front, such as `sk_live_`
 */
export function generateKey(brand = '', format: ApiKeyFormat = 'plain'): GeneratedKey {
  const prefix = randomAlphanumeric(API_KEY_PREFIX_LENGTH);
  const secret = randomAlphanumeric(API_KEY_SECRET_LENGTH);
  if (format === 'plain') return { key: `${brand}${prefix}.${secret}`, prefix };
  const body = `${brand}${CHECKSUMMED_KEY_MARKER}${prefix}_${secret}`;
  return { key: body + checksumOf(body), prefix };
}

/** Length in characters of a key made with the given brand and format. */
export function keyLength(brand: string, format: ApiKeyFormat = 'plain'): number {
  const plain = brand.length + API_KEY_PREFIX_LENGTH + 1 + API_KEY_SECRET_LENGTH;
  return format === 'plain' ? plain : plain + CHECKSUMMED_KEY_MARKER.length + CHECKSUM_LENGTH;
}

/**
 * Returns the lookup prefix of a presented key, or `null` if it cannot be a key of ours.
 * Anything that fails here is refused without touching the database, so hostile input of any
 * size or content costs a length check, one pass over its characters and, for a checksummed
 * key, one CRC32 over at most a few dozen characters.
 */
export function parseKey(presented: unknown, brand: string): string | null {
  if (typeof presented !== 'string' || !presented.startsWith(brand)) return null;
  if (presented.length === keyLength(brand, 'checksummed'))
    return parseChecksummedKey(presented, brand);
  if (presented.length !== keyLength(brand)) return null;
  const start = brand.length;
  const separator = start + API_KEY_PREFIX_LENGTH;
  if (
    presented.charAt(separator) !== '.' ||
    !isAlphanumericRun(presented, start, separator) ||
    !isAlphanumericRun(presented, separator + 1, presented.length)
  )
    return null;
  return presented.slice(start, separator);
}

/** `parseKey` for a key of the checksummed length: `<brand>v1_<prefix>_<secret><checksum>`. */
function parseChecksummedKey(presented: string, brand: string): string | null {
  const prefix = checksummedShapePrefix(presented, brand);
  // Not secret: anyone can compute it, so a plain comparison leaks nothing.
  return prefix !== null &&
    presented.endsWith(checksumOf(presented.slice(0, presented.length - CHECKSUM_LENGTH)))
    ? prefix
    : null;
}

/** The prefix of a key of the checksummed length and shape, its checksum unchecked; else `null`. */
function checksummedShapePrefix(presented: string, brand: string): string | null {
  const start = brand.length + CHECKSUMMED_KEY_MARKER.length;
  const separator = start + API_KEY_PREFIX_LENGTH;
  if (
    !presented.startsWith(CHECKSUMMED_KEY_MARKER, brand.length) ||
    presented.charAt(separator) !== '_' ||
    !isAlphanumericRun(presented, start, separator) ||
    !isAlphanumericRun(presented, separator + 1, presented.length - CHECKSUM_LENGTH)
  )
    return null;
  return presented.slice(start, separator);
}

/**
 * The prefix of a key `parseKey` refused that has the checksummed shape (a mistyped or guessed
 * secret fails its checksum), or `null`. Only for counting that refusal against the key it
 * names (usage analytics), never for a lookup: such keys are refused without a database read.
 */
export function misspelledKeyPrefix(presented: unknown, brand: string): string | null {
  if (
    typeof presented !== 'string' ||
    !presented.startsWith(brand) ||
    presented.length !== keyLength(brand, 'checksummed')
  )
    return null;
  return checksummedShapePrefix(presented, brand);
}

/**
 * Whether `value` is a well-formed checksummed key of an app using `brand`: the right shape and
 * a correct checksum. For secret scanners confirming a candidate offline; it reads no database,
 * so it says nothing about whether the key exists or is usable.
 *
 * @publicApi
 */
export function isWellFormedApiKey(value: unknown, brand = ''): boolean {
  return (
    typeof value === 'string' &&
    value.length === keyLength(brand, 'checksummed') &&
    parseKey(value, brand) !== null
  );
}

/**
 * The pattern of checksummed keys of an app using `brand`, without boundaries: what GitHub's
 * custom patterns take as "Secret format" (its default "before" and "after" boundaries fit) and
 * GitLab's or gitleaks' rules as `regex`. Brand characters need no escaping.
 *
 * @publicApi
 */
export function apiKeyPatternSource(brand = ''): string {
  const secret = API_KEY_SECRET_LENGTH + CHECKSUM_LENGTH;
  return `${brand}${CHECKSUMMED_KEY_MARKER}[A-Za-z0-9]{${API_KEY_PREFIX_LENGTH}}_[A-Za-z0-9]{${secret}}`;
}

/**
 * A global regular expression finding checksummed keys of an app using `brand` in text, not
 * inside a longer word. It matches the shape only: confirm each match with `isWellFormedApiKey`.
 *
 * @publicApi
 */
export function apiKeyPattern(brand = ''): RegExp {
  return new RegExp(`(?<![A-Za-z0-9_-])${apiKeyPatternSource(brand)}(?![A-Za-z0-9_-])`, 'g');
}

/** Whether a string has the shape of a stored prefix (used to tell ids from prefixes). */
export function isPrefix(value: string): boolean {
  return value.length === API_KEY_PREFIX_LENGTH && isAlphanumericRun(value, 0, value.length);
}
