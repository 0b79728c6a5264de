import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService, getApiKeyServiceToken } from '../../lib/index.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { expectForbidden, expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, call, startApp } from '../support/http.js';
import type { PartnerApiKey } from '../support/partner-keys.js';
import { GlobalWithPartnerAppModule, PerRoutePartnerAppModule } from './named-composition.app.js';

type Credentials = { key?: string; user?: string };

/** Boots one of the apps and creates a default key, a partner key and a scoped one of each. */
function bootWithKeys(register: typeof GlobalWithPartnerAppModule.register, adapter: any) {
  const state = {} as {
    db: TestDatabase;
    app: INestApplication;
    url: string;
    defaultKey: string;
    partnerKey: string;
    scopedDefaultKey: string;
    scopedPartnerKey: string;
  };
  beforeAll(async () => {
    state.db = await createTestDatabase('sqlite');
    ({ app: state.app, url: state.url } = await startApp(register(state.db.options), adapter));
    const defaults = state.app.get(ApiKeyService);
    const partners = state.app.get<ApiKeyService<PartnerApiKey>>(getApiKeyServiceToken('partner'));
    state.defaultKey = (await defaults.create({ name: 'default-key' })).key;
    state.partnerKey = (await partners.create({ name: 'partner-key' })).key;
    state.scopedDefaultKey = (
      await defaults.create({ name: 'default-orders', scopes: ['orders:read'] })
    ).key;
    state.scopedPartnerKey = (
      await partners.create({ name: 'partner-orders', scopes: ['orders:read'] })
    ).key;
  });
  afterAll(async () => {
    await state.app?.close();
    await state.db?.drop();
  });
  const get = (path: string, credentials: Credentials = {}) =>
    call(`${state.url}${path}`, {
      headers: {
        ...(credentials.key ? { authorization: `Api-Key ${credentials.key}` } : {}),
        ...(credentials.user ? { 'x-user-token': credentials.user } : {}),
      },
    });
  return { state, get };
}

/**
 * A global ApiKeyGuard beside a second key type: `@SkipApiKey()` skips the default guard only,
 * so a route that names the partner guard asks for a partner key, never for nothing.
 */
describe.each(ADAPTERS)(
  'global ApiKeyGuard with a partner key type on %s',
  (_platform, adapter) => {
    const { state, get } = bootWithKeys(GlobalWithPartnerAppModule.register, adapter);

    it('still asks for a default key on an undecorated route', async () => {
      expectUnauthorized(await get('/items'));
      expectUnauthorized(await get('/items', { key: state.partnerKey }));
      expect(await get('/items', { key: state.defaultKey })).toMatchObject({
        status: 200,
        body: { key: 'default-key' },
      });
    });

    it('asks for a partner key where @SkipApiKey() and @UseGuards(PartnerApiKeyGuard) meet, never for nothing', async () => {
      expectUnauthorized(await get('/partner'));
      expectUnauthorized(await get('/partner', { key: state.defaultKey }));
      expectUnauthorized(await get('/partner', { key: 'not-a-key' }));
      expect(await get('/partner', { key: state.partnerKey })).toMatchObject({
        status: 200,
        body: { key: 'partner-key' },
      });
    });

    it('lets in a partner key OR a user session there, and nothing else', async () => {
      expect((await get('/partner/or-session', { key: state.partnerKey })).body).toEqual({
        key: 'partner-key',
        user: null,
      });
      expect((await get('/partner/or-session', { user: 'alice-token' })).body).toEqual({
        key: null,
        user: 'alice',
      });
      expectUnauthorized(await get('/partner/or-session'));
      expectUnauthorized(await get('/partner/or-session', { key: state.defaultKey }));
      expectUnauthorized(await get('/partner/or-session', { user: 'mallory-token' }));
    });

    it('lets in a default key OR a partner key where the partner guard is the alternative', async () => {
      expect((await get('/items/any-key', { key: state.defaultKey })).body).toEqual({
        key: 'default-key',
        user: null,
      });
      expect((await get('/items/any-key', { key: state.partnerKey })).body).toEqual({
        key: 'partner-key',
        user: null,
      });
      expectUnauthorized(await get('/items/any-key'));
      expectUnauthorized(await get('/items/any-key', { key: 'not-a-key' }));
    });

    it('asks the alternative partner key for the route’s scopes too', async () => {
      // Each refused with the key side's answer: a default key lacking the scope, a partner key unknown there.
      expectForbidden(await get('/items/any-key/scoped', { key: state.defaultKey }), 'orders:read');
      expectUnauthorized(await get('/items/any-key/scoped', { key: state.partnerKey }));
      for (const [key, name] of [
        [state.scopedDefaultKey, 'default-orders'],
        [state.scopedPartnerKey, 'partner-orders'],
      ]) {
        expect(await get('/items/any-key/scoped', { key })).toMatchObject({
          status: 200,
          body: { key: name },
        });
      }
    });
  },
);

/** `@UseGuards(PartnerApiKeyGuard) @AllowApiKeyOr(UserSessionGuard)`: a partner key OR a session. */
describe.each(ADAPTERS)('partner key OR a user session, per route, on %s', (_platform, adapter) => {
  const { state, get } = bootWithKeys(PerRoutePartnerAppModule.register, adapter);

  for (const path of ['/orders', '/reports']) {
    it(`lets a partner key or a session into ${path}, and not a default key`, async () => {
      expect((await get(path, { key: state.partnerKey })).body).toEqual({
        key: 'partner-key',
        user: null,
      });
      expect((await get(path, { user: 'alice-token' })).body).toEqual({ key: null, user: 'alice' });
      expectUnauthorized(await get(path));
      expectUnauthorized(await get(path, { key: state.defaultKey }));
    });
  }

  it('keeps the plain form: a default key OR a session, and not a partner key', async () => {
    expect((await get('/reports/default', { key: state.defaultKey })).body).toEqual({
      key: 'default-key',
      user: null,
    });
    expect((await get('/reports/default', { user: 'alice-token' })).body).toEqual({
      key: null,
      user: 'alice',
    });
    expectUnauthorized(await get('/reports/default', { key: state.partnerKey }));
  });
});
