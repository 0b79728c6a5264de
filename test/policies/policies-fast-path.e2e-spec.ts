import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey, ApiKeyModule, ApiKeyService } from '../../lib/index.js';
import { OUTCOME_INDEX, type ApiKeyUsageOutcome } from '../../lib/usage/outcomes.js';
import { ADAPTERS, call, startApp } from '../support/http.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { eventually } from '../support/revocation-sync-mode.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/**
 * Key policies on notify mode's synchronous fast path: once a key's row is cached and its secret
 * memoised, the guard answers without a read or an await (`verifyAtOnce`). A suspended key must
 * still get 401 there, a key from outside its allow-list 403, and a usage-limited key must still
 * spend one credit per request, each refusal counted under its outcome.
 */
describe.each(['sqlite', 'postgres'] as const)('key policies on the fast path (%s)', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    let db: TestDatabase;
    let started: { app: any; url: string };
    const service = () => started.app.get(ApiKeyService) as ApiKeyService<ApiKey>;
    const status = async (key: string) =>
      (await call(`${started.url}/who`, { headers: { authorization: `Api-Key ${key}` } })).status;
    const count = (outcome: ApiKeyUsageOutcome) => service().outcomeTotals![OUTCOME_INDEX[outcome]];

    /**
     * Waits until the service judges a policy-free key from its cache (the channel is up), then
     * sends `key`'s first request, which caches its row and memoises its secret; its answer.
     */
    async function warm(key: string): Promise<number> {
      const { key: control } = await service().create({ name: 'control' });
      await eventually(
        async () =>
          (await status(control)) === 200 && service().verifyAtOnce(control) !== undefined,
        'the cache serves',
      );
      return status(key);
    }

    beforeAll(async () => {
      db = await createTestDatabase(engine);
      @Module({
        imports: [typeOrmFor(db.options), ApiKeyModule.forRoot({ revocationSync: 'notify' })],
        controllers: [keyPrefixController('who')],
      })
      class AppModule {}
      started = await startApp(AppModule, adapter);
    });
    afterAll(async () => {
      await started?.app.close();
      await db?.drop();
    });

    it('answers 401 to a key suspended while warm, from its cached row, and 200 once resumed', async () => {
      const { key, apiKey } = await service().create({ name: 'suspended' });
      expect(await warm(key)).toBe(200);
      expect(service().verifyAtOnce(key)).toMatchObject({ valid: true });
      await service().disable(apiKey.id);
      // Re-read and cached with disabledAt (asked again, should the change's own notice have
      // dropped the row meanwhile): then judged at once, and refused.
      await eventually(
        async () => (await status(key)) === 401 && service().verifyAtOnce(key) !== undefined,
        'the suspended row is cached',
      );
      expect(service().verifyAtOnce(key)).toMatchObject({ valid: false, reason: 'disabled' });
      for (let i = 0; i < 3; i++) expect(await status(key)).toBe(401);
      await service().enable(apiKey.id);
      expect(await status(key)).toBe(200);
    });

    it('answers 403 every time to a warm key used from outside its allow-list, counted as forbidden', async () => {
      const { key } = await service().create({ name: 'lan', allowedIps: ['10.0.0.0/8'] });
      const forbidden = count('forbidden');
      expect(await warm(key)).toBe(403);
      // Its row is cached and its secret memoised, yet only the full check may answer for it.
      expect(service().verifyAtOnce(key)).toBeUndefined();
      for (let i = 0; i < 3; i++) expect(await status(key)).toBe(403);
      expect(count('forbidden') - forbidden).toBe(4);
    });

    it('spends one credit per request of a warm key, then answers 429, counted as usage_exceeded', async () => {
      const { key, apiKey } = await service().create({ name: 'three uses', remaining: 3 });
      const exceeded = count('usage_exceeded');
      expect(await warm(key)).toBe(200);
      expect(service().verifyAtOnce(key)).toBeUndefined();
      expect((await service().findOne(apiKey.id))!.remaining).toBe(2);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push(await status(key));
      expect(statuses).toEqual([200, 200, 429, 429]);
      expect((await service().findOne(apiKey.id))!.remaining).toBe(0);
      expect(count('usage_exceeded') - exceeded).toBe(2);
    });

    it('counts a policy-free key answered at once as ok', async () => {
      const { key } = await service().create({ name: 'plain' });
      expect(await warm(key)).toBe(200);
      expect(service().verifyAtOnce(key)).toMatchObject({ valid: true });
      const ok = count('ok');
      expect(await status(key)).toBe(200);
      expect(count('ok') - ok).toBe(1);
    });
  });
});
