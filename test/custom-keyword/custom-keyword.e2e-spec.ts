import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService, type ApiKey } from '../../lib/index.js';
import { expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
import { CustomKeywordAppModule } from './custom-keyword.app.js';

const CHALLENGE = 'Bearer realm="things"';

/** DRF API Key's custom `KeyParser.keyword` (behaviour 9), as the `keyword` option. */
describe.each(ADAPTERS)('custom keyword on %s', (_platform, adapter) => {
  let app: INestApplication;
  let url: string;
  let stop: () => Promise<void>;
  let valid: { key: string; apiKey: ApiKey };

  const get = (authorization?: string) =>
    call(`${url}/things`, { headers: authorization ? { authorization } : {} });

  beforeAll(async () => {
    ({ app, url, stop } = await startOnNewDatabase('sqlite', adapter, (database) =>
      CustomKeywordAppModule.register(database),
    ));
    valid = await app.get(ApiKeyService).create({ name: 'bearer client' });
  });
  afterAll(() => stop?.());

  it('takes the key after the configured scheme, in any case (DRF 9)', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const ok = await get(`${scheme} ${valid.key}`);
      expect(ok.status, scheme).toBe(200);
      expect(ok.body).toEqual({ prefix: valid.apiKey.prefix });
    }
  });

  it('refuses the default Api-Key scheme and schemes merely ending in the keyword', async () => {
    expectUnauthorized(await get(`Api-Key ${valid.key}`), CHALLENGE);
    expectUnauthorized(await get(`NotBearer ${valid.key}`), CHALLENGE);
    expectUnauthorized(await get(`Bearer: ${valid.key}`), CHALLENGE);
  });

  it('challenges a request without a key with the configured scheme and realm', async () => {
    expectUnauthorized(await get(), CHALLENGE);
  });
});
