import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey, ApiKeyService } from '../../lib/index.js';
import { createTestDatabase, ENGINES, type TestDatabase } from '../support/databases.js';
import { expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
import { NamedDataSourceAppModule, Note } from './named-data-source.app.js';

/** `ApiKeyModule.forRoot({ dataSource: 'keys' })`: the key table lives in a second, named data source. */
describe.each(ENGINES)('keys in a named data source on %s', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    let db: TestDatabase;
    /** The default data source's database: a second one on the same engine. */
    let appDb: TestDatabase;
    let app: INestApplication;
    let url: string;
    let stop: () => Promise<void>;

    beforeAll(async () => {
      appDb = await createTestDatabase(engine);
      ({ app, url, db, stop } = await startOnNewDatabase(engine, adapter, (database) =>
        NamedDataSourceAppModule.register(database, appDb.options),
      ));
    });
    afterAll(async () => {
      await stop?.();
      await appDb?.drop();
    });

    it('registers the key entity with the named data source only', () => {
      const keys = app.get<DataSource>(getDataSourceToken('keys'));
      const main = app.get<DataSource>(getDataSourceToken());
      expect(keys.options.type).toBe(db.options.type);
      expect(keys.hasMetadata(ApiKey)).toBe(true);
      expect(main.hasMetadata(ApiKey)).toBe(false);
      expect(main.hasMetadata(Note)).toBe(true);
    });

    it('stores keys there and checks requests against them', async () => {
      const service = app.get(ApiKeyService);
      const issued = await service.create({ name: 'named' });

      const rows: Array<{ prefix: string }> = await app
        .get<DataSource>(getDataSourceToken('keys'))
        .query('SELECT prefix FROM api_keys');
      expect(rows.map((row) => row.prefix)).toEqual([issued.apiKey.prefix]);
      await expect(
        app.get<DataSource>(getDataSourceToken()).query('SELECT prefix FROM api_keys'),
      ).rejects.toThrow(/api_keys/);

      const ok = await call(`${url}/notes`, {
        headers: { authorization: `Api-Key ${issued.key}` },
      });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ prefix: issued.apiKey.prefix });
      await service.revoke(issued.apiKey.prefix);
      expectUnauthorized(
        await call(`${url}/notes`, { headers: { authorization: `Api-Key ${issued.key}` } }),
      );
    });
  });
});
