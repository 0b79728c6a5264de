import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService, type ApiKey } from '../../lib/index.js';
import { expectForbidden, expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
import { GlobalGuardAppModule } from './global-guard.app.js';

describe.each(ADAPTERS)('global guard on %s', (_platform, adapter) => {
  let app: INestApplication;
  let url: string;
  let stop: () => Promise<void>;
  let valid: { key: string; apiKey: ApiKey };

  const get = (path: string, key?: string) =>
    call(`${url}${path}`, { headers: key ? { authorization: `Api-Key ${key}` } : {} });

  beforeAll(async () => {
    ({ app, url, stop } = await startOnNewDatabase('sqlite', adapter, (database) =>
      GlobalGuardAppModule.register(database),
    ));
    valid = await app.get(ApiKeyService).create({ name: 'global' });
  });
  afterAll(() => stop?.());

  it('protects a route that carries no decorator at all', async () => {
    expectUnauthorized(await get('/items'));
    expectUnauthorized(await get('/items', 'not-a-key'));
    const ok = await get('/items', valid.key);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ prefix: valid.apiKey.prefix });
  });

  it('opens a method marked @SkipApiKey(), without checking a key sent to it', async () => {
    const open = await get('/items/health');
    expect(open.status).toBe(200);
    expect(open.body).toEqual({ status: 'ok', key: null });
    // Skipped means not checked: a bad key is not refused, and a good one is not looked up.
    expect((await get('/items/health', 'not-a-key')).body).toEqual({ status: 'ok', key: null });
    expect((await get('/items/health', valid.key)).body).toEqual({ status: 'ok', key: null });
  });

  it('opens every method of a class marked @SkipApiKey()', async () => {
    expect(await get('/docs')).toMatchObject({ status: 200, body: { docs: true } });
    expect(await get('/docs/changelog')).toMatchObject({ status: 200, body: { changelog: true } });
  });

  it('protects again a method marked @SkipApiKey(false) inside a skipped class', async () => {
    expectUnauthorized(await get('/docs/private'));
    const ok = await get('/docs/private', valid.key);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ private: valid.apiKey.prefix });
  });

  it('checks @RequireScopes() under the global guard', async () => {
    expectForbidden(await get('/items/admin', valid.key), 'items:admin');
    const admin = await app.get(ApiKeyService).create({ name: 'admin', scopes: ['items:admin'] });
    expect((await get('/items/admin', admin.key)).body).toEqual({ admin: admin.apiKey.prefix });
  });
});
