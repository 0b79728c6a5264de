import 'reflect-metadata';
import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKey,
  ApiKeyGuard,
  ApiKeyModule,
  ApiKeyService,
  CurrentApiKey,
  RequireScopes,
  SkipApiKeyUsage,
} from '../../lib/index.js';
import { ADAPTERS, call, startApp } from '../support/http.js';
import { createSharedDatabase, type TestDatabase } from '../support/databases.js';
import { eventually, nextOrNotified } from '../support/revocation-sync-mode.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/** A route a key holding either scope may call. */
@Controller('reports')
@UseGuards(ApiKeyGuard)
class ReportsController {
  @Get()
  @RequireScopes.any('reports:read', 'admin')
  list() {
    return { reports: [] };
  }
}

/** A route that spends no credit, so a spent key can still ask how many it has left. */
@Controller('usage')
@UseGuards(ApiKeyGuard)
class UsageController {
  @Get()
  @SkipApiKeyUsage()
  usage(@CurrentApiKey() apiKey: ApiKey) {
    return { remaining: apiKey.remaining, lastRefillAt: apiKey.lastRefillAt };
  }
}

/**
 * Two app instances on one database (two servers) enforcing each key policy through the guard:
 * suspension (401), the IP allow-list (403) and credits (429), with credits spent exactly once
 * each however many requests race for them, on either instance.
 */
describe.each(['sqlite-file', 'postgres', 'mariadb'] as const)('key policies (%s)', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    let db: TestDatabase | undefined;
    const apps: Array<{ app: any; url: string }> = [];
    const service = () => apps[0].app.get(ApiKeyService) as ApiKeyService<ApiKey>;
    const get = (i: number, key: string, path = 'who') =>
      call(`${apps[i].url}/${path}`, { headers: { authorization: `Api-Key ${key}` } });

    beforeAll(async () => {
      db = await createSharedDatabase(engine);
      const options: any = db.options;
      for (let i = 0; i < 2; i++) {
        @Module({
          imports: [
            typeOrmFor(options, { synchronize: i === 0 }),
            // Instance 1 sends each key's expiry; instance 0 does not.
            ApiKeyModule.forRoot(i === 1 ? { expiryNotices: { header: true } } : {}),
          ],
          controllers: [keyPrefixController('who'), UsageController, ReportsController],
        })
        class AppModule {}
        apps.push(await startApp(AppModule, adapter));
      }
    });
    afterAll(async () => {
      for (const { app } of apps) await app.close();
      await db?.drop();
    });

    it('a suspension in one instance applies to the next request to the other, and so does resuming', async () => {
      const { key, apiKey } = await service().create({ name: 'suspended' });
      for (const i of [0, 1]) expect((await get(i, key)).status).toBe(200);
      await apps[1].app.get(ApiKeyService).disable(apiKey.prefix);
      const refused = await nextOrNotified(async () => (await get(0, key)).status, 401);
      expect(refused).toBe(401);
      const body = (await get(1, key)).body;
      // The same 401 as any refused key: nothing says the key exists but is suspended.
      expect(body.message).toBe('Invalid or missing API key.');
      await apps[1].app.get(ApiKeyService).enable(apiKey.id);
      expect(await nextOrNotified(async () => (await get(0, key)).status, 200)).toBe(200);
    });

    it('lets a key in from an allowed address (127.0.0.1/32) and answers 403 from elsewhere', async () => {
      const local = await service().create({ name: 'local', allowedIps: ['127.0.0.1/32'] });
      const mapped = await service().create({
        name: 'mapped',
        allowedIps: ['::ffff:127.0.0.0/104'],
      });
      const lan = await service().create({
        name: 'lan',
        allowedIps: ['10.0.0.0/8', '2001:db8::/32'],
      });
      expect((await get(0, local.key)).status).toBe(200);
      expect((await get(1, mapped.key)).status).toBe(200);
      const refused = await get(0, lan.key);
      expect(refused.status).toBe(403);
      expect(refused.body.message).toBe('API key may not be used from this address.');
      expect(JSON.stringify(refused.body)).not.toMatch(/10\.0\.0\.0|127\.0\.0\.1/);
    });

    it('gives a key with 5 credits exactly 5 answers of 200 among 50 concurrent requests to two instances', async () => {
      const { key } = await service().create({ name: 'five uses', remaining: 5 });
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => get(i % 2, key)));
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(5);
      expect(statuses.filter((status) => status === 429)).toHaveLength(45);
      // Each accepted request was told what it left, each count once.
      const left = answers
        .filter((answer) => answer.status === 200)
        .map((answer) => answer.headers.get('ratelimit'))
        .sort();
      expect(left).toEqual([0, 1, 2, 3, 4].map((r) => `"api-key-credits";r=${r}`));
      const spent = answers.find((answer) => answer.status === 429)!;
      expect(spent.headers.get('ratelimit')).toBe('"api-key-credits";r=0');
      expect(spent.body.message).toBe('API key has no usage credits left.');
    });

    it('refills a spent key exactly once when instances race past the boundary', async () => {
      const { key, apiKey } = await service().create({
        name: 'daily',
        remaining: 0,
        refillAmount: 3,
        refillInterval: 'day',
      });
      // Spent yesterday: a 429 names the seconds to the next UTC midnight.
      const before = await get(0, key);
      expect(before.status).toBe(429);
      expect(Number(before.headers.get('retry-after'))).toBeGreaterThan(0);
      const yesterday = new Date(Date.now() - 86_400_000);
      // Written straight to the table, as a day passing would leave it.
      await apps[0].app
        .get(DataSource)
        .getRepository(ApiKey)
        .update({ id: apiKey.id }, { lastRefillAt: yesterday, createdAt: yesterday });
      // In notify mode, once both instances have heard of the change made behind their backs.
      for (const i of [0, 1])
        await eventually(
          async () => (await get(i, key, 'usage')).body.lastRefillAt === yesterday.toISOString(),
          `instance ${i} sees the backdated refill`,
        );
      const statuses = await Promise.all(
        Array.from({ length: 30 }, (_, i) => get(i % 2, key).then((answer) => answer.status)),
      );
      expect(statuses.filter((status) => status === 200)).toHaveLength(3);
      const stored = (await service().findOne(apiKey.id))!;
      expect(stored.remaining).toBe(0);
      expect(stored.lastRefillAt!.getTime()).toBeGreaterThan(yesterday.getTime());
    });

    it('lets a spent key into a @SkipApiKeyUsage() route without spending', async () => {
      const { key, apiKey } = await service().create({ name: 'one use', remaining: 1 });
      expect((await get(0, key)).status).toBe(200);
      expect((await get(1, key)).status).toBe(429);
      const usage = await get(1, key, 'usage');
      expect(usage.status).toBe(200);
      expect(usage.body).toMatchObject({ remaining: 0 });
      expect((await service().findOne(apiKey.id))!.remaining).toBe(0);
    });

    it('lets in a key holding any one scope of @RequireScopes.any(), and answers 403 to one with none', async () => {
      for (const [scopes, status] of [
        [['admin'], 200],
        [['reports:read', 'other'], 200],
        [['reports:write'], 403],
        [[], 403],
      ] as const) {
        const { key } = await service().create({ name: 'reader', scopes: [...scopes] });
        expect((await get(0, key, 'reports')).status, scopes.join()).toBe(status);
      }
    });

    it('sends API-Key-Expiration only where expiryNotices.header is on, and only for keys that expire', async () => {
      const expiresAt = new Date('2099-01-31T12:00:00.000Z');
      const { key } = await service().create({ name: 'expiring', expiresAt });
      expect((await get(1, key)).headers.get('api-key-expiration')).toBe('2099-01-31 12:00:00 UTC');
      expect((await get(0, key)).headers.get('api-key-expiration')).toBeNull();
      const forever = await service().create({ name: 'forever' });
      expect((await get(1, forever.key)).headers.get('api-key-expiration')).toBeNull();
    });

    it('spends nothing for a key without credits, and sends no credit header', async () => {
      const { key, apiKey } = await service().create({ name: 'unlimited' });
      const answer = await get(0, key);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('ratelimit')).toBeNull();
      expect((await service().findOne(apiKey.id))!.remaining).toBeNull();
    });
  });
});
