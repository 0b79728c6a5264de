import 'reflect-metadata';
import type { FindOptionsWhere, Repository } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKeyStore, type KeyStore } from '../../../test/support/key-store.js';
import { compilePrefixLookup, type LookupQueryBuilder } from './lookup.js';
import { ApiKey } from '../../api-key.entity.js';

describe('compilePrefixLookup', () => {
  let store: KeyStore;
  let keys: Repository<ApiKey>;

  beforeAll(async () => {
    store = await openKeyStore('sqlite');
    keys = store.dataSource.getRepository(ApiKey);
  });
  afterAll(async () => {
    await store?.close();
  });

  const lookupQuery =
    (where: FindOptionsWhere<ApiKey> = {}): LookupQueryBuilder<ApiKey> =>
    (prefix) =>
      keys
        .createQueryBuilder('api_key')
        .setFindOptions({ where: { ...where, prefix } as FindOptionsWhere<ApiKey> })
        .addSelect('api_key.hashedKey');

  it('compiles the lookup on the TypeORM release the package is tested with', async () => {
    const compilation = await compilePrefixLookup(store.dataSource, lookupQuery());
    expect(compilation.missing).toBeNull();
    expect(compilation.lookup).not.toBeNull();
  });

  it('names an internal a TypeORM release no longer has, instead of throwing', async () => {
    const plain = lookupQuery();
    // What a release that renamed the query builder's expression map looks like to the compiler.
    const renamed: LookupQueryBuilder<ApiKey> = (prefix) =>
      typeof prefix === 'string'
        ? plain(prefix)
        : Object.defineProperty(plain(prefix), 'expressionMap', { value: undefined });
    expect(await compilePrefixLookup(store.dataSource, renamed)).toEqual({
      lookup: null,
      missing: expect.stringMatching(/expressionMap is missing/),
    });
  });

  it("passes on the query builder's refusal of a where, which is the caller's mistake", async () => {
    const unknownProperty = { noSuchColumn: true } as FindOptionsWhere<ApiKey>;
    await expect(
      compilePrefixLookup(store.dataSource, lookupQuery(unknownProperty)),
    ).rejects.toThrow(/noSuchColumn/);
  });
});
