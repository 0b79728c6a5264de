import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Repository } from 'typeorm';
import { ApiKeyService, getApiKeyRepositoryToken } from '../../lib/index.js';
import { ADAPTERS, call, startApp, startOnNewDatabase } from '../support/http.js';
import { REDIS_URL } from '../support/services.js';
import { LIMIT, ThrottlerAppModule, type LimitedApiKey } from './throttler.app.js';

const get = (url: string, key?: string) =>
  call(url, { headers: key ? { authorization: `Api-Key ${key}` } : {} });

/** Sends `count` requests one after another and returns their statuses. */
async function statuses(url: string, count: number, key?: string): Promise<number[]> {
  const answers: number[] = [];
  for (let i = 0; i < count; i++) answers.push((await get(url, key)).status);
  return answers;
}

const allowed = (count: number) => Array.from({ length: count }, () => 200);

describe.each(ADAPTERS)('per-key limits in memory on %s', (_platform, adapter) => {
  let app: INestApplication;
  let url: string;
  let stop: () => Promise<void>;
  let service: ApiKeyService<LimitedApiKey>;

  beforeAll(async () => {
    ({ app, url, stop } = await startOnNewDatabase('sqlite', adapter, (database) =>
      ThrottlerAppModule.register(database),
    ));
    service = app.get(ApiKeyService);
  });
  afterAll(() => stop?.());

  it('counts per key, each key with its own budget, and answers 429 with Retry-After', async () => {
    const first = await service.create({ name: 'first' });
    const second = await service.create({ name: 'second' });
    const ok = await get(`${url}/limited`, first.key);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-ratelimit-limit')).toBe(String(LIMIT));
    expect(ok.headers.get('x-ratelimit-remaining')).toBe(String(LIMIT - 1));
    expect(await statuses(`${url}/limited`, LIMIT - 1, first.key)).toEqual(allowed(LIMIT - 1));
    const over = await get(`${url}/limited`, first.key);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    // As docs/openapi-and-rate-limits.md says: the X-RateLimit-* headers come with answers
    // under the limit; @nestjs/throttler's 429 carries Retry-After alone.
    expect(over.headers.get('x-ratelimit-limit')).toBeNull();
    expect(await statuses(`${url}/limited`, LIMIT, second.key)).toEqual(allowed(LIMIT));
  });

  it('refuses a bad key with 401 before counting anything', async () => {
    expect(await statuses(`${url}/limited`, LIMIT + 2, 'not-a-key')).toEqual(
      Array.from({ length: LIMIT + 2 }, () => 401),
    );
    const fresh = await service.create({ name: 'fresh' });
    expect(await statuses(`${url}/limited`, LIMIT, fresh.key)).toEqual(allowed(LIMIT));
  });

  it("applies a route's @Throttle() per key", async () => {
    const { key } = await service.create({ name: 'strict' });
    expect(await statuses(`${url}/strict`, 2, key)).toEqual([200, 429]);
    const other = await service.create({ name: 'strict-other' });
    expect(await statuses(`${url}/strict`, 1, other.key)).toEqual([200]);
  });

  it("lets a key's own limit override the route's and the module's", async () => {
    const { key, apiKey } = await service.create({ name: 'premium' });
    // Set before the key's first request: nothing has read its row yet.
    await app.get<string, Repository<LimitedApiKey>>(getApiKeyRepositoryToken()).update(apiKey.id, {
      rateLimits: { default: { limit: 5, ttl: 60_000 } },
    });
    expect(await statuses(`${url}/limited`, 6, key)).toEqual([...allowed(5), 429]);
    expect(await statuses(`${url}/strict`, 6, key)).toEqual([...allowed(5), 429]);
  });

  it('counts by owner on a guard made by byOwner(): more keys do not raise the budget', async () => {
    const [a, b] = await Promise.all(
      ['a', 'b'].map(async (name) => (await service.create({ name, ownerId: 'acme' })).key),
    );
    const other = (await service.create({ name: 'other', ownerId: 'globex' })).key;
    const perOwner = `${url}/per-owner`;
    expect(await statuses(perOwner, 2, a)).toEqual([200, 200]);
    expect(await statuses(perOwner, 2, b)).toEqual([200, 429]);
    expect(await statuses(perOwner, 1, other)).toEqual([200]);
  });

  it('falls back to the usual tracker (the client IP) without a key', async () => {
    expect(await statuses(`${url}/open`, LIMIT + 1)).toEqual([...allowed(LIMIT), 429]);
  });
});

describe.each(ADAPTERS)('per-key limits in Redis on %s', (_platform, adapter) => {
  const instances: Array<{ app: INestApplication; url: string }> = [];
  let stop: () => Promise<void>;
  /** This run's counters under a prefix of its own, shared by its two instances only. */
  const keyPrefix = `test:${randomUUID()}:`;
  const storage = () => new ThrottlerStorageRedisService(REDIS_URL, { keyPrefix });

  beforeAll(async () => {
    let database;
    const first = await startOnNewDatabase('postgres', adapter, (options) => {
      database = options;
      return ThrottlerAppModule.register(options, storage());
    });
    stop = first.stop;
    instances.push(
      first,
      await startApp(ThrottlerAppModule.register(database!, storage()), adapter),
    );
  });
  afterAll(async () => {
    await instances[1]?.app.close();
    await stop?.();
  });

  it("shares one key's budget between two instances", async () => {
    const { key } = await instances[0].app.get(ApiKeyService).create({ name: 'shared' });
    const [one, two] = instances.map(({ url }) => `${url}/limited`);
    expect(await statuses(one, 2, key)).toEqual([200, 200]);
    expect(await statuses(two, 1, key)).toEqual([200]);
    expect(await statuses(two, 1, key)).toEqual([429]);
    const refused = await get(one, key);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it("shares one owner's budget between its keys and two instances", async () => {
    const service = instances[0].app.get(ApiKeyService);
    const ownerId = randomUUID();
    const [a, b] = await Promise.all(
      ['a', 'b'].map(async (name) => (await service.create({ name, ownerId } as never)).key),
    );
    const [one, two] = instances.map(({ url }) => `${url}/per-owner`);
    expect(await statuses(one, 2, a)).toEqual([200, 200]);
    expect(await statuses(two, 2, b)).toEqual([200, 429]);
  });
});
