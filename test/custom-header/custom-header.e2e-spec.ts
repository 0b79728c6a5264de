import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiKeyService, type ApiKey } from '../../lib/index.js';
import { expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
import { rawRequest } from '../support/raw-http.js';
import { CustomHeaderAppModule, DenialLog } from './custom-header.app.js';

const CHALLENGE = 'Api-Key realm="api", header="x-api-key"';

/** DRF API Key's `API_KEY_CUSTOM_HEADER` (behaviours 2 and 6, and the unasserted ones around it). */
describe.each(ADAPTERS)('custom header on %s', (_platform, adapter) => {
  let app: INestApplication;
  let url: string;
  let stop: () => Promise<void>;
  let denials: DenialLog;
  let valid: { key: string; apiKey: ApiKey };

  const get = (headers: Record<string, string>) => call(`${url}/reports`, { headers });

  beforeAll(async () => {
    ({ app, url, stop } = await startOnNewDatabase('sqlite', adapter, (database) =>
      CustomHeaderAppModule.register(database),
    ));
    denials = app.get(DenialLog);
    valid = await app.get(ApiKeyService).create({ name: 'partner' });
  });
  beforeEach(() => {
    denials.reasons.length = 0;
  });
  afterAll(() => stop?.());

  it('reads the raw key from X-Api-Key (DRF 2)', async () => {
    const ok = await get({ 'x-api-key': valid.key });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ prefix: valid.apiKey.prefix });
  });

  it('ignores Authorization entirely, even carrying a valid key', async () => {
    expectUnauthorized(await get({ authorization: `Api-Key ${valid.key}` }), CHALLENGE);
    expectUnauthorized(
      await get({ authorization: `Api-Key ${valid.key}`, 'x-api-key': 'garbage' }),
      CHALLENGE,
    );
    expect((await get({ authorization: 'Api-Key garbage', 'x-api-key': valid.key })).status).toBe(
      200,
    );
    expect(denials.reasons).toEqual(['missing', 'malformed']);
  });

  it('treats an empty X-Api-Key as absent', async () => {
    expectUnauthorized(await rawRequest(`${url}/reports`, [['X-Api-Key', '']]), CHALLENGE);
    expectUnauthorized(await get({}), CHALLENGE);
    expect(denials.reasons).toEqual(['missing', 'missing']);
  });

  it('refuses unknown values (DRF 6), including the key behind a scheme', async () => {
    const [prefix, secret] = valid.key.split('.');
    expectUnauthorized(await get({ 'x-api-key': 'doesnotexist' }), CHALLENGE);
    expectUnauthorized(await get({ 'x-api-key': `Api-Key ${valid.key}` }), CHALLENGE);
    expectUnauthorized(
      await get({ 'x-api-key': `${prefix.split('').reverse().join('')}.${secret}` }),
      CHALLENGE,
    );
    expect(denials.reasons).toEqual(['malformed', 'malformed', 'unknown']);
  });

  it('refuses a repeated X-Api-Key, which the server joins into one value that is no key', async () => {
    const answer = await rawRequest(`${url}/reports`, [
      ['X-Api-Key', valid.key],
      ['X-Api-Key', valid.key],
    ]);
    expectUnauthorized(answer, CHALLENGE);
    expect(denials.reasons).toEqual(['malformed']);
  });
});
