import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService, type CreatedApiKey } from '../../lib/index.js';
import { expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
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
    let app: INestApplication;
    let url: string;
    let stop: () => Promise<void>;
    let valid: CreatedApiKey;

    beforeAll(async () => {
      ({ app, url, stop } = await startOnNewDatabase('sqlite', adapter, (database) =>
        AsyncConfigAppModule.register(database, form),
      ));
      valid = await app.get(ApiKeyService).create({ name: form });
    });
    afterAll(() => stop?.());

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
    let app: INestApplication;
    let url: string;
    let stop: () => Promise<void>;

    beforeAll(async () => {
      ({ app, url, stop } = await startOnNewDatabase('sqlite', adapter, (database) =>
        GlobalRegistrationAppModule.register(database, true),
      ));
    });
    afterAll(() => stop?.());

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
      await expect(
        startOnNewDatabase('sqlite', adapter, (database) =>
          GlobalRegistrationAppModule.register(database, false),
        ),
      ).rejects.toThrow(/ApiKeyService/);
    });
  });
});
