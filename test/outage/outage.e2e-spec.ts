import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ApiKeyService } from '../../lib/index.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { expectUnauthorized, expectUnavailable } from '../support/denials.js';
import { ADAPTERS, startApp } from '../support/http.js';
import { untilChannelLost } from '../support/revocation-sync-mode.js';
import {
  expectRevocationApplies,
  expectServedAgain,
  keysBeforeFailure,
  type KeysAroundFailure,
} from '../support/store-failure.js';
import { OutageAppModule } from './outage.app.js';

/**
 * A real outage of the key store: the app logs in as its own database account, and the test,
 * as an administrator, kills that account's connections and refuses it new ones, then lets it
 * back in. Nothing in the app is mocked or told.
 */
interface Outage {
  /** Connection options for the app: its own account, connect attempts bounded in time. */
  appOptions: DataSourceOptions;
  begin(): Promise<void>;
  end(): Promise<void>;
  dispose(): Promise<void>;
}

async function postgresOutage(db: TestDatabase, account: string): Promise<Outage> {
  const admin = new DataSource(db.options);
  await admin.initialize();
  const database = (db.options as { database: string }).database;
  await admin.query(`CREATE ROLE ${account} LOGIN`);
  // As the database's owner the account may create its tables in the public schema.
  await admin.query(`ALTER DATABASE ${database} OWNER TO ${account}`);
  return {
    appOptions: {
      ...db.options,
      username: account,
      connectTimeoutMS: 3_000,
      extra: { max: 4 },
    } as DataSourceOptions,
    async begin() {
      await admin.query(`ALTER ROLE ${account} NOLOGIN`);
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1',
        [account],
      );
    },
    async end() {
      await admin.query(`ALTER ROLE ${account} LOGIN`);
    },
    async dispose() {
      await admin.destroy();
      await db.drop();
      const cleanup = new DataSource({
        ...db.options,
        database: process.env.PGDATABASE ?? 'test',
      } as DataSourceOptions);
      await cleanup.initialize();
      await cleanup.query(`DROP ROLE IF EXISTS ${account}`);
      await cleanup.destroy();
    },
  };
}

async function mariadbOutage(db: TestDatabase, account: string): Promise<Outage> {
  const admin = new DataSource(db.options);
  await admin.initialize();
  const database = (db.options as { database: string }).database;
  await admin.query(`CREATE USER '${account}'@'%'`);
  await admin.query(`GRANT ALL PRIVILEGES ON \`${database}\`.* TO '${account}'@'%'`);
  return {
    appOptions: {
      ...db.options,
      username: account,
      connectTimeout: 3_000,
      extra: { connectionLimit: 4 },
    } as DataSourceOptions,
    async begin() {
      // Locking the account refuses new logins; killing ends the ones the app's pool holds.
      await admin.query(`ALTER USER '${account}'@'%' ACCOUNT LOCK`);
      const sessions: Array<{ ID: number | string }> = await admin.query(
        'SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?',
        [account],
      );
      for (const { ID } of sessions) await admin.query(`KILL CONNECTION ${Number(ID)}`);
    },
    async end() {
      await admin.query(`ALTER USER '${account}'@'%' ACCOUNT UNLOCK`);
    },
    async dispose() {
      await admin.query(`DROP USER IF EXISTS '${account}'@'%'`);
      await admin.destroy();
      await db.drop();
    },
  };
}

describe.each(['postgres', 'mariadb'] as const)('key store outage on %s', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    let outage: Outage;
    let app: INestApplication;
    let keys: KeysAroundFailure;

    beforeAll(async () => {
      const db = await createTestDatabase(engine);
      const account = `apikey_app_${randomBytes(4).toString('hex')}`;
      outage =
        engine === 'postgres'
          ? await postgresOutage(db, account)
          : await mariadbOutage(db, account);
      let url: string;
      ({ app, url } = await startApp(OutageAppModule.register(outage.appOptions), adapter));
      // Verified once, so the only thing left to consult on the next request is the store.
      keys = await keysBeforeFailure(app, url);
    });
    afterAll(async () => {
      // Whatever happened, let the account back in so the app can close cleanly.
      await outage?.end();
      await app?.close();
      await outage?.dispose();
    });

    it('answers 503 while the store is unreachable, never 200 and never 500, then recovers without a restart', async () => {
      const { used, unused, unknown, get } = keys;
      await outage.begin();
      try {
        // Notify mode serves the cached row of `used` until its channel loses the connection.
        await untilChannelLost(app.get(ApiKeyService));
        // A key that passed a moment ago is not let in on memory: revocation might have happened.
        for (const key of [used.key, used.key, unused.key, unknown])
          expectUnavailable(await get(key));
        // Requests refused before any lookup need no store and keep their 401.
        expectUnauthorized(await get());
        expectUnauthorized(await get('not-a-key'));
      } finally {
        await outage.end();
      }

      await expectServedAgain(keys);
    });

    it('sees changes made after the recovery, such as a revocation', async () => {
      await expectRevocationApplies(app, keys);
    });
  });
});
