import 'reflect-metadata';
import { describe, it, vi } from 'vitest';
import { ENGINES } from '../../test/support/databases.js';
import { expectQueryBuilderFallback } from '../../test/support/key-rows.js';
import { openKeyStore } from '../../test/support/key-store.js';
import { ApiKey } from '../api-key.entity.js';

// What a TypeORM release that moved the module looks like to the lookup: its import fails.
vi.mock('typeorm/driver/DriverUtils.js', () => {
  throw new Error("Cannot find module 'typeorm/driver/DriverUtils.js'");
});

describe('ApiKeyPrefixLookup without a TypeORM module its compiled form relies on', () => {
  it.each(ENGINES)(
    'serves every lookup on %s through the query builder, after one warning naming the module',
    async (engine) => {
      const store = await openKeyStore(engine);
      try {
        await expectQueryBuilderFallback(store.dataSource.getRepository(ApiKey), /DriverUtils\.js/);
      } finally {
        await store.close();
      }
    },
  );
});
