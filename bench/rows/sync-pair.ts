/**
 * Two instances in notify mode on one throwaway database (rows 12a–12d): A, which revokes, and
 * B, which is asked for the revoked keys; plus a connection of the bench's own to the database,
 * for the SQL no instance would run (revocations no notification follows, cutting the channel).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { parseKey } from '../../lib/keys/format.js';
import { LISTENER_APPLICATION_NAME } from '../../lib/change-feed/listener.js';
import { DEFAULT_POLL_INTERVAL } from '../../lib/options/resolve.js';
import { createKeys, mariadbDb, postgresDb, type AppPool, type RunningApp } from '../apps/apps.js';
import { statusOf } from '../harness/latency.js';
import { bcryptGuarded } from './rows.js';
import type { BenchDatabase } from '../apps/scenario.js';
import { BASE_KEYS } from '../harness/settings.js';

/** A database engine notify mode runs on, and how the bench makes a throwaway database of it. */
export interface SyncEngine {
  name: string;
  database: () => Promise<BenchDatabase>;
}

export const POSTGRES: SyncEngine = { name: 'PostgreSQL', database: postgresDb };
export const MARIADB: SyncEngine = { name: 'MariaDB', database: mariadbDb };

/** How long a channel may take to come up (listeners connected, first polls) before the row fails. */
const CHANNEL_TIMEOUT_MS = 10_000;

/** The two instances, the bench's own connection, and what differs between the engines. */
export interface SyncPair {
  engine: SyncEngine;
  a: RunningApp;
  b: RunningApp;
  sql: DataSource;
  /** Revokes the key of `prefix` so that no instance can hear of it: no notification, no counter bump. */
  revokeUnnotified(prefix: string): Promise<void>;
  /** Tells every instance the key of `prefix` changed, as the trigger would have. */
  announce(prefix: string): Promise<void>;
  /** Resolves once both instances' channels are up again (PostgreSQL: both listening). */
  channelsUp(): Promise<void>;
  close(): Promise<void>;
}

/** The prefix of a key the bench made. */
export const prefixOf = (key: string): string => parseKey(key, '')!;

/**
 * B's answer to `key`, which must be `status`.
 * @throws Error when it is another.
 */
export async function expectStatus(app: RunningApp, key: string, status: number): Promise<void> {
  const got = await statusOf(app.url, key);
  if (got !== status) throw new Error(`expected ${status} for a bench key, got ${got}`);
}

/** Has A make `count` keys, and has both instances let each in twice (the first runs bcrypt). */
export async function warmKeys(pair: SyncPair, count: number): Promise<string[]> {
  const keys = await createKeys(pair.a, count);
  for (let i = 0; i < keys.length; i += 10)
    await Promise.all(keys.slice(i, i + 10).map((key) => warmOnBoth(pair, key)));
  return keys;
}

/** Both instances let `key` in, B twice, so B holds its row (again). */
export async function warmOnBoth(pair: SyncPair, key: string): Promise<void> {
  await expectStatus(pair.a, key, 200);
  await expectStatus(pair.b, key, 200);
  await expectStatus(pair.b, key, 200);
}

/** The pids of the listening connections on the pair's PostgreSQL database. */
export async function listenerPids(sql: DataSource): Promise<number[]> {
  const rows: Array<{ pid: number }> = await sql.query(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
    [LISTENER_APPLICATION_NAME],
  );
  return rows.map((row) => row.pid);
}

/**
 * Waits until `ready()` holds, checking every 10 ms.
 * @throws Error naming `what` when it does not within CHANNEL_TIMEOUT_MS.
 */
export async function waitUntil(what: string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + CHANNEL_TIMEOUT_MS;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${CHANNEL_TIMEOUT_MS} ms`);
    await sleep(10);
  }
}

/** The engine-specific half of a pair. */
function engineOps(
  engine: SyncEngine,
  sql: DataSource,
): Pick<SyncPair, 'revokeUnnotified' | 'announce' | 'channelsUp'> {
  if (engine === POSTGRES)
    return {
      revokeUnnotified: (prefix) =>
        sql.transaction(async (manager) => {
          // Triggers off, as on a replica: the revoke sends no notification.
          await manager.query('SET LOCAL session_replication_role = replica');
          await manager.query('UPDATE api_keys SET revoked_at = now() WHERE prefix = $1', [prefix]);
        }),
      announce: async (prefix) => {
        await sql.query("SELECT pg_notify('api_keys_changes', $1)", [prefix]);
      },
      channelsUp: () =>
        waitUntil('both instances listening', async () => (await listenerPids(sql)).length >= 2),
    };
  return {
    revokeUnnotified: (prefix) =>
      sql.transaction(async (manager) => {
        // The trigger's bump, taken back in the same transaction: no poll can see a change.
        await manager.query('UPDATE api_keys SET revoked_at = now() WHERE prefix = ?', [prefix]);
        await manager.query('UPDATE api_keys_changes SET version = version - 1 WHERE id = 1');
      }),
    announce: async () => {
      await sql.query('UPDATE api_keys_changes SET version = version + 1 WHERE id = 1');
    },
    // The first successful polls, which let the instances serve from memory.
    channelsUp: () => sleep(3 * DEFAULT_POLL_INTERVAL),
  };
}

/**
 * Boots A (with BASE_KEYS keys) then B, both in notify mode, on a new database of `engine`;
 * B reaches it where `routeB` says (a proxy the row can cut), A directly.
 */
export async function startSyncPair(
  boot: AppPool['boot'],
  engine: SyncEngine,
  routeB: (db: BenchDatabase) => Promise<BenchDatabase> = async (db) => db,
): Promise<SyncPair> {
  const db = await engine.database();
  const scenario = { ...bcryptGuarded(db, BASE_KEYS), revocationSync: 'notify' as const };
  const a = await boot(scenario, `instance A, notify mode on ${engine.name}`);
  const b = await boot(
    { ...scenario, db: await routeB(db), keys: 1 },
    `instance B, notify mode on ${engine.name}`,
  );
  if (db.engine === 'sqlite') throw new Error('rows 12 run on PostgreSQL and MariaDB');
  const sql = await new DataSource(db.options as unknown as DataSourceOptions).initialize();
  const pair: SyncPair = {
    engine,
    a,
    b,
    sql,
    ...engineOps(engine, sql),
    close: async () => {
      await Promise.all([a.stop(), b.stop()]);
      await sql.destroy();
    },
  };
  await pair.channelsUp();
  return pair;
}

/**
 * The control of rows 12: a warm key revoked with no notification must still get 200 from B,
 * which shows B serves rows from memory (else the rows would time per-request reads); the
 * change is then announced, and B must refuse the key.
 * @returns whether B served the revoked key from memory
 */
export async function servesFromMemory(pair: SyncPair): Promise<boolean> {
  const [key] = await warmKeys(pair, 1);
  const prefix = prefixOf(key);
  await pair.revokeUnnotified(prefix);
  const served = (await statusOf(pair.b.url, key)) === 200;
  await pair.announce(prefix);
  await waitUntil('B refusing the announced key', async () => {
    return (await statusOf(pair.b.url, key)) === 401;
  });
  return served;
}

/** A light load on B while a row runs: one client sending a live key, 2 ms after each answer. */
export function lightLoad(app: RunningApp): {
  stop(): Promise<{ sent: number; statuses: Record<string, number> }>;
} {
  const statuses: Record<string, number> = {};
  let sent = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const status = await statusOf(app.url, app.key!).catch(() => 0);
      sent++;
      statuses[status || 'error'] = (statuses[status || 'error'] ?? 0) + 1;
      await sleep(2);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { sent, statuses };
    },
  };
}
