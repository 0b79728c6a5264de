import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { FAST_BCRYPT } from '../../test/support/key-store.js';
import { eventually } from '../../test/support/revocation-sync-mode.js';
import { typeOrmFor } from '../../test/support/scenario-app.js';
import { ApiKey } from '../api-key.entity.js';
import { ApiKeyModule } from '../api-key.module.js';
import { ensureChangeTrigger } from './setup.js';
import { ApiKeyService } from '../api-key.service.js';
import { wireApiKeys } from '../api-key.wiring.js';

/** Whether `service`'s notify-mode cache is serving: its listener is up. */
const listening = (service: ApiKeyService) => (service as any).rowCache.ticket() >= 0;

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
      await eventually(() => listening(app.get(ApiKeyService)), 'the listener to be up');
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
    // Every connection the pool lends from now on, the listener's among them, and every one it
    // has closed.
    const pool = (dataSource.driver as any).master;
    const lent = new Set<unknown>();
    const ended = new Set<unknown>();
    pool.on('acquire', (client: unknown) => lent.add(client));
    pool.on('remove', (client: unknown) => ended.add(client));
    await ensureChangeTrigger(dataSource.getRepository(ApiKey), { revocationSync: 'notify' });
    const { service } = wireApiKeys({
      dataSource,
      options: { revocationSync: 'notify', hasher: FAST_BCRYPT },
    });
    await eventually(() => listening(service), 'the listener to be up');
    // pg's pool.end() waits for every client it lent: the listener's too.
    await within(dataSource.destroy(), 3_000, 'DataSource.destroy()');
    expect(listening(service)).toBe(false);
    // pg-pool reports a client removed as its connection ends, and the client tells its own
    // 'end' handlers on the next tick, before any check here can run: by then any outage the
    // listener would report about its connection has been reported.
    await eventually(
      () => lent.size > 0 && [...lent].every((client) => ended.has(client)),
      'every connection the pool lent to end',
    );
    // Not an outage to report, nor a reason to reconnect to a pool that has ended.
    expect(lostWarnings()).toEqual([]);
    await service.beforeApplicationShutdown();
  });
});
