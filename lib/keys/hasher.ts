import { createHmac, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { ApiKeyConfigurationError } from '../api-key.errors.js';

/**
 * Turns keys into stored hashes and checks keys against them. Implement it to store keys
 * with another algorithm; pass the old hasher in `legacyHashers` when you switch, and keys
 * still verify and are re-hashed with the new one on their next successful use.
 *
 * @publicApi
 */
export interface ApiKeyHasher {
  /** Short label, for logs and errors, e.g. `bcrypt`. */
  readonly algorithm: string;
  /**
   * Longest input, in bytes, that the algorithm fully takes into account (bcrypt: 72), or
   * `undefined` for no limit. Keys that could be longer are refused at boot.
   */
  readonly maxInputBytes?: number;
  /** Hashes a key for storage. */
  hash(key: string): Promise<string>;
  /**
   * Whether `key` matches `hashed`. Must take time independent of where they differ, and accept
   * only the key `hashed` was made from: the service refuses any other key for a hash once it
   * has seen that one verify.
   */
  verify(key: string, hashed: string): Promise<boolean>;
  /** Whether `hashed` is in this hasher's format (so this hasher should verify it). */
  recognizes(hashed: string): boolean;
  /** Whether a hash in this hasher's format was made with other settings and should be redone. */
  needsRehash(hashed: string): boolean;
}

const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** The functions of the bcrypt package the hasher calls. */
interface Bcrypt {
  hash(data: string, rounds: number): Promise<string>;
  compare(data: string, encrypted: string): Promise<boolean>;
}

const requireFromLibrary = createRequire(import.meta.url);
let bcrypt: Bcrypt | undefined;

/**
 * bcrypt is an optional peer, loaded on first use so that apps hashing with HMAC need not
 * install it. Loaded with require, not import(), so once loaded it costs hash and verify no
 * extra await.
 */
function loadBcrypt(): Bcrypt {
  if (bcrypt) return bcrypt;
  try {
    bcrypt = requireFromLibrary('bcrypt') as Bcrypt;
  } catch (error) {
    const reason = String((error as Error)?.message).split('\n')[0];
    const missing =
      (error as NodeJS.ErrnoException)?.code === 'MODULE_NOT_FOUND' && reason.includes("'bcrypt'");
    throw new ApiKeyConfigurationError(
      'hasher',
      missing
        ? 'BcryptApiKeyHasher needs the bcrypt package, which is not installed.'
        : `the bcrypt package is installed but could not be loaded (${reason}).`,
      `run \`npm install bcrypt\`${missing ? '' : ' again'}, or hash with HMAC instead: hasher: new HmacSha256ApiKeyHasher({ secret }).`,
    );
  }
  return bcrypt;
}

/** Runs `use` with bcrypt, turning a failure to load it into a rejection, as for any hash error. */
function withBcrypt<R>(use: (loaded: Bcrypt) => Promise<R>): Promise<R> {
  try {
    return use(loadBcrypt());
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Loads bcrypt now, so an app configured to hash with it fails at boot, not at its first key.
 *
 * @throws {ApiKeyConfigurationError} if bcrypt is not installed or cannot load, naming the fix
 */
export function assertBcryptLoads(): void {
  loadBcrypt();
}

/**
 * bcrypt, the default. Slow on purpose (cost 10 is about 60 ms a check on our machines); the
 * service memoises successful checks so only a key's first request pays for it.
 *
 * @publicApi
 */
export class BcryptApiKeyHasher implements ApiKeyHasher {
  readonly algorithm = 'bcrypt';
  readonly maxInputBytes = 72;
  /** The bcrypt cost (log2 of rounds) new hashes are made with. */
  readonly cost: number;

  /**
   * @param options.cost bcrypt cost factor, 4 to 31; default 10 (OWASP's minimum)
   * @throws {ApiKeyConfigurationError} if the cost is out of range
   */
  constructor(options: { cost?: number } = {}) {
    const cost = options.cost ?? 10;
    if (!Number.isInteger(cost) || cost < 4 || cost > 31) {
      throw new ApiKeyConfigurationError(
        'hasher',
        `bcrypt cost ${String(cost)} is out of range.`,
        'use an integer from 4 to 31 (10 or more in production).',
      );
    }
    this.cost = cost;
  }

  hash(key: string): Promise<string> {
    return withBcrypt((loaded) => loaded.hash(key, this.cost));
  }

  verify(key: string, hashed: string): Promise<boolean> {
    return withBcrypt((loaded) => loaded.compare(key, hashed));
  }

  recognizes(hashed: string): boolean {
    return BCRYPT_HASH.test(hashed);
  }

  needsRehash(hashed: string): boolean {
    return Number(BCRYPT_HASH.exec(hashed)?.[1]) !== this.cost;
  }
}

const HMAC_PREFIX = 'hmac-sha256$';

/** Whether a stored hash is in `HmacSha256ApiKeyHasher`'s format, whose check is already fast. */
export function isHmacHash(hashed: string): boolean {
  return hashed.startsWith(HMAC_PREFIX) && hashed.length === HMAC_PREFIX.length + 64;
}

/**
 * HMAC-SHA-256 under a server-side secret (a pepper) kept out of the database, so a stolen
 * table alone cannot be used to test guessed keys. Fast: about a microsecond a check. Keys
 * carry about 190 bits of entropy, far beyond what a slow hash is needed for.
 *
 * @publicApi
 */
export class HmacSha256ApiKeyHasher implements ApiKeyHasher {
  readonly algorithm = 'hmac-sha256';
  private readonly secret: Buffer;

  /**
   * @param options.secret the pepper, at least 32 bytes; keep it in your secret store, not in the database
   * @throws {ApiKeyConfigurationError} if the secret is missing or shorter than 32 bytes
   */
  constructor(options: { secret: string | Buffer }) {
    const secret =
      typeof options?.secret === 'string' ? Buffer.from(options.secret, 'utf8') : options?.secret;
    if (!Buffer.isBuffer(secret) || secret.length < 32) {
      throw new ApiKeyConfigurationError(
        'hasher',
        'HmacSha256ApiKeyHasher needs a secret of at least 32 bytes.',
        'pass { secret } from your secret store, e.g. 32 random bytes: `openssl rand -base64 32`.',
      );
    }
    this.secret = Buffer.from(secret);
  }

  async hash(key: string): Promise<string> {
    return HMAC_PREFIX + this.mac(key).toString('hex');
  }

  async verify(key: string, hashed: string): Promise<boolean> {
    if (!this.recognizes(hashed)) return false;
    const expected = Buffer.from(hashed.slice(HMAC_PREFIX.length), 'hex');
    const actual = this.mac(key);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  recognizes(hashed: string): boolean {
    return isHmacHash(hashed);
  }

  needsRehash(): boolean {
    return false;
  }

  private mac(key: string): Buffer {
    return createHmac('sha256', this.secret).update(key, 'utf8').digest();
  }
}
