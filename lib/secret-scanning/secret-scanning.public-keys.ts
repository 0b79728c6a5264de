import { readFileSync } from 'node:fs';
import { verify } from 'node:crypto';
import { ApiKeyConfigurationError } from '../api-key.errors.js';

/** Where GitHub publishes the keys that sign secret-scanning partner reports. @publicApi */
export const GITHUB_SECRET_SCANNING_KEYS_URL =
  'https://api.github.com/meta/public_keys/secret_scanning';

/** One key of GitHub's public-keys document. @publicApi */
export interface GitHubPublicKey {
  key_identifier: string;
  /** The ECDSA P-256 public key, PEM. */
  key: string;
  is_current?: boolean;
}

/**
 * Where the signing keys come from: GitHub's endpoint (default, fetched and cached), a file in
 * the endpoint's JSON shape (`{ "public_keys": [...] }`), read at boot, or the keys themselves.
 *
 * @publicApi
 */
export type SecretScanningKeySource =
  { url: string; cacheTtl?: number } | { file: string } | { keys: GitHubPublicKey[] };

/** How long fetched keys are trusted before they are fetched again, in ms. */
const DEFAULT_CACHE_TTL = 60 * 60_000;
/** An unknown key identifier triggers a fetch at most this often, in ms. */
const REFETCH_INTERVAL = 60_000;

/** The keys of a GitHub public-keys document, or an explanation of what is wrong with it. */
function keysOf(document: unknown): GitHubPublicKey[] | string {
  const keys = (document as { public_keys?: unknown } | null)?.public_keys;
  if (!Array.isArray(keys)) return 'it has no "public_keys" list';
  const valid = keys.every(
    (k) => typeof k?.key_identifier === 'string' && typeof k?.key === 'string',
  );
  return valid ? keys : 'every entry needs a "key_identifier" and a PEM "key"';
}

/**
 * The public keys that sign secret-scanning reports, by identifier, and the signature check.
 * Keys from a URL are cached for `cacheTtl`; an unknown identifier fetches again, at most once
 * a minute, so a rotation at GitHub is picked up without letting requests force fetches.
 */
export class SecretScanningPublicKeys {
  private keys = new Map<string, string>();
  private fetchedAt = -Infinity;
  private fetching: Promise<void> | null = null;

  /**
   * @throws {ApiKeyConfigurationError} for a file that cannot be read or is not in GitHub's shape
   */
  constructor(
    private readonly source: SecretScanningKeySource,
    private readonly now: () => number = Date.now,
  ) {
    if ('file' in source) this.remember(readKeyFile(source.file), `file ${source.file}`);
    else if ('keys' in source) this.remember(source.keys, 'the keys option');
  }

  /**
   * Whether `signature` (base64 DER ECDSA over SHA-256) signs `payload` under key `identifier`.
   * Never throws for bad input: anything unverifiable is `false`.
   */
  async verify(payload: Buffer, identifier: string, signature: string): Promise<boolean> {
    const key = await this.key(identifier);
    if (key === undefined) return false;
    try {
      return verify('sha256', payload, key, Buffer.from(signature, 'base64'));
    } catch {
      return false;
    }
  }

  private async key(identifier: string): Promise<string | undefined> {
    if (!('url' in this.source)) return this.keys.get(identifier);
    // A fetch under way may bring the key: a request arriving meanwhile must not be judged without it.
    if (this.fetching) await this.fetching;
    const age = this.now() - this.fetchedAt;
    const known = this.keys.get(identifier);
    const stale = age > (this.source.cacheTtl ?? DEFAULT_CACHE_TTL);
    if ((known === undefined && age > REFETCH_INTERVAL) || stale) await this.fetchOnce();
    return this.keys.get(identifier);
  }

  private fetchOnce(): Promise<void> {
    this.fetching ??= this.fetchKeys().finally(() => (this.fetching = null));
    return this.fetching;
  }

  private async fetchKeys(): Promise<void> {
    const { url } = this.source as { url: string };
    this.fetchedAt = this.now();
    const response = await fetch(url, { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`GitHub's public keys answered ${response.status}`);
    const keys = keysOf(await response.json());
    if (typeof keys === 'string') throw new Error(`GitHub's public keys: ${keys}`);
    this.keys = new Map(keys.map((k) => [k.key_identifier, k.key]));
  }

  private remember(keys: GitHubPublicKey[] | string, origin: string): void {
    if (typeof keys === 'string')
      throw new ApiKeyConfigurationError(
        'secretScanning.publicKeys',
        `${origin} is not GitHub's public-keys JSON: ${keys}.`,
        `save the body of ${GITHUB_SECRET_SCANNING_KEYS_URL} there, or pass { url }.`,
      );
    this.keys = new Map(keys.map((k) => [k.key_identifier, k.key]));
  }
}

/** The keys of a public-keys file, or what is wrong with it. */
function readKeyFile(file: string): GitHubPublicKey[] | string {
  try {
    return keysOf(JSON.parse(readFileSync(file, 'utf8')));
  } catch (error) {
    return `it cannot be read as JSON (${(error as Error).message})`;
  }
}
