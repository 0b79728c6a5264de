import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { getRepositoryToken } from '@nestjs/typeorm';
import { IsNull, Not, type Repository } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKeyValidationError,
  getApiKeyRepositoryToken,
  getApiKeyServiceToken,
  type ApiKeyService,
  type CreatedApiKey,
} from '../../lib/index.js';
import { Partner, type PartnerApiKey } from '../custom-entity/partner.entities.js';
import { ENGINES } from '../support/databases.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
import { ListByOwnerAppModule } from './list-by-owner.app.js';

const DAY = 24 * 60 * 60 * 1000;

/**
 * `list({ where })`: one owner's keys for a self-service page, ANDed with `activeOnly`, on every
 * engine (the filter runs in the query, with a join for a relation).
 */
describe.each(ENGINES)('listing one owner’s keys on %s', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    let app: INestApplication;
    let url: string;
    let stop: () => Promise<void>;
    let keys: ApiKeyService<PartnerApiKey>;
    let acme: Partner;
    let globex: Partner;
    let current: CreatedApiKey<PartnerApiKey>;
    let expiring: CreatedApiKey<PartnerApiKey>;
    let revoked: CreatedApiKey<PartnerApiKey>;
    let lapsed: CreatedApiKey<PartnerApiKey>;
    let other: CreatedApiKey<PartnerApiKey>;

    const prefixes = (list: PartnerApiKey[]) => list.map((key) => key.prefix);

    beforeAll(async () => {
      ({ app, url, stop } = await startOnNewDatabase(engine, adapter, (database) =>
        ListByOwnerAppModule.register(database),
      ));
      keys = app.get(getApiKeyServiceToken('partner'));
      const partners = app.get<Repository<Partner>>(getRepositoryToken(Partner));
      const onboard = (name: string) =>
        partners.save(partners.create({ id: randomUUID(), name, active: true }));
      [acme, globex] = [await onboard('Acme'), await onboard('Globex')];
      // Created one after another, so that newest first is a known order.
      const issue = (partner: Partner, name: string, expiresAt: Date | null = null) =>
        keys.create({ name, partner, expiresAt });
      lapsed = await issue(acme, 'lapsed', new Date(Date.now() + DAY));
      revoked = await issue(acme, 'revoked');
      expiring = await issue(acme, 'expiring', new Date(Date.now() + 30 * DAY));
      current = await issue(acme, 'current');
      other = await issue(globex, 'globex');
      await keys.revoke(revoked.apiKey.id);
      await app
        .get<Repository<PartnerApiKey>>(getApiKeyRepositoryToken('partner'))
        .update({ id: lapsed.apiKey.id }, { expiresAt: new Date(Date.now() - DAY) });
    });
    afterAll(() => stop?.());

    it('lists one owner’s keys, newest first, by column or by relation', async () => {
      const all = [current, expiring, revoked, lapsed].map((key) => key.apiKey.prefix);
      expect(prefixes(await keys.list({ where: { partnerId: acme.id } }))).toEqual(all);
      expect(prefixes(await keys.list({ where: { partner: { name: 'Acme' } } }))).toEqual(all);
      expect(prefixes(await keys.list({ where: { partnerId: globex.id } }))).toEqual([
        other.apiKey.prefix,
      ]);
      expect(
        prefixes(await keys.list({ where: { partnerId: acme.id }, take: 2, skip: 1 })),
      ).toEqual(all.slice(1, 3));
    });

    it('leaves out that owner’s revoked and expired keys with activeOnly, and only that owner’s', async () => {
      expect(
        prefixes(await keys.list({ where: { partnerId: acme.id }, activeOnly: true })),
      ).toEqual([current.apiKey.prefix, expiring.apiKey.prefix]);
      expect(
        prefixes(
          await keys.list({
            where: { partnerId: acme.id, expiresAt: Not(IsNull()) },
            activeOnly: true,
          }),
        ),
      ).toEqual([expiring.apiKey.prefix]);
      expect(prefixes(await keys.list({ activeOnly: true }))).toEqual([
        other.apiKey.prefix,
        current.apiKey.prefix,
        expiring.apiKey.prefix,
      ]);
    });

    it('refuses a where naming what the entity lacks, as a caller’s mistake rather than an outage', async () => {
      const error = await keys.list({ where: { ownerId: acme.id } as never }).catch((e) => e);
      expect(error).toBeInstanceOf(ApiKeyValidationError);
      expect(error.message).toContain(
        'where.ownerId: PartnerApiKey has no relation or column "ownerId".',
      );
    });

    it('lists keys without their hashes', async () => {
      for (const key of await keys.list({ where: { partnerId: acme.id } }))
        expect(key.hashedKey).toBeUndefined();
    });

    it('serves a self-service page of the caller’s own keys', async () => {
      const page = await call(`${url}/partner/keys`, {
        headers: { authorization: `Api-Key ${current.key}` },
      });
      expect(page.status).toBe(200);
      expect(page.body).toEqual([
        { prefix: current.apiKey.prefix, name: 'current', revoked: false },
        { prefix: expiring.apiKey.prefix, name: 'expiring', revoked: false },
      ]);
      const everything = await call(`${url}/partner/keys?all`, {
        headers: { authorization: `Api-Key ${other.key}` },
      });
      expect(everything.body).toEqual([
        { prefix: other.apiKey.prefix, name: 'globex', revoked: false },
      ]);
    });
  });
});
