import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/support/databases.js';
import { FAST_BCRYPT } from '../test/support/key-store.js';
import { typeOrmFor } from '../test/support/scenario-app.js';
import { ApiKeyModule } from './api-key.module.js';
import { ApiKeyService } from './api-key.service.js';

/** Whether `service`'s notify-mode cache is serving: its listener is up. */
const listening = (service: ApiKeyService) => (service as any).rowCache.ticket() >= 0;

async function until(condition: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 5_000; !condition(); await sleep(10))
    if (Date.now() > deadline) throw new Error(`${what}: not within 5 s`);
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
});
