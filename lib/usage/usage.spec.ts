import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { DataSource, type DataSourceOptions, type Logger as TypeOrmLogger } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../test/support/clock.js';
import { ENGINES, createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { FAST_BCRYPT } from '../../test/support/key-store.js';
import { ApiKey } from '../api-key.entity.js';
import { ApiKeyValidationError } from '../api-key.errors.js';
import type { ApiKeyOptions } from '../api-key.options.js';
import type { ApiKeyService } from '../api-key.service.js';
import { wireApiKeys } from '../api-key.wiring.js';
import { CreateApiKeyUsage1799020800000 } from './migration.js';
import { USAGE_TABLE } from './sql.js';
import { HOUR_MS } from './tally.js';

/** Keeps the statements that write usage counts. */
class UsageStatements implements TypeOrmLogger {
  readonly writes: string[] = [];
  logQuery(query: string): void {
    if (query.startsWith(`INSERT INTO ${USAGE_TABLE}`)) this.writes.push(query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

/** One "instance": its own data source (own connection pool) and service over a shared database. */
interface Instance {
  dataSource: DataSource;
  service: ApiKeyService<ApiKey>;
  statements: UsageStatements;
}

const START = new Date('2031-03-14T15:09:26.535Z');

describe.each(ENGINES)('usage analytics on %s', (engine) => {
  let db: TestDatabase;
  let options: DataSourceOptions;
  let sqliteDir: string | undefined;
  const instances: Instance[] = [];
  const clock = new FakeClock(START);

  async function instance(keyOptions: ApiKeyOptions<ApiKey> = {}): Promise<Instance> {
    const statements = new UsageStatements();
    const dataSource = await new DataSource({
      ...options,
      entities: [ApiKey],
      migrations: [CreateApiKeyUsage1799020800000],
      logger: statements,
      logging: true,
    } as DataSourceOptions).initialize();
    const { service } = wireApiKeys({
      dataSource,
      options: { hasher: FAST_BCRYPT, clock: clock.now, ...keyOptions },
    });
    const made = { dataSource, service, statements };
    instances.push(made);
    return made;
  }

  beforeAll(async () => {
    db = await createTestDatabase(engine);
    // Two instances must share one SQLite database: a file, not :memory:.
    if (engine === 'sqlite') {
      sqliteDir = mkdtempSync(join(tmpdir(), 'usage-'));
      options = { type: 'better-sqlite3', database: join(sqliteDir, 'usage.db') };
    } else options = db.options;
    const setup = await new DataSource({
      ...options,
      entities: [ApiKey],
      synchronize: true,
      migrations: [CreateApiKeyUsage1799020800000],
    } as DataSourceOptions).initialize();
    await setup.runMigrations();
    await setup.destroy();
  });

  afterEach(async () => {
    for (const { service, dataSource } of instances.splice(0)) {
      await service.beforeApplicationShutdown();
      await dataSource.destroy();
    }
    vi.restoreAllMocks();
    clock.set(START);
  });

  afterAll(async () => {
    await db.drop();
    if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true });
  });

  it('writes every count of a flush in one statement, and reads them back per hour and day', async () => {
    const a = await instance();
    const { apiKey } = await a.service.create({ name: 'counted' });
    const others = await Promise.all([1, 2, 3].map((i) => a.service.create({ name: `k${i}` })));
    for (let i = 0; i < 5; i++) a.service.recordOutcome('ok', apiKey.id);
    a.service.recordOutcome('forbidden', apiKey.id);
    a.service.recordOutcome('unauthorized', apiKey.id);
    a.service.recordOutcome('unauthorized', null);
    for (const other of others) a.service.recordOutcome('ok', other.apiKey.id);
    await a.service.flushUsage();
    expect(a.statements.writes).toHaveLength(1);

    const span = { since: new Date(START.getTime() - 2 * HOUR_MS), until: START };
    const byHour = await a.service.usage({ key: apiKey.prefix, ...span, granularity: 'hour' });
    expect(byHour.key).toEqual({ id: apiKey.id, prefix: apiKey.prefix, name: 'counted' });
    expect(byHour.totals).toEqual({
      ok: 5,
      unauthorized: 1,
      forbidden: 1,
      usage_exceeded: 0,
      rate_limited: 0,
      unknown: 0,
    });
    expect(byHour.total).toBe(7);
    expect(byHour.series).toHaveLength(3);
    expect(byHour.series.at(-1)!.total).toBe(7);
    expect(byHour.series.at(-1)!.start).toEqual(
      new Date(Math.floor(START.getTime() / HOUR_MS) * HOUR_MS),
    );

    const registration = await a.service.usage({ ...span, granularity: 'day' });
    expect(registration.key).toBeNull();
    expect(registration.series).toHaveLength(1);
    expect(registration.totals.ok).toBe(8);
    expect(registration.totals.unknown).toBe(1);

    const busiest = await a.service.busiestKeys({ ...span, limit: 2 });
    expect(busiest.map((entry) => [entry.apiKey?.name, entry.total])).toEqual([
      ['counted', 7],
      [expect.stringMatching(/^k\d$/), 1],
    ]);
  });

  it('adds up the counts of two instances exactly, and writes pending counts at shutdown', async () => {
    const a = await instance();
    const b = await instance();
    const { apiKey } = await a.service.create({ name: 'shared' });
    for (let i = 0; i < 300; i++) a.service.recordOutcome('ok', apiKey.id);
    for (let i = 0; i < 200; i++) b.service.recordOutcome('ok', apiKey.id);
    b.service.recordOutcome('rate_limited', apiKey.id);
    await a.service.flushUsage();
    // b's counts are written by its shutdown alone, as an app stopped with SIGTERM writes them.
    await b.service.beforeApplicationShutdown();
    expect(b.statements.writes).toHaveLength(1);
    const report = await a.service.usage({
      key: apiKey.id,
      since: START,
      until: new Date(START.getTime() + 1),
      granularity: 'day',
    });
    expect(report.totals.ok).toBe(500);
    expect(report.totals.rate_limited).toBe(1);
  });

  it('files counts under the hour they were made in', async () => {
    const a = await instance();
    const { apiKey } = await a.service.create({ name: 'hours' });
    a.service.recordOutcome('ok', apiKey.id);
    clock.advance(HOUR_MS);
    // The writer's timer fires at each hour boundary; with a fake clock, the test flushes there.
    await a.service.flushUsage();
    a.service.recordOutcome('ok', apiKey.id);
    a.service.recordOutcome('ok', apiKey.id);
    await a.service.flushUsage();
    const report = await a.service.usage({
      key: apiKey.id,
      since: new Date(clock.now().getTime() - HOUR_MS),
      until: clock.now(),
      granularity: 'hour',
    });
    expect(report.series.map((point) => point.total)).toEqual([1, 2]);
  });

  it('keeps counts through an outage up to the bound, then drops the rest with one line giving how many', async () => {
    const a = await instance({ usageAnalytics: { maxPendingKeys: 3 } });
    const keys = await Promise.all([1, 2, 3, 4, 5].map((i) => a.service.create({ name: `o${i}` })));
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    await a.dataSource.query(`ALTER TABLE ${USAGE_TABLE} RENAME TO ${USAGE_TABLE}_away`);
    try {
      for (const { apiKey } of keys.slice(0, 3)) a.service.recordOutcome('ok', apiKey.id);
      await a.service.flushUsage(); // fails: 3 rows kept
      for (const { apiKey } of keys.slice(3)) {
        a.service.recordOutcome('ok', apiKey.id);
        a.service.recordOutcome('ok', apiKey.id);
      }
      a.service.recordOutcome('ok', keys[0].apiKey.id); // merges into a kept row
      await a.service.flushUsage(); // fails: the bound keeps 3 rows, 4 requests of 2 keys dropped
    } finally {
      await a.dataSource.query(`ALTER TABLE ${USAGE_TABLE}_away RENAME TO ${USAGE_TABLE}`);
    }
    expect(warn).toHaveBeenCalledWith(
      expect.stringMatching(/Could not write API key usage counts/),
    );
    const drops = error.mock.calls.map(([line]) => String(line)).filter((l) => /Dropped/.test(l));
    expect(drops).toEqual([expect.stringContaining('usage counts of 4 API key request(s)')]);
    await a.service.flushUsage();
    const busiest = await a.service.busiestKeys({
      since: START,
      until: new Date(START.getTime() + 1),
      limit: 1000,
    });
    const ours = busiest.filter((entry) => keys.some(({ apiKey }) => apiKey.id === entry.keyId));
    expect(ours.map((entry) => entry.total).sort()).toEqual([1, 1, 2]);
  });

  it('deletes counts older than retentionDays when it writes', async () => {
    const a = await instance({ usageAnalytics: { retentionDays: 2 } });
    const { apiKey } = await a.service.create({ name: 'old' });
    const hour = Math.floor(START.getTime() / HOUR_MS);
    const insert = (h: number) =>
      a.dataSource.query(
        `INSERT INTO ${USAGE_TABLE} (registration, key_id, hour, outcome, requests) VALUES ('default', '${apiKey.id}', ${h}, 'ok', 9)`,
      );
    await insert(hour - 49);
    await insert(hour - 47);
    a.service.recordOutcome('ok', apiKey.id);
    await a.service.flushUsage();
    const rows: { hour: number | string }[] = await a.dataSource.query(
      `SELECT hour FROM ${USAGE_TABLE} WHERE key_id = '${apiKey.id}' ORDER BY hour`,
    );
    expect(rows.map((row) => Number(row.hour))).toEqual([hour - 47, hour]);
  });

  it('counts nothing with usageAnalytics: false, and usage() says why', async () => {
    const a = await instance({ usageAnalytics: false });
    const { apiKey } = await a.service.create({ name: 'off' });
    a.service.recordOutcome('ok', apiKey.id);
    await a.service.flushUsage();
    expect(a.statements.writes).toHaveLength(0);
    await expect(
      a.service.usage({ since: START, until: clock.now(), granularity: 'day' }),
    ).rejects.toThrow(ApiKeyValidationError);
  });
});
