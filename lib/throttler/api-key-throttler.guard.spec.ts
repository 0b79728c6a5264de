import 'reflect-metadata';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import {
  Throttle,
  ThrottlerException,
  ThrottlerStorageService,
  type ThrottlerOptions,
} from '@nestjs/throttler';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiKeyThrottlerGuard, type ApiKeyWithRateLimits } from './api-key-throttler.guard.js';

class LimitedController {
  @Throttle({ default: { limit: 3, ttl: 30_000 } })
  limited() {}
}

/** The in-memory storage, noting what each count was made under. */
class NotingStorage extends ThrottlerStorageService {
  readonly counted: Array<{ tracker: string; ttl: number; limit: number; block: number }> = [];
  /** The tracker each generated key was made from, as the guard passes it to `generateKey`. */
  readonly trackers = new Map<string, string>();

  override increment(key: string, ttl: number, limit: number, block: number, name: string) {
    this.counted.push({ tracker: this.trackers.get(key) ?? '?', ttl, limit, block });
    return super.increment(key, ttl, limit, block, name);
  }
}

const storages: NotingStorage[] = [];
afterEach(() => {
  for (const storage of storages.splice(0)) storage.onApplicationShutdown();
});

async function guardWith(throttlers: ThrottlerOptions[]) {
  const storage = new NotingStorage();
  storages.push(storage);
  const guard = new ApiKeyThrottlerGuard(
    {
      throttlers,
      generateKey: (context, tracker, name) => {
        const key = `${context.getHandler().name}:${name}:${tracker}`;
        storage.trackers.set(key, tracker);
        return key;
      },
    },
    storage,
    new Reflector(),
  );
  await guard.onModuleInit();
  return { guard, storage };
}

/** A request as a guard sees it: the client's address, and the key an API key guard put on it. */
function request(apiKey?: Partial<ApiKeyWithRateLimits>) {
  const headers: Record<string, string> = {};
  const req = { ip: '203.0.113.7', headers, apiKey };
  const res = { header: (name: string, value: unknown) => (headers[`>${name}`] = String(value)) };
  const context = new ExecutionContextHost(
    [req, res, () => undefined],
    LimitedController as any,
    LimitedController.prototype.limited,
  );
  context.setType('http');
  return { context, sent: headers };
}

const key = (id: string, rateLimits?: ApiKeyWithRateLimits['rateLimits']) => ({
  id,
  prefix: 'AbCd1234',
  rateLimits,
});

describe('ApiKeyThrottlerGuard', () => {
  it("counts a keyed request under the key's id, at the route's limit", async () => {
    const { guard, storage } = await guardWith([{ ttl: 60_000, limit: 10 }]);
    expect(await guard.canActivate(request(key('k-1')).context)).toBe(true);
    expect(storage.counted).toEqual([
      { tracker: 'api-key:k-1', ttl: 30_000, limit: 3, block: 30_000 },
    ]);
  });

  it('shares one budget between requests of one key, whatever its prefix, and none with another key', async () => {
    const { guard } = await guardWith([{ ttl: 60_000, limit: 10 }]);
    for (let i = 0; i < 3; i++) await guard.canActivate(request(key('k-1')).context);
    await expect(
      guard.canActivate(request({ ...key('k-1'), prefix: 'Rotated1' }).context),
    ).rejects.toBeInstanceOf(ThrottlerException);
    expect(await guard.canActivate(request(key('k-2')).context)).toBe(true);
  });

  it("takes a key's own limit for the throttler over the route's, block duration defaulting to its window", async () => {
    const { guard, storage } = await guardWith([{ ttl: 60_000, limit: 10 }]);
    const { context, sent } = request(key('k-1', { default: { limit: 100, ttl: 1_000 } }));
    await guard.canActivate(context);
    expect(storage.counted[0]).toEqual({
      tracker: 'api-key:k-1',
      ttl: 1_000,
      limit: 100,
      block: 1_000,
    });
    expect(sent['>X-RateLimit-Limit']).toBe('100');

    await guard.canActivate(
      request(key('k-2', { default: { limit: 1, ttl: 1_000, blockDuration: 5_000 } })).context,
    );
    expect(storage.counted[1]).toMatchObject({ limit: 1, ttl: 1_000, block: 5_000 });
  });

  it("reads a named throttler's limit under its name, and ignores limits that are not numbers", async () => {
    const { guard, storage } = await guardWith([
      { ttl: 60_000, limit: 10 },
      { name: 'burst', ttl: 1_000, limit: 2 },
    ]);
    await guard.canActivate(
      request(
        key('k-1', {
          burst: { limit: 7, ttl: 2_000 },
          default: { limit: 'many' as unknown as number, ttl: 1_000 },
        }),
      ).context,
    );
    // Throttlers are counted shortest window first; the route's @Throttle() names `default` only.
    expect(storage.counted).toEqual([
      { tracker: 'api-key:k-1', ttl: 2_000, limit: 7, block: 2_000 },
      { tracker: 'api-key:k-1', ttl: 30_000, limit: 3, block: 30_000 },
    ]);
  });

  it('tracks a request without a key as the throttler would: by client address', async () => {
    const { guard, storage } = await guardWith([{ ttl: 60_000, limit: 10 }]);
    await guard.canActivate(request().context);
    expect(storage.counted).toEqual([
      { tracker: '203.0.113.7', ttl: 30_000, limit: 3, block: 30_000 },
    ]);
  });
});
