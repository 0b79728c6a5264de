import { generateKeyPairSync, sign } from 'node:crypto';
import type { GitHubPublicKey } from '../../lib/secret-scanning/index.js';

/** A stand-in for GitHub's secret-scanning signing key: its public key list, and its signatures. */
export interface GitHubSigner {
  /** The key's identifier, as `Github-Public-Key-Identifier` sends it. */
  keyId: string;
  /** What `publicKeys: { keys }` takes: this one key, current. */
  publicKeys: GitHubPublicKey[];
  /** The headers of a report of `body` signed by this key. */
  headers(body: string): Record<string, string>;
}

/** A new ECDSA P-256 key pair signing as GitHub does, under `keyId`. */
export function githubSigner(keyId = 'test-key-1'): GitHubSigner {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    keyId,
    publicKeys: [
      {
        key_identifier: keyId,
        key: publicKey.export({ type: 'spki', format: 'pem' }) as string,
        is_current: true,
      },
    ],
    headers: (body) => ({
      'github-public-key-identifier': keyId,
      'github-public-key-signature': sign('sha256', Buffer.from(body), privateKey).toString(
        'base64',
      ),
    }),
  };
}
