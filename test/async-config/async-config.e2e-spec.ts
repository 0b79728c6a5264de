import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService, type CreatedApiKey } from '../../lib/index.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, call, startApp } from '../support/http.js';
import {
  AsyncConfigAppModule,
  GlobalRegistrationAppModule,
  KeyIssuer,
  SharedApiKeySettings,
  type AsyncForm,
} from './async-config.app.js';

const HEADERS: Record<AsyncForm, string> = {
  useFactory: 'x-factory-key',
  useClass: 'x-class-key',
  useExisting: 'x-existing-key',
};

describe.each(ADAPTERS)('async configuration on %s', (_platform, adapter) => {
  describe.each(Object.keys(HEADERS) as AsyncForm[])('forRootAsync({ %s })', (form) => {
    const header = HEADERS[form];
    let db: TestDatabase;
    let app: INestApplication;
    let url: string;
    let valid: CreatedApiKey;

    beforeAll(async () => {
      db = await createTestDatabase('sqlite');
      ({ app, url } = await startApp(AsyncConfigAppModule.register(db.options, form), adapter));
      valid = await app.get(ApiKeyService).create({ name: form });
    });
    afterAll(async () => {
      await app?.close();
      await db?.drop();
    });

    it(`applies the header the ${form} options name`, async () => {
      expect(app.get(ApiKeyService).options.header).toBe(header);
      const ok = await call(`${url}/whoami`, { headers: { [header]: valid.key } });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ prefix: valid.apiKey.prefix });
      // The default place for keys is no longer read: proof the options took effect.
      expectUnauthorized(
        await call(`${url}/whoami`, { headers: { authorization: `Api-Key ${valid.key}` } }),
        `Api-Key realm="api", header="${header}"`,
      );
    });

    if (form === 'useExisting') {
      it('asks the existing instance, not a copy', () => {
        expect(app.get(SharedApiKeySettings).calls).toBe(1);
      });
    }
  });

  describe('forRoot({ isGlobal: true })', () => {
    let db: TestDatabase;
    let app: INestApplication;
    let url: string;

    beforeAll(async () => {
      db = await createTestDatabase('sqlite');
      ({ app, url } = await startApp(
        GlobalRegistrationAppModule.register(db.options, true),
        adapter,
      ));
    });
    afterAll(async () => {
      await app?.close();
      await db?.drop();
    });

    it('provides the service and guard to a module that does not import ApiKeyModule', async () => {
      const issued = await app.get(KeyIssuer).issue('feature');
      const ok = await call(`${url}/feature`, {
        headers: { authorization: `Api-Key ${issued.key}` },
      });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ prefix: issued.apiKey.prefix });
      expectUnauthorized(await call(`${url}/feature`));
    });

    it('is what makes that work: the same app without it does not boot', async () => {
      const other = await createTestDatabase('sqlite');
      try {
        await expect(
          startApp(GlobalRegistrationAppModule.register(other.options, false), adapter),
        ).rejects.toThrow(/ApiKeyService/);
      } finally {
        await other.drop();
      }
    });
  });
});
