import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService, type ApiKey } from '../../lib/index.js';
import { expectForbidden, expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
import {
  AdminTokenGuard,
  CompositionAppModule,
  UserDirectory,
  UserTokenGuard,
} from './composition.app.js';

/** `@UseGuards(ApiKeyGuard, Other)` is AND; `@AllowApiKeyOr(Other)` is DRF's `HasAPIKey | IsAuthenticated` (behaviours 11, 12). */
describe.each(ADAPTERS)('guard composition on %s', (_platform, adapter) => {
  let app: INestApplication;
  let url: string;
  let stop: () => Promise<void>;
  let service: ApiKeyService;
  let valid: { key: string; apiKey: ApiKey };
  let revoked: { key: string; apiKey: ApiKey };

  const get = (path: string, credentials: { key?: string; user?: string } = {}) =>
    call(`${url}${path}`, {
      headers: {
        ...(credentials.key ? { authorization: `Api-Key ${credentials.key}` } : {}),
        ...(credentials.user ? { 'x-user-token': credentials.user } : {}),
      },
    });

  beforeAll(async () => {
    ({ app, url, stop } = await startOnNewDatabase('sqlite', adapter, (database) =>
      CompositionAppModule.register(database),
    ));
    service = app.get(ApiKeyService);
    valid = await service.create({ name: 'valid', scopes: ['reports:read'] });
    revoked = await service.create({ name: 'revoked', scopes: ['reports:read'] });
    await service.revoke(revoked.apiKey.id);
  });
  afterAll(() => stop?.());

  describe('@UseGuards(ApiKeyGuard, UserTokenGuard): both must pass', () => {
    it('lets in a key with a user', async () => {
      const ok = await get('/both', { key: valid.key, user: 'alice-token' });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ key: valid.apiKey.prefix, user: 'alice' });
    });

    it('refuses a key without a user, with the user guard’s own refusal', async () => {
      const answer = await get('/both', { key: valid.key });
      expect(answer.status).toBe(401);
      expect(answer.body.message).toBe('A user session is required.');
    });

    it('refuses a user without a key, and a user with a revoked key, with the key refusal', async () => {
      expectUnauthorized(await get('/both', { user: 'alice-token' }));
      expectUnauthorized(await get('/both', { key: revoked.key, user: 'alice-token' }));
      expectUnauthorized(await get('/both'));
    });
  });

  describe('@AllowApiKeyOr(UserTokenGuard): either may pass', () => {
    it('lets in a user without a key (DRF 11)', async () => {
      const ok = await get('/either', { user: 'alice-token' });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ key: null, user: 'alice' });
    });

    it('lets in a user who also sends a revoked or broken key (DRF 12)', async () => {
      for (const key of [revoked.key, 'garbage']) {
        const ok = await get('/either', { key, user: 'alice-token' });
        expect(ok.status).toBe(200);
        expect(ok.body).toEqual({ key: null, user: 'alice' });
      }
    });

    it('lets in a valid key without a user, and does not consult the other guard then', async () => {
      const users = app.get(UserDirectory);
      users.askedBy.clear();
      expect((await get('/either', { key: valid.key })).body).toEqual({
        key: valid.apiKey.prefix,
        user: null,
      });
      expect((await get('/either', { key: valid.key, user: 'alice-token' })).body).toEqual({
        key: valid.apiKey.prefix,
        user: null,
      });
      expect(users.askedBy.size).toBe(0);
    });

    it('refuses when neither passes, with the key’s generic 401 and challenge, not the other guard’s', async () => {
      expectUnauthorized(await get('/either'));
      expectUnauthorized(await get('/either', { user: 'mallory-token' }));
      expectUnauthorized(await get('/either', { key: revoked.key, user: 'mallory-token' }));
    });

    it('answers a valid key lacking a scope with 403, unless a user passes', async () => {
      const unscoped = await service.create({ name: 'unscoped' });
      expectForbidden(await get('/either/scoped', { key: unscoped.key }), 'reports:read');
      const withUser = await get('/either/scoped', { key: unscoped.key, user: 'alice-token' });
      expect(withUser.status).toBe(200);
      expect(withUser.body).toEqual({ key: null, user: 'alice' });
      expect((await get('/either/scoped', { key: valid.key })).body).toEqual({
        key: valid.apiKey.prefix,
        user: null,
      });
    });
  });

  describe('resolving the alternative guard', () => {
    it('uses the app’s own instance when the guard is a provider', async () => {
      const users = app.get(UserDirectory);
      users.askedBy.clear();
      expect((await get('/either', { user: 'alice-token' })).status).toBe(200);
      expect([...users.askedBy]).toEqual([app.get(UserTokenGuard)]);
    });

    it('builds the guard once, with its dependency injected, when it is a provider nowhere', async () => {
      expect(() => app.get(AdminTokenGuard)).toThrow();
      const users = app.get(UserDirectory);
      users.askedBy.clear();
      const ok = await get('/admin-or-key', { user: 'root-token' });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ key: null, user: 'root' });
      expectUnauthorized(await get('/admin-or-key', { user: 'alice-token' }));
      expect((await get('/admin-or-key', { user: 'root-token' })).status).toBe(200);
      // One instance served all three requests, and it looked users up in the app's directory.
      expect(users.askedBy.size).toBe(1);
      expect([...users.askedBy][0]).toBeInstanceOf(AdminTokenGuard);
      expect((await get('/admin-or-key', { key: valid.key })).body).toEqual({
        key: valid.apiKey.prefix,
        user: null,
      });
    });
  });
});
