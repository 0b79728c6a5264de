import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyModule, ApiKeyService } from '../../lib/index.js';
import { generateKey } from '../../lib/keys/format.js';
import { secretTagOfKey } from '../../lib/keys/secret-tag.js';
import { ENGINES } from '../support/databases.js';
import { CountingHasher } from '../support/counting-hasher.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/** Wrong secrets sent at one key's prefix, and how many go out at once. */
const FLOOD = 300;
const IN_FLIGHT = 30;
/** One of the key's own requests every this many wrong secrets. */
const GENUINE_EVERY = 10;

/**
 * Issue 25's lockout, through real apps: anyone who knows a key's public prefix sends
 * well-formed keys with it and random secrets. The key has not verified in this process (every
 * key after a restart, every new or rotated key). Its own requests must all pass, and no wrong
 * secret may cost a slow hash: a wrong secret for a live prefix must cost what an unknown
 * prefix costs. The timed version (300 req/s, latencies, the 1 ms gap) is `bench/rows/lockout.ts`.
 */
describe.each(ENGINES)('a key locked out by its public prefix (%s)', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    let url: string;
    let stop: () => Promise<void>;
    let service: ApiKeyService;
    let dataSource: DataSource;
    const hasher = new CountingHasher(FAST_BCRYPT);
    const get = (key: string) =>
      call(`${url}/data`, { headers: { authorization: `Api-Key ${key}` } });
    const wrongSecretFor = (prefix: string) => `${prefix}.${generateKey().key.slice(9)}`;

    beforeAll(async () => {
      let app;
      ({ app, url, stop } = await startOnNewDatabase(engine, adapter, (database) => {
        @Module({
          imports: [typeOrmFor(database), ApiKeyModule.forRoot({ hasher })],
          controllers: [keyPrefixController('data')],
        })
        class AppModule {}
        return AppModule;
      }));
      service = app.get(ApiKeyService);
      dataSource = app.get(DataSource);
    });
    afterAll(() => stop?.());

    it("serves every one of the key's own requests through a flood of wrong secrets at its prefix, hashing none of them", async () => {
      const { apiKey, key } = await service.create({ name: 'flooded' });
      const calls = hasher.verifyCalls;
      const own: number[] = [];
      const wrong: number[] = [];
      const unknown = (await get(wrongSecretFor(generateKey().prefix))).body;
      for (let sent = 0; sent < FLOOD; sent += IN_FLIGHT) {
        const batch = Array.from({ length: IN_FLIGHT }, (_, i) =>
          (sent + i) % GENUINE_EVERY === 0
            ? get(key).then((response) => void own.push(response.status))
            : get(wrongSecretFor(apiKey.prefix)).then((response) => {
                wrong.push(response.status);
                // The one 401 of every refusal: nothing tells a live prefix from an unknown one.
                expect(response.body).toEqual(unknown);
              }),
        );
        await Promise.all(batch);
      }
      expect(own).toEqual(Array(FLOOD / GENUINE_EVERY).fill(200));
      expect(wrong).toEqual(Array(FLOOD - FLOOD / GENUINE_EVERY).fill(401));
      // The key's own first check is the only slow hash the flood saw.
      expect(hasher.verifyCalls - calls).toBe(1);
    });

    it('gives a key stored before tags its tag when it next verifies, and then refuses wrong secrets for it without hashing', async () => {
      const { apiKey, key } = await service.create({ name: 'legacy' });
      const table = dataSource.driver.escape('api_keys');
      await dataSource.query(`UPDATE ${table} SET secret_tag = NULL WHERE id = '${apiKey.id}'`);
      const calls = hasher.verifyCalls;
      expect((await get(wrongSecretFor(apiKey.prefix))).status).toBe(401);
      // Without its tag, a wrong secret costs a slow hash, as before tags.
      expect(hasher.verifyCalls - calls).toBe(1);
      expect((await get(key)).status).toBe(200);
      const [row] = await dataSource.query(
        `SELECT hashed_key, secret_tag FROM ${table} WHERE id = '${apiKey.id}'`,
      );
      expect(row.secret_tag).toBe(secretTagOfKey(key, row.hashed_key));
      // Forgotten, as a restart would: what answers now is the tag, not the memo of its success.
      (service as any).verifier.forget(apiKey.id);
      const before = hasher.verifyCalls;
      for (let i = 0; i < 5; i++)
        expect((await get(wrongSecretFor(apiKey.prefix))).status).toBe(401);
      expect(hasher.verifyCalls).toBe(before);
      expect((await get(key)).status).toBe(200);
      expect(hasher.verifyCalls - before).toBe(1);
    });
  });
});
