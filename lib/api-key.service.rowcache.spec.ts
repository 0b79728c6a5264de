import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, createTestDatabase, type TestDatabase } from '../test/support/databases.js';
import { ApiKey } from './api-key.entity.js';
import { BcryptApiKeyHasher } from './keys/hasher.js';
import { type ApiKeyOptions } from './api-key.options.js';
import { resolveApiKeyOptions } from './options/resolve.js';
import { ensureChangeTrigger } from './change-feed/setup.js';
import { ApiKeyService } from './api-key.service.js';

/**
 * The service's row cache: two services on one database stand for two processes. By default
 * nothing is cached, so another process's revocation applies to the next request; notify mode
 * caches rows but hands each request its own copy.
 */
describe.each(ENGINES)('the row cache on %s', (engine) => {
  let db: TestDatabase;
  let dataSource: DataSource;
  const now = new Date('2031-01-01T00:00:00.000Z');
  const service = (options: ApiKeyOptions<ApiKey>) =>
    new ApiKeyService<ApiKey>(
      resolveApiKeyOptions<ApiKey>(
        {
          hasher: new BcryptApiKeyHasher({ cost: 4 }),
          usageTracking: false,
          clock: () => now,
          ...options,
        },
        { name: 'default', entity: ApiKey },
      ),
      dataSource.getRepository(ApiKey),
    );

  beforeAll(async () => {
    db = await createTestDatabase(engine);
    dataSource = await new DataSource({
      ...db.options,
      entities: [ApiKey],
      synchronize: true,
    } as any).initialize();
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  it('reads the row on every request by default', async () => {
    const fresh = service({});
    const other = service({});
    const { key, apiKey } = await other.create({ name: 'fresh' });
    expect(await fresh.isValid(key)).toBe(true);
    await other.revoke(apiKey.id);
    expect(await fresh.verify(key)).toMatchObject({ valid: false, reason: 'revoked' });
  });

  it.each([['notify', { revocationSync: 'notify' }]] as const)(
    'gives each request its own entity with %s, so editing one changes no later verdict',
    async (_mode, options) => {
      const caching = service(options);
      try {
        await ensureChangeTrigger(dataSource.getRepository(ApiKey), caching.options);
        const { key } = await caching.create({ name: 'edited', scopes: ['read'] });
        const first = await caching.verify(key);
        await until(
          () => (caching as any).rowCache.caching && (caching as any).rowCache.ticket() >= 0,
        );
        const second = await caching.verify(key);
        for (const verdict of [first, second]) {
          if (!verdict.valid) throw new Error('expected a valid key');
          verdict.apiKey.scopes.push('admin');
          verdict.apiKey.name = 'changed';
        }
        const third = await caching.verify(key);
        expect(third).toMatchObject({ valid: true, apiKey: { name: 'edited', scopes: ['read'] } });
      } finally {
        await caching.beforeApplicationShutdown();
      }
    },
  );

  it('answers a warm key at once with notify, refuses it at once once revoked, and never by default', async () => {
    const caching = service({ revocationSync: 'notify' });
    const reading = service({});
    try {
      await ensureChangeTrigger(dataSource.getRepository(ApiKey), caching.options);
      const { key, apiKey } = await caching.create({ name: 'warm' });
      expect(caching.verifyAtOnce(key)).toBeUndefined();
      await until(() => (caching as any).rowCache.ticket() >= 0);
      expect(await caching.verify(key)).toMatchObject({ valid: true });
      expect(await caching.verify(key)).toMatchObject({ valid: true });
      const atOnce = caching.verifyAtOnce(key);
      expect(atOnce).toMatchObject({ valid: true, apiKey: { id: apiKey.id } });
      // Its own entity, as verify() gives.
      if (atOnce?.valid) atOnce.apiKey.scopes.push('admin');
      expect(caching.verifyAtOnce(key)).toMatchObject({ valid: true, apiKey: { scopes: [] } });
      expect(await reading.verify(key)).toMatchObject({ valid: true });
      expect(reading.verifyAtOnce(key)).toBeUndefined();
      await caching.revoke(apiKey.id);
      expect(caching.verifyAtOnce(key)?.valid).not.toBe(true);
      expect(await caching.verify(key)).toMatchObject({ valid: false, reason: 'revoked' });
    } finally {
      await caching.beforeApplicationShutdown();
    }
  });

  it('leaves an overridden loadByPrefix to verify(), never answering at once past it', async () => {
    const reads: string[] = [];
    class AuditedService extends ApiKeyService<ApiKey> {
      protected override loadByPrefix(prefix: string) {
        reads.push(prefix);
        return super.loadByPrefix(prefix);
      }
    }
    const audited = new AuditedService(
      resolveApiKeyOptions<ApiKey>(
        {
          hasher: new BcryptApiKeyHasher({ cost: 4 }),
          usageTracking: false,
          clock: () => now,
          revocationSync: 'notify',
        },
        { name: 'default', entity: ApiKey },
      ),
      dataSource.getRepository(ApiKey),
    );
    try {
      await ensureChangeTrigger(dataSource.getRepository(ApiKey), audited.options);
      const { key } = await audited.create({ name: 'audited' });
      await until(() => (audited as any).rowCache.ticket() >= 0);
      await audited.verify(key);
      await audited.verify(key);
      expect(audited.verifyAtOnce(key)).toBeUndefined();
      expect(reads).toHaveLength(2);
    } finally {
      await audited.beforeApplicationShutdown();
    }
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 5_000) throw new Error('the row cache never started serving');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
