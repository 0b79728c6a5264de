import type { AbstractApiKey } from '../api-key.entity.js';
import type { SecretScanningKeySource } from './secret-scanning.public-keys.js';

/** Name of the event emitted on `@nestjs/event-emitter`'s bus for each leaked key. @publicApi */
export const API_KEY_LEAKED_EVENT = 'api-key.leaked';

/** Token of the options `SecretScanningModule.forRoot()` was given. */
export const SECRET_SCANNING_OPTIONS = Symbol('SECRET_SCANNING_OPTIONS');

/**
 * A live key of this app reported as leaked. Carries no part of the secret.
 *
 * @publicApi
 */
export interface ApiKeyLeakedEvent<T extends AbstractApiKey = AbstractApiKey> {
  /** The key's id. */
  id: string;
  /** The key's public prefix. */
  prefix: string;
  /** The key's row, without its hash: its owner columns tell whom to warn. */
  apiKey: T;
  /** The ApiKeyModule registration the key belongs to. */
  registration: string;
  /** Where the key was found, as the report says (e.g. a commit's URL). */
  url: string | null;
  /** What kind of place it was found in (`content`, `commit`, `npm`, ...), as the report says. */
  source: string | null;
  /** Whether the key was revoked (`action: 'revoke'`) or left usable (`action: 'notify'`). */
  revoked: boolean;
}

/**
 * Options of `SecretScanningModule.forRoot()`.
 *
 * @publicApi
 */
export interface SecretScanningOptions {
  /** Route of the endpoint, answering POST. Default `secret-scanning`. */
  path?: string;
  /**
   * The API key guards the endpoint must skip, as `@SkipApiKey()` takes them: `true` for the
   * default registration's global guard, or registration names. Default none: only guards
   * applied globally reach the endpoint, and a skip of a guard that is not there is refused at boot.
   */
  skipApiKey?: boolean | string[];
  /**
   * Keys that sign reports. Default `{ url: GITHUB_SECRET_SCANNING_KEYS_URL }`, fetched and
   * cached for `cacheTtl` ms (default one hour).
   */
  publicKeys?: SecretScanningKeySource;
  /**
   * What happens to a live key reported as leaked: `revoke` (default) at once, or `notify`:
   * left usable, the event tells the owner to rotate it.
   */
  action?: 'revoke' | 'notify';
  /** ApiKeyModule registrations whose keys reports are checked against. Default the default one. */
  registrations?: string[];
  /** Called for each leaked key, besides the `api-key.leaked` event when `@nestjs/event-emitter` is set up. */
  onLeaked?: (event: ApiKeyLeakedEvent) => void | Promise<void>;
  /** Largest report accepted, in bytes; larger gets 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Most tokens in one report; more gets 400. Default 1000. */
  maxTokens?: number;
}
