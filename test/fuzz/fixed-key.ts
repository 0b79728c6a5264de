import { randomUUID } from 'node:crypto';
import type { Repository } from 'typeorm';
import type { AbstractApiKey, ApiKeyService } from '../../lib/index.js';

/**
 * The key the fuzz specs store, the same on every run: the fuzzed values are built around it,
 * so a seed that fast-check reports replays exactly the same requests.
 */
export function fixedKey(brand: string): { key: string; prefix: string } {
  const prefix = 'FuzzKey1';
  return { key: `${brand}${prefix}.${'Fuzz1Secret2Never3Shown'.padEnd(32, 'x')}`, prefix };
}

/**
 * Stores `fixedKey()` as a row of its own, since the service only stores keys it generates (and
 * the revocation trigger refuses to change a stored key's prefix).
 *
 * @returns the fixed key, which the service now accepts
 */
export async function storeFixedKey(
  service: ApiKeyService<any>,
  repository: Repository<AbstractApiKey>,
): Promise<string> {
  const { key, prefix } = fixedKey(service.options.brand);
  await repository.insert({
    id: randomUUID(),
    prefix,
    hashedKey: await service.options.hasher.hash(key),
    name: 'target',
    scopes: [],
    createdAt: new Date(),
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
  } as any);
  return key;
}
