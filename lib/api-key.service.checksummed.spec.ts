import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ENGINES } from '../test/support/databases.js';
import { FAST_BCRYPT, openKeyStore, type KeyStore } from '../test/support/key-store.js';
import { generateKey } from './keys/format.js';
import { ApiKeyPrefixLookup } from './store/lookup.js';
import type { ApiKeyService } from './api-key.service.js';

/** `key` with the character at `index` from the end replaced by another key character. */
function changedFromEnd(key: string, index: number): string {
  const at = key.length - index;
  const swapped = key.charAt(at) === 'A' ? 'B' : 'A';
  return key.slice(0, at) + swapped + key.slice(at + 1);
}

describe.each(ENGINES)('checksummed keys in ApiKeyService on %s', (engine) => {
  let store: KeyStore;
  let service: ApiKeyService;

  /**
   * The verification of `key`, how many reads of the key table it made (every engine's lookup,
   * compiled or not, goes through `ApiKeyPrefixLookup.find`) and how many hashes it ran.
   */
  async function verifyCounting(key: string) {
    const reads = vi.spyOn(ApiKeyPrefixLookup.prototype, 'find');
    const hashes = vi.spyOn(FAST_BCRYPT, 'verify');
    try {
      const result = await service.verify(key);
      return { result, queries: reads.mock.calls.length, hashes: hashes.mock.calls.length };
    } finally {
      reads.mockRestore();
      hashes.mockRestore();
    }
  }

  beforeAll(async () => {
    Logger.overrideLogger(false);
    store = await openKeyStore(engine);
    service = store.service({ brand: 'sk_', keyFormat: 'checksummed' });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('creates checksummed keys that verify, and plain keys made before still verify', async () => {
    const plain = await store.service({ brand: 'sk_' }).create({ name: 'old' });
    expect(plain.key).toMatch(/^sk_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}$/);
    const { apiKey, key } = await service.create({ name: 'new' });
    expect(key).toMatch(new RegExp(`^sk_v1_${apiKey.prefix}_[A-Za-z0-9]{38}$`));
    expect(await service.verify(key)).toMatchObject({ valid: true, apiKey: { id: apiKey.id } });
    expect(await service.verify(plain.key)).toMatchObject({ valid: true });
  });

  it('refuses a changed checksum, or a changed secret under the old checksum, with no query', async () => {
    const { key, apiKey } = await service.create({ name: 'typo' });
    expect(await verifyCounting(key)).toMatchObject({ result: { valid: true }, queries: 1 });
    for (const presented of [
      changedFromEnd(key, 1),
      changedFromEnd(key, 6),
      changedFromEnd(key, 7),
    ])
      expect(await verifyCounting(presented)).toEqual({
        // The prefix it names is given, unread, so usage analytics can count it against its key.
        result: { valid: false, reason: 'malformed', prefix: apiKey.prefix },
        queries: 0,
        hashes: 0,
      });
  });

  it('reads the database for a well-formed key it does not know, once', async () => {
    const unknown = generateKey('sk_', 'checksummed');
    expect(await verifyCounting(unknown.key)).toEqual({
      result: { valid: false, reason: 'unknown', prefix: unknown.prefix },
      queries: 1,
      hashes: 0,
    });
  });
});
