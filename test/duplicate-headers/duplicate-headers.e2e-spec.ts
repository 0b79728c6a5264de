import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService, type CreatedApiKey } from '../../lib/index.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, startApp } from '../support/http.js';
import { rawRequest } from '../support/raw-http.js';
import { DuplicateHeadersAppModule } from './duplicate-headers.app.js';

/**
 * A key header sent twice has two answers to "which key?": Node keeps the first `Authorization`
 * and joins repeats of other headers, while a proxy in front may have checked the last one. The
 * guard refuses such a request with the generic 401 rather than pick one.
 */
describe.each(ADAPTERS)('a key header sent twice on %s', (_platform, adapter) => {
  let db: TestDatabase;
  let app: INestApplication;
  let url: string;
  let valid: CreatedApiKey;
  let other: CreatedApiKey;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    ({ app, url } = await startApp(DuplicateHeadersAppModule.register(db.options), adapter));
    const service = app.get(ApiKeyService);
    valid = await service.create({ name: 'valid' });
    other = await service.create({ name: 'other' });
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const send = (path: string, headers: Array<[string, string]>) =>
    rawRequest(`${url}${path}`, headers);

  it('lets a single Authorization or X-Api-Key in', async () => {
    for (const [path, header, value] of [
      ['/authorization', 'Authorization', `Api-Key ${valid.key}`],
      ['/header', 'X-Api-Key', valid.key],
    ]) {
      const ok = await send(path, [[header, value]]);
      expect(ok.status, path).toBe(200);
      expect(ok.body).toEqual({ prefix: valid.apiKey.prefix });
    }
  });

  it('refuses two Authorization headers, whatever they hold and however they are spelt', async () => {
    const cases: Array<Array<[string, string]>> = [
      [
        ['Authorization', `Api-Key ${valid.key}`],
        ['Authorization', `Api-Key ${valid.key}`],
      ],
      [
        ['Authorization', `Api-Key ${valid.key}`],
        ['Authorization', `Api-Key ${other.key}`],
      ],
      [
        ['Authorization', `Api-Key ${valid.key}`],
        ['authorization', 'Bearer some.jwt.token'],
      ],
      [
        ['AUTHORIZATION', `Api-Key ${valid.key}`],
        ['Authorization', ''],
      ],
    ];
    for (const headers of cases) {
      expectUnauthorized(await send('/authorization', headers), 'Api-Key realm="api"');
    }
  });

  it('refuses two X-Api-Key headers, equal or not', async () => {
    for (const second of [valid.key, other.key, '']) {
      const answer = await send('/header', [
        ['X-Api-Key', valid.key],
        ['x-api-key', second],
      ]);
      expectUnauthorized(answer, 'Api-Key realm="api", header="x-api-key"');
    }
  });

  it('is not confused by other headers sent twice', async () => {
    const ok = await send('/authorization', [
      ['Accept', 'application/json'],
      ['Authorization', `Api-Key ${valid.key}`],
      ['Accept', 'text/plain'],
      ['X-Authorization', 'x'],
      ['X-Authorization', 'y'],
    ]);
    expect(ok.status).toBe(200);
  });
});
