import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions, type Logger as TypeOrmLogger } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../test/support/clock.js';
import { ENGINES, createTestDatabase, type Engine } from '../../test/support/databases.js';
import { FAST_BCRYPT, openKeyStore, type KeyStore } from '../../test/support/key-store.js';
import { ApiKey } from '../api-key.entity.js';
import { ApiKeyModule } from '../api-key.module.js';
import { ApiKeyService } from '../api-key.service.js';
import { ApiKeyUsageRecorder } from './usage.js';

const INTERVAL = 60_000;

/** Keeps every statement TypeORM sends, so tests can count the writes of usage marks. */
class StatementLog implements TypeOrmLogger {
  readonly statements: string[] = [];
  logQuery(query: string): void {
    this.statements.push(query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}

  /** UPDATE statements that set last_used_at, since the last `clear()`. */
  get usageWrites(): string[] {
    return this.statements.filter((s) => /^UPDATE\b/i.test(s) && /last_used_at/.test(s));
  }

  clear(): void {
    this.statements.length = 0;
  }
}

/** `last_used_at` of a row as a Date (SQLite returns text, the servers a Date), or null. */
async function lastUsedAt(store: KeyStore, prefix: string): Promise<Date | null> {
  const value = (await store.rawRow(prefix))!.last_used_at;
  if (value === null) return null;
  return value instanceof Date ? value : new Date(`${String(value).replace(' ', 'T')}Z`);
}

/** Renames the key table away and back, so writes fail for a while on a real database. */
async function withTableAway(store: KeyStore, during: () => Promise<void>): Promise<void> {
  await store.dataSource.query('ALTER TABLE api_keys RENAME TO api_keys_away');
  try {
    await during();
  } finally {
    await store.dataSource.query('ALTER TABLE api_keys_away RENAME TO api_keys');
  }
}

describe.each(ENGINES)('lastUsedAt tracking on %s', (engine) => {
  let store: KeyStore;
  const statements = new StatementLog();

  beforeAll(async () => {
    Logger.overrideLogger(false);
    store = await openKeyStore(engine, [ApiKey], { logging: ['query'], logger: statements });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('writes nothing on the request path, then one mark per key and interval when flushed', async () => {
    const clock = new FakeClock();
    const service = store.service({ clock: clock.now, usageTracking: { interval: INTERVAL } });
    const { apiKey, key } = await service.create({ name: 'usage' });
    const firstUse = clock.now();
    statements.clear();
    expect(await service.isValid(key)).toBe(true);
    clock.advance(30_000);
    expect(await service.isValid(key)).toBe(true);
    clock.advance(29_999);
    expect(await service.isValid(key)).toBe(true);
    expect(statements.usageWrites).toEqual([]);
    expect(await lastUsedAt(store, apiKey.prefix)).toBeNull();

    await service.flushUsage();
    expect(statements.usageWrites).toHaveLength(1);
    expect(await lastUsedAt(store, apiKey.prefix)).toEqual(firstUse);

    // Nothing is pending any more: a second flush writes nothing.
    statements.clear();
    await service.flushUsage();
    expect(statements.usageWrites).toEqual([]);

    // One interval after the first mark, a use is marked again.
    clock.set(new Date(firstUse.getTime() + INTERVAL));
    expect(await service.isValid(key)).toBe(true);
    await service.flushUsage();
    expect(statements.usageWrites).toHaveLength(1);
    expect(await lastUsedAt(store, apiKey.prefix)).toEqual(clock.now());
    expect((await service.findOne(apiKey.id))!.lastUsedAt).toEqual(clock.now());
  });

  it('does not mark failed verifications', async () => {
    const clock = new FakeClock();
    const service = store.service({ clock: clock.now });
    const { apiKey, key } = await service.create({ name: 'usage-failures' });
    expect(await service.isValid(`${apiKey.prefix}.${'z'.repeat(32)}`)).toBe(false);
    await service.revoke(apiKey.id);
    expect(await service.isValid(key)).toBe(false);
    await service.flushUsage();
    expect(await lastUsedAt(store, apiKey.prefix)).toBeNull();
  });

  it('writes the marks of many keys used at one instant in one statement', async () => {
    const clock = new FakeClock();
    const service = store.service({ clock: clock.now });
    const created = await Promise.all(
      ['batch-a', 'batch-b', 'batch-c'].map((name) => service.create({ name })),
    );
    for (const { key } of created) expect(await service.isValid(key)).toBe(true);
    statements.clear();
    await service.flushUsage();
    expect(statements.usageWrites).toHaveLength(1);
    for (const { apiKey } of created)
      expect(await lastUsedAt(store, apiKey.prefix)).toEqual(clock.now());
  });

  it('writes the marks of keys used at different instants within an interval in one statement, at the earliest', async () => {
    const clock = new FakeClock();
    const service = store.service({ clock: clock.now });
    const created = await Promise.all(
      ['spread-a', 'spread-b', 'spread-c'].map((name) => service.create({ name })),
    );
    const firstUse = clock.now();
    for (const { key } of created) {
      expect(await service.isValid(key)).toBe(true);
      clock.advance(1_234);
    }
    statements.clear();
    await service.flushUsage();
    expect(statements.usageWrites).toHaveLength(1);
    for (const { apiKey } of created)
      expect(await lastUsedAt(store, apiKey.prefix)).toEqual(firstUse);
  });

  it('keeps marks whose write failed, and writes them on the next flush', async () => {
    const clock = new FakeClock();
    const service = store.service({ clock: clock.now });
    const { apiKey, key } = await service.create({ name: 'usage-retry' });
    expect(await service.isValid(key)).toBe(true);
    await withTableAway(store, async () => {
      await expect(service.flushUsage()).resolves.toBeUndefined();
    });
    expect(await lastUsedAt(store, apiKey.prefix)).toBeNull();
    await service.flushUsage();
    expect(await lastUsedAt(store, apiKey.prefix)).toEqual(clock.now());
  });

  it('tracks nothing with usageTracking: false', async () => {
    const clock = new FakeClock();
    const service = store.service({ clock: clock.now, usageTracking: false });
    const { apiKey, key } = await service.create({ name: 'usage-off' });
    expect(await service.isValid(key)).toBe(true);
    await service.flushUsage();
    await service.beforeApplicationShutdown();
    expect(await lastUsedAt(store, apiKey.prefix)).toBeNull();
  });

  describe('ApiKeyUsageRecorder', () => {
    /** A new key marked once by a recorder with these shutdown retry delays, its log spied on. */
    async function markedAtShutdown(name: string, retryDelays: number[]) {
      const clock = new FakeClock();
      const service = store.service({ clock: clock.now, usageTracking: false });
      const { apiKey } = await service.create({ name });
      const repository = store.dataSource.getRepository(ApiKey);
      const recorder = new ApiKeyUsageRecorder(repository, INTERVAL, {
        shutdownRetryDelays: retryDelays,
      });
      const logger = (recorder as any).logger as Logger;
      const warnings = vi.spyOn(logger, 'warn');
      const errors = vi.spyOn(logger, 'error');
      recorder.record(apiKey, clock.now());
      return { clock, apiKey, recorder, warnings, errors };
    }

    it('holds one pending mark for two uses within the interval, and one more after it', async () => {
      const clock = new FakeClock();
      const service = store.service({ clock: clock.now, usageTracking: false });
      const { apiKey } = await service.create({ name: 'recorder' });
      const recorder = new ApiKeyUsageRecorder(store.dataSource.getRepository(ApiKey), INTERVAL);
      recorder.record(apiKey, clock.now());
      recorder.record(apiKey, new Date(clock.now().getTime() + INTERVAL - 1));
      expect(recorder.pendingCount).toBe(1);
      await recorder.flush();
      expect(recorder.pendingCount).toBe(0);
      expect(await lastUsedAt(store, apiKey.prefix)).toEqual(clock.now());
      recorder.record(apiKey, new Date(clock.now().getTime() + INTERVAL));
      expect(recorder.pendingCount).toBe(1);
      await recorder.close();
      expect(recorder.pendingCount).toBe(0);
      expect(await lastUsedAt(store, apiKey.prefix)).toEqual(
        new Date(clock.now().getTime() + INTERVAL),
      );
    });

    it('does not mark a key whose stored lastUsedAt is within the interval', async () => {
      const clock = new FakeClock();
      const service = store.service({ clock: clock.now, usageTracking: false });
      const { apiKey } = await service.create({ name: 'recorder-stored' });
      const recorder = new ApiKeyUsageRecorder(store.dataSource.getRepository(ApiKey), INTERVAL);
      recorder.record(
        Object.assign(apiKey, { lastUsedAt: clock.now() }),
        new Date(clock.now().getTime() + 1_000),
      );
      expect(recorder.pendingCount).toBe(0);
      await recorder.close();
    });

    it('keeps a failed mark pending until a write succeeds', async () => {
      const clock = new FakeClock();
      const service = store.service({ clock: clock.now, usageTracking: false });
      const { apiKey } = await service.create({ name: 'recorder-retry' });
      const recorder = new ApiKeyUsageRecorder(store.dataSource.getRepository(ApiKey), INTERVAL);
      recorder.record(apiKey, clock.now());
      await withTableAway(store, () => recorder.flush());
      expect(recorder.pendingCount).toBe(1);
      await recorder.close();
      expect(recorder.pendingCount).toBe(0);
      expect(await lastUsedAt(store, apiKey.prefix)).toEqual(clock.now());
    });

    it('retries at shutdown when a write fails, and writes the mark once the store is back', async () => {
      const { clock, apiKey, recorder, warnings, errors } = await markedAtShutdown(
        'recorder-shutdown-retry',
        [100, 200, 400],
      );
      let firstFailure!: () => void;
      const failed = new Promise<void>((resolve) => (firstFailure = resolve));
      warnings.mockImplementation(() => firstFailure());
      let closing!: Promise<void>;
      await withTableAway(store, async () => {
        closing = recorder.close();
        await failed;
      });
      await closing;
      expect(await lastUsedAt(store, apiKey.prefix)).toEqual(clock.now());
      expect(String(warnings.mock.calls[0][0])).toMatch(
        /^Could not record last use of 1 API key\(s\) at shutdown; will retry in 100 ms: /,
      );
      expect(errors).not.toHaveBeenCalled();
    });

    it('gives the marks up after its shutdown attempts, and says they are lost', async () => {
      const { apiKey, recorder, warnings, errors } = await markedAtShutdown(
        'recorder-shutdown-lost',
        [10, 20],
      );
      await withTableAway(store, () => recorder.close());
      expect(warnings.mock.calls.map((call) => String(call[0]).split(':')[0])).toEqual([
        'Could not record last use of 1 API key(s) at shutdown; will retry in 10 ms',
        'Could not record last use of 1 API key(s) at shutdown; will retry in 20 ms',
      ]);
      expect(errors).toHaveBeenCalledTimes(1);
      expect(String(errors.mock.calls[0][0])).toMatch(
        /^Could not record last use of 1 API key\(s\) before shutdown; those lastUsedAt marks are lost: /,
      );
      expect(recorder.pendingCount).toBe(0);
      expect(await lastUsedAt(store, apiKey.prefix)).toBeNull();
    });
  });
});

describe('lastUsedAt written by the timer', () => {
  let store: KeyStore;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    // better-sqlite3 works without timers of its own, so only the recorder's timer is faked.
    store = await openKeyStore('sqlite');
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('flushes pending marks once an interval has passed since the first', async () => {
    const clock = new FakeClock();
    const service = store.service({ clock: clock.now, usageTracking: false });
    const { apiKey } = await service.create({ name: 'timer' });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const recorder = new ApiKeyUsageRecorder(store.dataSource.getRepository(ApiKey), INTERVAL);
    recorder.record(apiKey, clock.now());
    await vi.advanceTimersByTimeAsync(INTERVAL - 1);
    expect(recorder.pendingCount).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    // The timer took the marks; flush() now only waits for that write to finish.
    expect(recorder.pendingCount).toBe(0);
    await recorder.flush();
    expect(await lastUsedAt(store, apiKey.prefix)).toEqual(clock.now());
    await recorder.close();
  });
});

describe.each(ENGINES)('shutdown of a Nest app on %s', (engine: Engine) => {
  const directories: string[] = [];
  afterAll(() => {
    for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  });

  it('writes pending marks in beforeApplicationShutdown, before TypeORM closes the connection', async () => {
    const db = await createTestDatabase(engine);
    let options: DataSourceOptions = db.options;
    if (engine === 'sqlite') {
      // An in-memory database dies with the app; a file outlives it so the mark can be read back.
      const directory = mkdtempSync(join(tmpdir(), 'api-key-usage-'));
      directories.push(directory);
      options = { type: 'better-sqlite3', database: join(directory, 'keys.sqlite') };
    }
    const clock = new FakeClock();
    @Module({
      imports: [
        TypeOrmModule.forRoot({
          ...options,
          autoLoadEntities: true,
          synchronize: true,
        } as TypeOrmModuleOptions),
        ApiKeyModule.forRoot({
          clock: clock.now,
          hasher: FAST_BCRYPT,
          usageTracking: { interval: INTERVAL },
        }),
      ],
    })
    class UsageAppModule {}

    try {
      const moduleRef = await Test.createTestingModule({ imports: [UsageAppModule] }).compile();
      const app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      const service = app.get(ApiKeyService);
      const { apiKey, key } = await service.create({ name: 'shutdown' });
      expect(await service.isValid(key)).toBe(true);
      expect((await service.findOne(apiKey.id))!.lastUsedAt).toBeNull();
      await app.close();

      const reader = new DataSource({ ...options, entities: [ApiKey] } as DataSourceOptions);
      await reader.initialize();
      try {
        const stored = await reader.getRepository(ApiKey).findOneByOrFail({ id: apiKey.id });
        expect(stored.lastUsedAt).toEqual(clock.now());
      } finally {
        await reader.destroy();
      }
    } finally {
      await db.drop();
    }
  });
});
