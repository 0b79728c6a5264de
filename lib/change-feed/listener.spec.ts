import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { FAST_BCRYPT } from '../../test/support/key-store.js';
import { typeOrmFor } from '../../test/support/scenario-app.js';
import { ApiKey } from '../api-key.entity.js';
import { ApiKeyModule } from '../api-key.module.js';
import { ensureChangeTrigger } from './setup.js';
import { ApiKeyService } from '../api-key.service.js';
import { wireApiKeys } from '../api-key.wiring.js';

/** Whether `service`'s notify-mode cache is serving: its listener is up. */
const listening = (service: ApiKeyService) => (service as any).rowCache.ticket() >= 0;

async function until(condition: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 5_000; !condition(); await sleep(10))
    if (Date.now() > deadline) throw new Error(`${what}: not within 5 s`);
}

/** `promise`, or a rejection naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The PostgreSQL listener of `revocationSync: 'notify'`: when it starts, and when it lets go. */
describe("revocationSync: 'notify' listener on postgres", () => {
  let db: TestDatabase;
  let warn: { mock: { calls: unknown[][] } };
  const lostWarnings = () =>
    warn.mock.calls.filter(([message]) => /Lost the API key change listener/.test(String(message)));

  beforeEach(async () => {
    db = await createTestDatabase('postgres');
    warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    vi.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await db.drop();
  });

  it('starts listening only after the boot check made the change trigger, so it never reports itself lost', async () => {
    @Module({
      imports: [
        typeOrmFor(db.options),
        ApiKeyModule.forRoot({ revocationSync: 'notify', hasher: FAST_BCRYPT }),
      ],
    })
    class NotifyModule {}
    // The table is new: the trigger does not exist until the boot check makes it.
    const moduleRef = await Test.createTestingModule({ imports: [NotifyModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      await until(() => listening(app.get(ApiKeyService)), 'the listener to be up');
      expect(lostWarnings()).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it('gives its connection back when the data source is destroyed before the service is closed', async () => {
    const dataSource = await new DataSource({
      ...db.options,
      entities: [ApiKey],
      synchronize: true,
    } as any).initialize();
    await ensureChangeTrigger(dataSource.getRepository(ApiKey), { revocationSync: 'notify' });
    const { service } = wireApiKeys({
      dataSource,
      options: { revocationSync: 'notify', hasher: FAST_BCRYPT },
    });
    await until(() => listening(service), 'the listener to be up');
    // pg's pool.end() waits for every client it lent: the listener's too.
    await within(dataSource.destroy(), 3_000, 'DataSource.destroy()');
    expect(listening(service)).toBe(false);
    // Not an outage to report, nor a reason to reconnect to a pool that has ended.
    await sleep(300);
    expect(lostWarnings()).toEqual([]);
    await service.beforeApplicationShutdown();
  });
});
