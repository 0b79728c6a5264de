import 'reflect-metadata';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type { ModuleRef } from '@nestjs/core';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ENGINES, createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { ApiKey } from '../api-key.entity.js';
import { ApiKeyValidationError } from '../api-key.errors.js';
import { ApiKeyService } from '../api-key.service.js';
import { HmacSha256ApiKeyHasher } from '../keys/hasher.js';
import { resolveApiKeyOptions } from '../options/resolve.js';
import { CreateApiKeys1764000000000 } from '../schema/migration.js';
import { ApiKeyCredits, refillPeriodStart } from './credits.js';
import { API_KEY_DISABLED_EVENT, API_KEY_ENABLED_EVENT, type ApiKeyStatusEvent } from './events.js';
import { API_KEY_EXPIRING_EVENT, type ApiKeyExpiringEvent } from './expiry-notices.js';

describe.each(ENGINES)('key policies in ApiKeyService on %s', (engine) => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let service: ApiKeyService;
  let now = new Date('2030-01-15T12:00:00.000Z');
  const events: Array<[string, ApiKeyStatusEvent]> = [];

  beforeAll(async () => {
    db = await createTestDatabase(engine);
    // Made by the shipped migration, so the table has its triggers.
    dataSource = await new DataSource({
      ...db.options,
      entities: [ApiKey],
      migrations: [CreateApiKeys1764000000000],
      migrationsRun: true,
    } as DataSourceOptions).initialize();
    const bus = new EventEmitter2();
    for (const name of [API_KEY_DISABLED_EVENT, API_KEY_ENABLED_EVENT])
      bus.on(name, (event: ApiKeyStatusEvent) => events.push([name, event]));
    service = new ApiKeyService(
      resolveApiKeyOptions(
        {
          hasher: new HmacSha256ApiKeyHasher({ secret: 'x'.repeat(32) }),
          clock: () => now,
          usageTracking: false,
        },
        { name: 'default', entity: ApiKey },
      ),
      dataSource.getRepository(ApiKey),
      { get: () => bus } as unknown as ModuleRef,
    );
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  /** Waits for the events announced in the background to be emitted. */
  const settled = () => new Promise((resolve) => setImmediate(resolve));

  describe('suspend and resume', () => {
    it('refuses a disabled key with reason disabled until it is enabled, announcing each change once', async () => {
      const { key, apiKey } = await service.create({ name: 'customer' });
      events.length = 0;
      const disabled = await service.disable(apiKey.prefix);
      expect(disabled.disabledAt).toEqual(now);
      expect(await service.verify(key)).toEqual({
        valid: false,
        reason: 'disabled',
        prefix: apiKey.prefix,
        keyId: apiKey.id,
      });
      // Idempotent: the first disabledAt stays, and nothing more is announced.
      const later = now;
      now = new Date(now.getTime() + 1000);
      expect((await service.disable(apiKey.id)).disabledAt).toEqual(later);
      const enabled = await service.enable(apiKey.id);
      expect(enabled.disabledAt).toBeNull();
      expect(await service.enable(apiKey.id)).toMatchObject({ disabledAt: null });
      expect((await service.verify(key)).valid).toBe(true);
      await settled();
      expect(events.map(([name, event]) => [name, event.id, event.prefix])).toEqual([
        [API_KEY_DISABLED_EVENT, apiKey.id, apiKey.prefix],
        [API_KEY_ENABLED_EVENT, apiKey.id, apiKey.prefix],
      ]);
      expect(JSON.stringify(events)).not.toContain(key);
    });

    it('never enables a revoked key: the service refuses, and so does the trigger for raw SQL', async () => {
      const { key, apiKey } = await service.create({ name: 'leaked' });
      await service.disable(apiKey.id);
      await service.revoke(apiKey.id);
      await expect(service.enable(apiKey.id)).rejects.toThrow(/revoked; revocation is final/);
      const table = dataSource.driver.escape('api_keys');
      const param = engine === 'postgres' ? '$1' : '?';
      await expect(
        dataSource.query(`UPDATE ${table} SET disabled_at = NULL WHERE id = ${param}`, [apiKey.id]),
      ).rejects.toThrow(/A revoked API key cannot be enabled/);
      expect((await service.verify(key)).valid).toBe(false);
    });

    it('refuses to rotate a disabled key, which would hand out an unsuspended one', async () => {
      const { apiKey } = await service.create({ name: 'suspended' });
      await service.disable(apiKey.id);
      await expect(service.rotate(apiKey.id, { gracePeriod: 0 })).rejects.toThrow(
        /disabled; enable it first/,
      );
    });
  });

  describe('IP allow-list', () => {
    it('checks clientIp when given, and only for keys with a list', async () => {
      const { key, apiKey } = await service.create({ name: 'office', allowedIps: ['10.0.0.0/8'] });
      expect(apiKey.allowedIps).toEqual(['10.0.0.0/8']);
      expect((await service.verify(key, { clientIp: '10.1.2.3' })).valid).toBe(true);
      expect(await service.verify(key, { clientIp: '::ffff:10.9.9.9' })).toMatchObject({
        valid: true,
      });
      expect(await service.verify(key, { clientIp: '192.168.0.1' })).toMatchObject({
        valid: false,
        reason: 'ip_not_allowed',
      });
      expect(await service.verify(key, { clientIp: null })).toMatchObject({
        reason: 'ip_not_allowed',
      });
      // Left out, the list is not checked: a leak report still finds the key.
      expect((await service.verify(key)).valid).toBe(true);
      const open = await service.create({ name: 'anywhere' });
      expect((await service.verify(open.key, { clientIp: null })).valid).toBe(true);
    });

    it('changes and clears the list with update()', async () => {
      const { key, apiKey } = await service.create({ name: 'moving', allowedIps: ['10.0.0.1'] });
      await service.update(apiKey.id, { allowedIps: ['2001:db8::/32', '2001:db8::/32'] });
      expect((await service.findOne(apiKey.id))!.allowedIps).toEqual(['2001:db8::/32']);
      expect((await service.verify(key, { clientIp: '10.0.0.1' })).valid).toBe(false);
      await service.update(apiKey.id, { allowedIps: null });
      expect((await service.verify(key, { clientIp: '10.0.0.1' })).valid).toBe(true);
    });
  });

  describe('credits', () => {
    it('spends exactly the credits there are among 50 concurrent spends', async () => {
      const { key, apiKey } = await service.create({ name: 'five', remaining: 5 });
      const spent = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const verified = await service.verify(key, { credit: 'spend' });
          return verified.valid;
        }),
      );
      expect(spent.filter(Boolean)).toHaveLength(5);
      expect((await service.findOne(apiKey.id))!.remaining).toBe(0);
      // Spent: refused when checked, without a write.
      expect(await service.verify(key)).toMatchObject({ valid: false, reason: 'usage_exceeded' });
      expect((await service.verify(key, { credit: 'skip' })).valid).toBe(true);
    });

    it('refills to refillAmount on the first spend after a UTC boundary, once', async () => {
      now = new Date('2030-03-31T23:59:00.000Z');
      const { apiKey } = await service.create({
        name: 'monthly',
        remaining: 1,
        refillAmount: 3,
        refillInterval: 'month',
      });
      expect(await service.spendCredit(apiKey)).toBe(true);
      expect(await service.spendCredit(apiKey)).toBe(false);
      now = new Date('2030-04-01T00:00:00.000Z');
      // Ten copies of the row, as ten instances read it, race past the boundary: one refill.
      const copies = await Promise.all(
        Array.from({ length: 10 }, async () => (await service.findOne(apiKey.id))!),
      );
      const spent = await Promise.all(copies.map((copy) => service.spendCredit(copy)));
      expect(spent.filter(Boolean)).toHaveLength(3);
      const stored = (await service.findOne(apiKey.id))!;
      expect(stored.lastRefillAt).toEqual(now);
      expect(stored.remaining).toBe(0);
    });

    it('writes nothing for a key without a limit, however it is asked to spend', async () => {
      const spend = vi.spyOn(ApiKeyCredits.prototype, 'spend');
      try {
        const { key, apiKey } = await service.create({ name: 'unlimited' });
        expect((await service.verify(key, { credit: 'spend' })).valid).toBe(true);
        expect(await service.spendCredit(apiKey)).toBe(true);
        expect(spend).not.toHaveBeenCalled();
        const limited = await service.create({ name: 'limited', remaining: 1 });
        expect(await service.spendCredit(limited.apiKey)).toBe(true);
        expect(spend).toHaveBeenCalledTimes(1);
      } finally {
        spend.mockRestore();
      }
    });

    it('gives a refill without remaining a full first period', async () => {
      const { apiKey } = await service.create({
        name: 'daily',
        refillAmount: 100,
        refillInterval: 'day',
      });
      expect(apiKey).toMatchObject({ remaining: 100, refillAmount: 100, refillInterval: 'day' });
    });
  });

  describe('maxLifetime', () => {
    it('refuses keys without an expiry or with a later one, naming the limit, in create, update and rotate', async () => {
      const limited = new ApiKeyService(
        resolveApiKeyOptions(
          {
            hasher: new HmacSha256ApiKeyHasher({ secret: 'x'.repeat(32) }),
            clock: () => now,
            usageTracking: false,
            maxLifetime: '30d',
          },
          { name: 'default', entity: ApiKey },
        ),
        dataSource.getRepository(ApiKey),
      );
      const day = 86_400_000;
      const refusal = (promise: Promise<unknown>) => promise.catch((error: unknown) => error);
      const forever = await refusal(limited.create({ name: 'forever' }));
      expect(forever).toBeInstanceOf(ApiKeyValidationError);
      expect(forever).toMatchObject({ field: 'expiresAt', message: /maxLifetime is 30d/ });
      const tooLong = await refusal(
        limited.create({ name: 'long', expiresAt: new Date(now.getTime() + 31 * day) }),
      );
      expect(tooLong).toMatchObject({ field: 'expiresAt', message: /past the maxLifetime of 30d/ });
      const { apiKey } = await limited.create({
        name: 'short',
        expiresAt: new Date(now.getTime() + 30 * day),
      });
      expect(await refusal(limited.update(apiKey.id, { expiresAt: null }))).toMatchObject({
        field: 'expiresAt',
      });
      // A key made before the limit, without an expiry, cannot be rotated into one.
      const old = await service.create({ name: 'old' });
      expect(await refusal(limited.rotate(old.apiKey.id, { gracePeriod: 0 }))).toMatchObject({
        field: 'expiresAt',
      });
      expect((await limited.findOne(old.apiKey.id))!.revoked).toBe(false);
    });

    it.each([0, -1, 1.5, '90', '90y', 'soon', null])(
      'refuses maxLifetime %j at boot',
      (maxLifetime) => {
        expect(() =>
          resolveApiKeyOptions({ maxLifetime } as any, { name: 'default', entity: ApiKey }),
        ).toThrow(/option "maxLifetime"/);
      },
    );
  });

  describe('expiry notices', () => {
    it('announces each key expiring within the window once, however many instances sweep', async () => {
      const day = 86_400_000;
      const heard: ApiKeyExpiringEvent[] = [];
      const bus = new EventEmitter2();
      bus.on(API_KEY_EXPIRING_EVENT, (event: ApiKeyExpiringEvent) => heard.push(event));
      const instance = () =>
        new ApiKeyService(
          resolveApiKeyOptions(
            {
              hasher: new HmacSha256ApiKeyHasher({ secret: 'x'.repeat(32) }),
              clock: () => now,
              usageTracking: false,
              expiryNotices: { within: 7 * day },
            },
            { name: 'default', entity: ApiKey },
          ),
          dataSource.getRepository(ApiKey),
          { get: () => bus } as unknown as ModuleRef,
        );
      const [a, b] = [instance(), instance()];
      const soon = await a.create({ name: 'soon', expiresAt: new Date(now.getTime() + 3 * day) });
      const later = await a.create({
        name: 'later',
        expiresAt: new Date(now.getTime() + 30 * day),
      });
      const gone = await a.create({ name: 'gone', expiresAt: new Date(now.getTime() + day) });
      await a.revoke(gone.apiKey.id);
      const swept = await Promise.all([a.notifyExpiring(), b.notifyExpiring(), a.notifyExpiring()]);
      const mine = (keys: ApiKey[]) =>
        keys.filter((k) => [soon, later, gone].some((c) => c.apiKey.id === k.id));
      expect(swept.flatMap(mine).map((k) => k.id)).toEqual([soon.apiKey.id]);
      const events = heard.filter((e) => e.id === soon.apiKey.id);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type: 'expiring',
        prefix: soon.apiKey.prefix,
        expiresAt: soon.apiKey.expiresAt,
      });
      expect(JSON.stringify(heard)).not.toContain(soon.key);
      // A new expiry is announced again.
      await a.update(soon.apiKey.id, { expiresAt: new Date(now.getTime() + 2 * day) });
      expect(mine(await b.notifyExpiring()).map((k) => k.id)).toEqual([soon.apiKey.id]);
      expect(mine(await a.notifyExpiring())).toEqual([]);
      expect(later.apiKey.expiresAt).not.toBeNull();
    });
  });

  describe('hostile input', () => {
    it.each([
      ['allowedIps', { allowedIps: '10.0.0.0/8' }],
      ['allowedIps', { allowedIps: ['10.0.0.0/8', "1.1.1.1'; DROP TABLE api_keys; --"] }],
      ['allowedIps', { allowedIps: [] }],
      ['allowedIps', { allowedIps: [{ toString: (): string => '::1' }] }],
      ['remaining', { remaining: -1 }],
      ['remaining', { remaining: 1.5 }],
      ['remaining', { remaining: '5' }],
      ['remaining', { remaining: 2 ** 31 }],
      ['refillAmount', { refillAmount: 0, refillInterval: 'day' }],
      ['refillInterval', { refillAmount: 5, refillInterval: 'week' }],
      ['refillInterval', { remaining: 5, refillAmount: 5 }],
      ['refillAmount', { remaining: 5, refillInterval: 'day' }],
      ['disabledAt', { disabledAt: null }],
    ])(
      'refuses %s %j at create and update, naming it, and writes nothing',
      async (field, input) => {
        const created = await service
          .create({ name: 'hostile', ...(input as object) })
          .catch((e) => e);
        expect(created).toBeInstanceOf(ApiKeyValidationError);
        if (field !== 'disabledAt') expect((created as ApiKeyValidationError).field).toBe(field);
        const { apiKey } = await service.create({ name: 'kept' });
        const updated = await service.update(apiKey.id, input as any).catch((e) => e);
        expect(updated).toBeInstanceOf(ApiKeyValidationError);
        expect((updated as ApiKeyValidationError).field).toBe(field);
        expect(await service.findOne(apiKey.id)).toEqual(apiKey);
      },
    );
  });
});

describe('refillPeriodStart', () => {
  it('starts days at UTC midnight and months on the first at UTC midnight', () => {
    const instant = new Date('2030-02-28T23:30:00.000-05:00');
    expect(refillPeriodStart('day', instant).toISOString()).toBe('2030-03-01T00:00:00.000Z');
    expect(refillPeriodStart('month', instant).toISOString()).toBe('2030-03-01T00:00:00.000Z');
    expect(refillPeriodStart('month', new Date('2030-12-31T23:59:59.999Z')).toISOString()).toBe(
      '2030-12-01T00:00:00.000Z',
    );
  });
});
