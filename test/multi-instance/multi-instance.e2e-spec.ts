import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyModule, ApiKeyService } from '../../lib/index.js';
import { ADAPTERS, call, startApp } from '../support/http.js';
import { createSharedDatabase, type TestDatabase } from '../support/databases.js';
import { nextOrNotified } from '../support/revocation-sync-mode.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/**
 * Two app instances on one database stand for two servers: a key memoised as valid in one must
 * stop working there the moment another instance revokes it (in notify mode, once it is heard).
 */
describe.each(['sqlite-file', 'postgres', 'mariadb'] as const)(
  'revocation across instances (%s)',
  (engine) => {
    describe.each(ADAPTERS)('%s', (_platform, adapter) => {
      let db: TestDatabase | undefined;
      const apps: Array<{ app: any; url: string }> = [];

      beforeAll(async () => {
        db = await createSharedDatabase(engine);
        const options: any = db.options;
        for (let i = 0; i < 2; i++) {
          @Module({
            imports: [typeOrmFor(options, { synchronize: i === 0 }), ApiKeyModule.forRoot()],
            controllers: [keyPrefixController('who')],
          })
          class AppModule {}
          apps.push(await startApp(AppModule, adapter));
        }
      });
      afterAll(async () => {
        for (const { app } of apps) await app.close();
        await db?.drop();
      });

      it('a revoke in one instance applies on the next request to the other', async () => {
        const [a, b] = apps;
        const { key, apiKey } = await a.app.get(ApiKeyService).create({ name: 'shared' });
        const headers = { authorization: `Api-Key ${key}` };
        // Warm both instances' memos.
        for (const { url } of apps) {
          const response = await call(`${url}/who`, { headers });
          expect(response.status).toBe(200);
          expect(response.body.prefix).toBe(apiKey.prefix);
        }
        await b.app.get(ApiKeyService).revoke(apiKey.id);
        // In notify mode the other instance hears of it by notification or its next poll.
        const status = async () => (await call(`${a.url}/who`, { headers })).status;
        expect(await nextOrNotified(status, 401)).toBe(401);
        expect((await call(`${b.url}/who`, { headers })).status).toBe(401);
      });
    });
  },
);
