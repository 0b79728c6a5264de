import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { getRepositoryToken } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKeyService,
  getApiKeyServiceToken,
  type ApiKey,
  type CreatedApiKey,
} from '../../lib/index.js';
import { ENGINES } from '../support/databases.js';
import { expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
import { nextOrNotified } from '../support/revocation-sync-mode.js';
import { CustomEntityAppModule, PartnerKeys } from './custom-entity.app.js';
import { Partner, type PartnerApiKey } from './partner.entities.js';

/**
 * DRF API Key's custom-model tests (behaviours 13-15, 20, 38, 39): a key entity of the app's own,
 * owned by a partner, beside the built-in one. Owner filtering runs in the lookup query, so
 * this runs on every engine.
 */
describe.each(ENGINES)('custom key entity on %s', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    let app: INestApplication;
    let url: string;
    let stop: () => Promise<void>;
    let partnerKeys: PartnerKeys;
    let acme: Partner;
    let acmeKey: CreatedApiKey<PartnerApiKey>;
    let defaultKey: CreatedApiKey<ApiKey>;

    const get = (path: string, key?: string) =>
      call(`${url}${path}`, { headers: key ? { authorization: `Api-Key ${key}` } : {} });

    beforeAll(async () => {
      ({ app, url, stop } = await startOnNewDatabase(engine, adapter, (database) =>
        CustomEntityAppModule.register(database),
      ));
      partnerKeys = app.get(PartnerKeys);
      acme = await partnerKeys.onboard('Acme');
      acmeKey = await partnerKeys.issue(acme);
      defaultKey = await app.get(ApiKeyService).create({ name: 'built-in' });
    });
    afterAll(() => stop?.());

    it('stores the key in its own table, owned by the partner (DRF 20)', async () => {
      expect(acmeKey.apiKey.partnerId).toBe(acme.id);
      const partners = app.get<Repository<Partner>>(getRepositoryToken(Partner));
      const loaded = await partners.findOneOrFail({
        where: { id: acme.id },
        relations: { apiKeys: true },
      });
      expect(loaded.apiKeys.map((k) => k.prefix)).toEqual([acmeKey.apiKey.prefix]);
      expect(loaded.apiKeys[0].hashedKey).toBeUndefined();
      // The two registrations are two services over two tables.
      const partnerService = app.get<ApiKeyService<PartnerApiKey>>(
        getApiKeyServiceToken('partner'),
      );
      expect(partnerService).not.toBe(app.get(ApiKeyService));
      expect((await partnerService.list()).map((k) => k.prefix)).toEqual([acmeKey.apiKey.prefix]);
      expect((await app.get(ApiKeyService).list()).map((k) => k.prefix)).toEqual([
        defaultKey.apiKey.prefix,
      ]);
    });

    it('lets in a key of an active partner, which reaches its owner (DRF 14, 38)', async () => {
      const ok = await get('/partner/me', acmeKey.key);
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ prefix: acmeKey.apiKey.prefix, partnerId: acme.id });
    });

    it('keeps per-object checks working behind the guard (DRF 39)', async () => {
      const own = await get(`/partner/partners/${acme.id}`, acmeKey.key);
      expect(own.status).toBe(200);
      expect(own.body).toEqual({ id: acme.id, name: 'Acme' });
      const globex = await partnerKeys.onboard('Globex');
      expect((await get(`/partner/partners/${globex.id}`, acmeKey.key)).status).toBe(403);
    });

    it('refuses a key of one type at the other type’s guard (DRF 13)', async () => {
      expectUnauthorized(await get('/partner/me', defaultKey.key));
      expectUnauthorized(await get('/default', acmeKey.key));
      expect((await get('/default', defaultKey.key)).body).toEqual({
        prefix: defaultKey.apiKey.prefix,
      });
    });

    it('refuses keys of an inactive partner from the next request on, and takes them back on reactivation (DRF 15)', async () => {
      const initech = await partnerKeys.onboard('Initech');
      const initechKey = await partnerKeys.issue(initech);
      expect((await get('/partner/me', initechKey.key)).status).toBe(200);

      // In notify mode the partners table's trigger tells the key cache, by notification or poll.
      const status = async () => (await get('/partner/me', initechKey.key)).status;
      await partnerKeys.setActive(initech, false);
      expect(await nextOrNotified(status, 401)).toBe(401);
      expectUnauthorized(await get('/partner/me', initechKey.key));
      // Only that partner's keys: another partner is unaffected.
      expect((await get('/partner/me', acmeKey.key)).status).toBe(200);

      await partnerKeys.setActive(initech, true);
      expect(await nextOrNotified(status, 200)).toBe(200);
      expect((await get('/partner/me', initechKey.key)).body).toEqual({
        prefix: initechKey.apiKey.prefix,
        partnerId: initech.id,
      });
    });

    it('refuses a key issued to a partner that is inactive from the start', async () => {
      const dormant = await partnerKeys.onboard('Dormant');
      await partnerKeys.setActive(dormant, false);
      const dormantKey = await partnerKeys.issue(dormant);
      expectUnauthorized(await get('/partner/me', dormantKey.key));
    });
  });
});
