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
 * Stores `fixedKey()` through the service, then gives the new row the fixed key's prefix and
 * hash, since the service only stores keys it generates.
 *
 * @returns the fixed key, which the service now accepts
 */
export async function storeFixedKey(
  service: ApiKeyService<any>,
  repository: Repository<AbstractApiKey>,
): Promise<string> {
  const { key, prefix } = fixedKey(service.options.brand);
  const { apiKey } = await service.create({ name: 'target' });
  await repository.update(
    { id: apiKey.id },
    { prefix, hashedKey: await service.options.hasher.hash(key) },
  );
  return key;
}
