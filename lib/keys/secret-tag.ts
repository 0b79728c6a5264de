import { hash, timingSafeEqual } from 'node:crypto';
import { isHmacHash } from './hasher.js';

/** Bytes of the key's SHA-256 a tag keeps: 32 bits, a filter, never a proof. */
const TAG_BYTES = 4;
/** Hex characters of each half of a stored tag. */
const HALF = TAG_BYTES * 2;
/** A stored tag: the key's 32 bits, then the 32 bits of the stored hash it goes with. */
const STORED_TAG = /^[0-9a-f]{16}$/;

/**
 * What a row's tag says about a presented key: `match` (the slow hash decides), `mismatch` (a
 * wrong secret, refused without hashing), or `absent` (no tag, or one written for another stored
 * hash: the slow hash decides, and a success writes a tag).
 */
export type SecretTagVerdict = 'match' | 'mismatch' | 'absent';

/** The first 32 bits of the SHA-256 of a stored hash, in hex: what binds a tag to that hash. */
function hashBinding(hashedKey: string): string {
  return hash('sha256', hashedKey, 'hex').slice(0, HALF);
}

/**
 * The tag stored beside a key's slow hash, so that a wrong secret is refused without that hash
 * (see "The secret tag" in docs/verification.md): the first 32 bits of the key's SHA-256, then
 * the first 32 bits of the SHA-256 of `hashedKey`, which makes a tag apply only while the row
 * holds the hash it was written with. 16 hex characters. `null` for HMAC hashes, whose check is
 * as fast as the tag's, so their table keeps nothing testable without the pepper.
 *
 * @param keyDigest the SHA-256 of the whole key, as bytes
 * @param hashedKey the stored hash of the same key
 */
export function secretTagFor(keyDigest: Buffer, hashedKey: string): string | null {
  if (isHmacHash(hashedKey)) return null;
  return keyDigest.toString('hex', 0, TAG_BYTES) + hashBinding(hashedKey);
}

/** The tag of a key about to be stored with `hashedKey` (see {@link secretTagFor}). */
export function secretTagOfKey(key: string, hashedKey: string): string | null {
  return secretTagFor(hash('sha256', key, 'buffer'), hashedKey);
}

/** The presented key's 32 bits, decoded from a stored tag, for the constant-time comparison. */
const storedBits = Buffer.alloc(TAG_BYTES);

/**
 * Compares a presented key's digest with a row's tag, in constant time for the key's bits.
 *
 * @param stored the row's `secret_tag`, `null` for a key stored before tags or under HMAC
 * @param keyDigest the SHA-256 of the presented key, as bytes
 * @param hashedKey the row's stored hash, which the tag must have been written with
 */
export function compareSecretTag(
  stored: string | null | undefined,
  keyDigest: Buffer,
  hashedKey: string,
): SecretTagVerdict {
  if (typeof stored !== 'string' || !STORED_TAG.test(stored)) return 'absent';
  // A tag written for another hash (a secret changed by raw SQL) says nothing of this one.
  if (stored.slice(HALF) !== hashBinding(hashedKey)) return 'absent';
  storedBits.write(stored.slice(0, HALF), 'hex');
  return timingSafeEqual(storedBits, keyDigest.subarray(0, TAG_BYTES)) ? 'match' : 'mismatch';
}
