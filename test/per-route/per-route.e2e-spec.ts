import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import type { Repository } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService, getApiKeyRepositoryToken, type ApiKey } from '../../lib/index.js';
import { FakeClock } from '../support/clock.js';
import { ENGINES } from '../support/databases.js';
import { expectForbidden, expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
import { rawRequest } from '../support/raw-http.js';
import { PerRouteAppModule } from './per-route.app.js';

/**
 * DRF API Key's `test_permissions.py` (behaviours 1, 3-5, 7, 8, 10, 37) and the behaviours its
 * code has but no test asserts, through a real app with `@UseGuards(ApiKeyGuard)` per route.
 * Lookup, revocation and expiry depend on the database, so this runs on every engine.
 */
describe.each(ENGINES)('per-route guard on %s', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    const clock = new FakeClock();
    let app: INestApplication;
    let url: string;
    let stop: () => Promise<void>;
    let service: ApiKeyService;
    /** A key with `projects:read`, used where any valid key will do. */
    let reader: { key: string; apiKey: ApiKey };

    const get = (path: string, authorization?: string) =>
      call(`${url}${path}`, { headers: authorization === undefined ? {} : { authorization } });

    beforeAll(async () => {
      ({ app, url, stop } = await startOnNewDatabase(engine, adapter, (database) =>
        PerRouteAppModule.register(database, clock.now),
      ));
      service = app.get(ApiKeyService);
      reader = await service.create({ name: 'reader', scopes: ['projects:read'] });
    });
    afterAll(() => stop?.());

    it('lets a valid key in and hands its entity to the handler (DRF 1)', async () => {
      const ok = await get('/projects', `Api-Key ${reader.key}`);
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({
        prefix: reader.apiKey.prefix,
        name: 'reader',
        scopes: ['projects:read'],
      });
    });

    it('tells keys apart: each request gets the entity of the key it sent', async () => {
      const other = await service.create({ name: 'other' });
      expect((await get('/ping', `Api-Key ${other.key}`)).body).toEqual({
        prefix: other.apiKey.prefix,
      });
      expect((await get('/ping', `Api-Key ${reader.key}`)).body).toEqual({
        prefix: reader.apiKey.prefix,
      });
    });

    it('refuses a request with no credentials with 401 and a challenge (DRF 3)', async () => {
      expectUnauthorized(await get('/projects'));
    });

    it('serves an unguarded route without a key (DRF 37)', async () => {
      const open = await get('/public');
      expect(open.status).toBe(200);
      expect(open.body).toEqual({ public: true });
    });

    it('refuses invalid keys after a correct scheme (DRF 4 and unasserted cases)', async () => {
      const [prefix, secret] = reader.key.split('.');
      const invalid = {
        // HTTP trims the trailing space, so this arrives as the bare scheme.
        'empty key': 'Api-Key ',
        'no dot, unknown': 'Api-Key abcd',
        'unknown prefix': 'Api-Key foo.bar',
        'two spaces': `Api-Key  ${reader.key}`,
        'upper-cased key': `Api-Key ${reader.key.toUpperCase()}`,
        'lower-cased key': `Api-Key ${reader.key.toLowerCase()}`,
        'prefix truncated by one': `Api-Key ${prefix.slice(0, -1)}.${secret}`,
        'text after the key': `Api-Key ${reader.key} extra`,
        'empty secret': `Api-Key ${prefix}.`,
        'prefix only': `Api-Key ${prefix}`,
        'right prefix, wrong secret (DRF 24)': `Api-Key ${prefix}.${'x'.repeat(secret.length)}`,
        'secret only': `Api-Key ${secret}`,
      };
      for (const [why, authorization] of Object.entries(invalid)) {
        const answer = await get('/projects', authorization);
        expect(answer.status, why).toBe(401);
        expectUnauthorized(answer);
      }
      // None of those poisoned the real key.
      expect((await get('/projects', `Api-Key ${reader.key}`)).status).toBe(200);
    });

    it('refuses the stored hash presented as a key (DRF 16)', async () => {
      const repository = app.get<Repository<ApiKey>>(getApiKeyRepositoryToken());
      const row = await repository
        .createQueryBuilder('k')
        .addSelect('k.hashedKey')
        .where('k.id = :id', { id: reader.apiKey.id })
        .getOneOrFail();
      expect(row.hashedKey).toMatch(/^\$2b\$10\$/);
      expectUnauthorized(await get('/projects', `Api-Key ${row.hashedKey}`));
    });

    it('ignores trailing whitespace, which HTTP strips before the app sees the header', async () => {
      // RFC 9110 §5.5: whitespace around a field value is not part of it. Both platforms' parsers
      // drop it, so DRF's "trailing space" case cannot reach a Nest guard over the wire; any other
      // trailing text does, and is refused above.
      const answer = await rawRequest(`${url}/projects`, [
        ['Authorization', `Api-Key ${reader.key} \t `],
      ]);
      expect(answer.status).toBe(200);
      expect(answer.body.prefix).toBe(reader.apiKey.prefix);
    });

    it('refuses a wrong or malformed scheme (DRF 5 and 10)', async () => {
      const malformed = [
        `X-Key ${reader.key}`,
        `Api-Key:${reader.key}`,
        `My-Special-Api-Key ${reader.key}`,
        `Bearer ${reader.key}`,
        `Api-Keys ${reader.key}`,
        `Api-Key\t${reader.key}`,
        reader.key,
        'Api-Key',
      ];
      for (const authorization of malformed) {
        const answer = await get('/projects', authorization);
        expect(answer.status, authorization).toBe(401);
        expectUnauthorized(answer);
      }
    });

    it('matches the scheme case-insensitively', async () => {
      for (const scheme of ['api-key', 'API-KEY', 'aPI-kEY']) {
        const ok = await get('/projects', `${scheme} ${reader.key}`);
        expect(ok.status, scheme).toBe(200);
        expect(ok.body.prefix).toBe(reader.apiKey.prefix);
      }
    });

    it('checks scopes, method scopes replacing class scopes', async () => {
      const writer = await service.create({ name: 'writer', scopes: ['projects:write'] });
      const none = await service.create({ name: 'no scopes' });

      // The method's scope replaces the class's: a write-only key may create but not list.
      const created = await call(`${url}/projects`, {
        method: 'POST',
        headers: { authorization: `Api-Key ${writer.key}` },
      });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ createdBy: writer.apiKey.prefix });
      expectForbidden(await get('/projects', `Api-Key ${writer.key}`), 'projects:read');

      expectForbidden(
        await call(`${url}/projects`, {
          method: 'POST',
          headers: { authorization: `Api-Key ${reader.key}` },
        }),
        'projects:write',
      );
      expectForbidden(await get('/projects', `Api-Key ${none.key}`), 'projects:read');
      // A route that requires no scope takes any valid key.
      expect((await get('/ping', `Api-Key ${none.key}`)).body).toEqual({
        prefix: none.apiKey.prefix,
      });
    });

    it('refuses a revoked key at once, even one that just passed (DRF 7)', async () => {
      const used = await service.create({ name: 'to revoke' });
      expect((await get('/ping', `Api-Key ${used.key}`)).status).toBe(200);
      await service.revoke(used.apiKey.id);
      expectUnauthorized(await get('/ping', `Api-Key ${used.key}`));

      const never = await service.create({ name: 'revoked unused' });
      await service.revoke(never.apiKey.prefix);
      expectUnauthorized(await get('/ping', `Api-Key ${never.key}`));
    });

    it('honours expiry at its boundary: expired when expiresAt <= now (DRF 8)', async () => {
      const expiresAt = new Date(clock.now().getTime() + 86_400_000 + 123);
      const expiring = await service.create({ name: 'expiring', expiresAt });

      expect((await get('/ping', `Api-Key ${expiring.key}`)).status).toBe(200);
      clock.set(new Date(expiresAt.getTime() - 1));
      expect((await get('/ping', `Api-Key ${expiring.key}`)).status).toBe(200);
      clock.set(expiresAt);
      expectUnauthorized(await get('/ping', `Api-Key ${expiring.key}`));
      clock.advance(2 * 86_400_000);
      expectUnauthorized(await get('/ping', `Api-Key ${expiring.key}`));

      // A key made now with a future expiry is unaffected by the other key's expiry.
      const fresh = await service.create({
        name: 'fresh',
        expiresAt: new Date(clock.now().getTime() + 86_400_000),
      });
      expect((await get('/ping', `Api-Key ${fresh.key}`)).body).toEqual({
        prefix: fresh.apiKey.prefix,
      });
    });

    it('sends one byte-identical refusal whatever the reason, so nothing tells which keys exist', async () => {
      const revoked = await service.create({ name: 'revoked for comparison' });
      await service.revoke(revoked.apiKey.id);
      const expired = await service.create({
        name: 'expired for comparison',
        expiresAt: new Date(clock.now().getTime() + 1000),
      });
      const [prefix, secret] = reader.key.split('.');
      const badSecret = `${prefix}.${[...secret].reverse().join('')}`;
      const unknown = `ZZZZ${prefix.slice(4)}.${secret}`;
      clock.advance(1000);

      // The service tells the reasons apart (for logs); the response must not.
      const reasons = {
        malformed: 'foo.bar',
        unknown,
        revoked: revoked.key,
        expired: expired.key,
        bad_secret: badSecret,
      };
      for (const [reason, key] of Object.entries(reasons)) {
        expect(await service.verify(key)).toMatchObject({ valid: false, reason });
      }
      const missing = await rawRequest(`${url}/projects`, []);
      expectUnauthorized(missing);
      for (const [reason, key] of Object.entries(reasons)) {
        const refused = await rawRequest(`${url}/projects`, [['Authorization', `Api-Key ${key}`]]);
        expectUnauthorized(refused);
        expect(refused.text, reason).toBe(missing.text);
        expect(refused.headers.get('content-length'), reason).toBe(
          missing.headers.get('content-length'),
        );
      }
    });
  });
});
