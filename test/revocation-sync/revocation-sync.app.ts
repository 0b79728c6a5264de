import { Controller, Get, Module, UseGuards, type DynamicModule } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { expect } from 'vitest';
import { ApiKeyGuard, ApiKeyModule, ApiKeyService, RequireScopes } from '../../lib/index.js';
import { createTestDatabase, type Engine, type TestDatabase } from '../support/databases.js';
import { call, startApp, type AdapterFactory } from '../support/http.js';
import { eventually, notifiedCache, pollUntil } from '../support/revocation-sync-mode.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/** How long another instance may take to refuse a changed key: generous, the machine is shared. */
export const BOUND = 3_000;

/** A route for keys holding `write`, so a scope change shows in the status. */
@Controller('write')
@UseGuards(ApiKeyGuard)
export class WriteController {
  @Get()
  @RequireScopes('write')
  write() {
    return { ok: true };
  }
}

/** One instance of an app in notify mode on `database`; the first one creates the table. */
export function notifyModeApp(database: DataSourceOptions, first: boolean): DynamicModule {
  @Module({
    imports: [
      typeOrmFor(database, { synchronize: first }),
      ApiKeyModule.forRoot({ revocationSync: 'notify' }),
    ],
    controllers: [keyPrefixController('who'), WriteController],
  })
  class NotifyModeModule {}
  return { module: NotifyModeModule };
}

/** Polls `url` until it answers `status`; every status it answered, in order. */
export async function statusesUntil(url: string, key: string, status: number): Promise<number[]> {
  const seen: number[] = [];
  await pollUntil(async () => {
    seen.push((await call(url, { headers: { authorization: `Api-Key ${key}` } })).status);
    return seen.at(-1) === status;
  }, BOUND);
  return seen;
}

/** Polls `url` until it answers `status`; the status it ended on. */
export async function statusWithin(url: string, key: string, status: number): Promise<number> {
  return (await statusesUntil(url, key, status)).at(-1)!;
}

/** Two instances in notify mode on one new database, and a connection of the test's own. */
export interface NotifyPair {
  db: TestDatabase;
  sql: DataSource;
  apps: Array<{ app: any; url: string }>;
  /** The first instance's service. */
  service(): ApiKeyService;
  /** A key both instances have let in, so the second one has cached its row. */
  warmKey(scopes?: string[]): Promise<Awaited<ReturnType<ApiKeyService['create']>>>;
  /** Waits until every instance's change channel is up: its first poll or `LISTEN` succeeded. */
  channelsUp(): Promise<void>;
  /** Every instance's cache ticket now (`NotifiedRowCache.ticket()`), for `outageNoticed`. */
  tickets(): number[];
  /**
   * Waits until every instance's ticket differs from `before`: while nothing is notified only
   * an outage moves it (the channel went down, emptying the cache, and may be up again).
   */
  outageNoticed(before: number[]): Promise<void>;
  close(): Promise<void>;
}

/** A new database on `engine`; on SQLite a file, so that two instances can share it. */
async function sharedDatabase(engine: Engine): Promise<TestDatabase> {
  if (engine !== 'sqlite') return createTestDatabase(engine);
  const file = join(tmpdir(), `apikey-notify-${randomBytes(4).toString('hex')}.sqlite`);
  return {
    engine,
    options: { type: 'better-sqlite3', database: file },
    drop: () => rm(file, { force: true }),
  };
}

/** What a pair of notify-mode instances runs: the app, and what its keys are made with. */
export interface NotifyScenario {
  /** One instance's app on `database`; the first one creates the tables. */
  app(database: DataSourceOptions, first: boolean): DynamicModule;
  /** The entities of the test's own connection, for saves through TypeORM. */
  entities?: Function[];
  /** Fields every key `warmKey` makes is created with (an owner), made on the test's connection. */
  keyFields?(sql: DataSource): Promise<object>;
}

/** Boots two notify-mode instances of `adapter` on a new `engine` database. */
export async function startNotifyPair(
  engine: Engine,
  adapter: AdapterFactory,
  scenario: NotifyScenario = { app: notifyModeApp },
): Promise<NotifyPair> {
  const pair: NotifyPair = {
    db: await sharedDatabase(engine),
    sql: undefined as unknown as DataSource,
    apps: [],
    service: () => pair.apps[0].app.get(ApiKeyService) as ApiKeyService,
    async warmKey(scopes: string[] = []) {
      const fields = (await scenario.keyFields?.(pair.sql)) ?? {};
      const created = await pair.service().create({ name: 'synced', scopes, ...fields });
      for (const { url } of pair.apps) {
        const headers = { authorization: `Api-Key ${created.key}` };
        expect((await call(`${url}/who`, { headers })).status).toBe(200);
        expect((await call(`${url}/who`, { headers })).status).toBe(200);
      }
      return created;
    },
    async channelsUp() {
      await eventually(
        () => pair.tickets().every((ticket) => ticket >= 0),
        "every instance's change channel to be up",
      );
    },
    tickets: () => pair.apps.map(({ app }) => notifiedCache(app.get(ApiKeyService))!.ticket()),
    async outageNoticed(before) {
      await eventually(
        () => pair.tickets().every((ticket, i) => ticket !== before[i]),
        'every instance to notice the outage',
      );
    },
    async close() {
      for (const { app } of pair.apps) await app.close();
      await pair.sql?.destroy();
      await pair.db.drop();
    },
  };
  for (let i = 0; i < 2; i++)
    pair.apps.push(await startApp(scenario.app(pair.db.options, i === 0), adapter));
  const entities = scenario.entities ?? [];
  pair.sql = await new DataSource({
    ...pair.db.options,
    entities,
  } as DataSourceOptions).initialize();
  return pair;
}
