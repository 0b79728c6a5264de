import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import type { FindOptionsWhere, Repository } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../../test/support/databases.js';
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

/**
 * The accelerator's contract with TypeORM: it reaches into internals that a release may move, so
 * it is verified on the releases the peer range admits. The range and the tested release are
 * read from package.json and node_modules: moving the range's floor or the tested release to
 * another minor or major fails here until the lookup has been checked on it and
 * VERIFIED_TYPEORM_MINORS says so.
 */
describe('the compiled lookup and the TypeORM peer range', () => {
  /** The TypeORM minors the compiled lookup was verified on, as `major.minor`. */
  const VERIFIED_TYPEORM_MINORS = ['1.1'];
  const manifest = JSON.parse(
    readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
  ) as { peerDependencies: Record<string, string> };
  // typeorm's exports map hides its package.json from require(); read the installed file.
  const installed = (
    JSON.parse(
      readFileSync(new URL('../../../node_modules/typeorm/package.json', import.meta.url), 'utf8'),
    ) as { version: string }
  ).version;

  it('admits only verified minors, and is tested on one of them', () => {
    const range = /^\^(\d+)\.(\d+)\.\d+$/.exec(manifest.peerDependencies.typeorm);
    expect(range, `peer range ${manifest.peerDependencies.typeorm}`).not.toBeNull();
    // The caret range also admits later minors not yet released: on one that moved an internal,
    // the lookup names it and falls back to the query builder (the case above), never breaks.
    expect(VERIFIED_TYPEORM_MINORS).toContain(`${range![1]}.${range![2]}`);
    const [major, minor] = installed.split('.');
    expect(VERIFIED_TYPEORM_MINORS).toContain(`${major}.${minor}`);
    expect(major).toBe(range![1]);
  });

  it.each(ENGINES)('compiles on %s with the installed release', async (engine) => {
    const engineStore = await openKeyStore(engine);
    try {
      const repository = engineStore.dataSource.getRepository(ApiKey);
      const compilation = await compilePrefixLookup(engineStore.dataSource, (prefix) =>
        repository
          .createQueryBuilder('api_key')
          .setFindOptions({ where: { prefix } as FindOptionsWhere<ApiKey> })
          .addSelect('api_key.hashedKey'),
      );
      expect(compilation.missing).toBeNull();
      expect(compilation.lookup).not.toBeNull();
    } finally {
      await engineStore.close();
    }
  });
});
