/**
 * The bench's rows: which app each boots and what its requests carry.
 *
 * 1 no guard, 1d a guard that checks nothing but answers late; 2 and 3 ApiKeyGuard with bcrypt
 * on SQLite and PostgreSQL (2m, 3m presenting many keys in turn); 4 the HMAC hasher; 5
 * passport-headerapikey; 6 a naive bcrypt.compare per request; 7a and 7b rows 2 and 3 with a
 * million keys in the table; 9a and 9b row 2 with ApiKeyThrottlerGuard after the key guard,
 * counters in memory and in Redis; L1, L2, L3, L5 rows 1, 2, 3, 5 one request at a time; 8a the
 * cold path of new keys, 8b to 8e row 2 under attack; `m` the memo's memory; 14a and 14b row 3
 * with a key that has an IP allow-list or credits, 14c and 14d rows 2 and 3 with usage analytics
 * off. Rows 10 to 12, revocation sync, are in `sync-rows.ts`, `sync-propagation.ts` and
 * `sync-outage.ts`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import bcrypt from 'bcrypt';
import { generateKey, parseKey } from '../../lib/keys/format.js';
import {
  createKeys,
  postgresDb,
  sqliteDb,
  withApp,
  type AppPool,
  type RunningApp,
} from '../apps/apps.js';
import type { AttackRow } from './attack.js';
import { apiKeyHeaders, rotating } from '../harness/load.js';
import { measureOnce, type Target } from '../harness/measure.js';
import type { BenchRow } from '../report/measurements.js';
import {
  STATIC_KEY_HEADER,
  type BenchDatabase,
  type BenchScenario,
  type BenchThrottle,
} from '../apps/scenario.js';
import {
  ATTACK_RATE,
  BASE_KEYS,
  LATENCY_CONNECTIONS,
  REDIS_URL,
  ROTATION_KEYS,
  SCALE_KEYS,
  integer,
  wanted,
} from '../harness/settings.js';

/** The throughput rows in the order the report lists them. */
export const ROW_ORDER = [
  ...['1', '1d', '2', '2m', '3', '3m', '4', '5', '6', '7a', '7b', '9a', '9b'],
  ...['10a', '10b', '10c', '14a', '14b', '14c', '14d'],
];

/** The throughput rows that are also measured one request at a time (as L1, L2, ...). */
const LATENCY_ROWS = ['1', '2', '3', '5'];

/** Rows 8b to 8e: the SQLite app of row 2 under attack. */
export const ATTACK_ROWS: AttackRow[] = [
  {
    id: '8b',
    label: `SQLite, ${ATTACK_RATE}/s wrong secrets for its prefix (one secret)`,
    freshSecrets: false,
    prefixOf: 'warm',
  },
  {
    id: '8c',
    label: `SQLite, ${ATTACK_RATE}/s wrong secrets for its prefix (new each time)`,
    freshSecrets: true,
    prefixOf: 'warm',
  },
  {
    id: '8d',
    label: `SQLite, ${ATTACK_RATE}/s wrong secrets for an unused key's prefix (new each time)`,
    freshSecrets: true,
    prefixOf: 'cold',
  },
  {
    id: '8e',
    label: `SQLite, 30/s wrong secrets over 10 unused keys' prefixes in turn (new each time)`,
    freshSecrets: true,
    prefixOf: 'cold',
    coldPrefixes: 10,
    rate: 30,
  },
];

/** Whether any of row 8a and the attack rows is wanted: all need row 2's app. */
export const wantsColdPathRows = (): boolean =>
  wanted('8a') || ATTACK_ROWS.some((attack) => wanted(attack.id));

/** The apps of the throughput rows, which stay up for the rows measured later on them. */
export interface ThroughputRows {
  targets: Target[];
  /** Row 2's app, which the cold-path and attack rows (8) reuse; booted for either. */
  sqlite?: RunningApp;
  /** Row 3's database and its key's prefix, for the bare round trips. */
  postgresForRoundTrips?: { options: Record<string, unknown>; prefix: string };
}

type Boot = AppPool['boot'];

/** An ApiKeyGuard app with bcrypt and `keys` keys in its table. */
export const bcryptGuarded = (db: BenchDatabase, keys: number) =>
  ({ guard: 'api-key', db, hasher: 'bcrypt', keys }) as const;

/** An ApiKeyGuard row presenting the key its app made at boot. */
export function keyRow(id: string, label: string, keys: number, app: RunningApp): Target {
  return { id, label, keys, app, headers: apiKeyHeaders(app.key!) };
}

/** Row `id` on an ApiKeyGuard app, and row `${id}m` presenting new keys in turn on the same app. */
async function oneKeyAndManyKeysRows(
  app: RunningApp,
  id: string,
  engine: string,
): Promise<Target[]> {
  const rotation = await createKeys(app, ROTATION_KEYS);
  return [
    keyRow(id, `ApiKeyGuard, bcrypt, ${engine}`, BASE_KEYS, app),
    {
      id: `${id}m`,
      label: `ApiKeyGuard, ${engine}, ${ROTATION_KEYS} keys in turn`,
      keys: BASE_KEYS + ROTATION_KEYS,
      app,
      setupRequest: rotating(rotation),
    },
  ];
}

/** Rows 1 and 1d, those wanted. */
async function unguardedRows(boot: Boot): Promise<Target[]> {
  const targets: Target[] = [];
  if (wanted('1'))
    targets.push({ id: '1', label: 'No guard', app: await boot({ guard: 'none' }, 'no guard') });
  if (wanted('1d'))
    targets.push({
      id: '1d',
      label: 'No check, answered two event-loop turns later',
      app: await boot({ guard: 'deferred' }, 'deferred guard'),
    });
  return targets;
}

/** Rows 3 and 3m, and what the bare round trips need of their database. */
async function postgresRows(
  boot: Boot,
): Promise<{ targets: Target[]; roundTrips: ThroughputRows['postgresForRoundTrips'] }> {
  const db = await postgresDb();
  const app = await boot(bcryptGuarded(db, BASE_KEYS), 'ApiKeyGuard on PostgreSQL');
  const roundTrips =
    db.engine === 'postgres' ? { options: db.options, prefix: parseKey(app.key, '')! } : undefined;
  return { targets: await oneKeyAndManyKeysRows(app, '3', 'PostgreSQL'), roundTrips };
}

/** Row 4. */
async function hmacRow(boot: Boot): Promise<Target> {
  const app = await boot(
    { guard: 'api-key', db: sqliteDb('hmac-1k'), hasher: 'hmac', keys: BASE_KEYS },
    'ApiKeyGuard with HMAC on SQLite',
  );
  return keyRow('4', 'ApiKeyGuard, HMAC-SHA-256, SQLite', BASE_KEYS, app);
}

/** Row 5. */
async function passportRow(boot: Boot): Promise<Target> {
  const key = randomBytes(24).toString('base64url');
  const app = await boot({ guard: 'passport', key }, 'passport-headerapikey');
  return {
    id: '5',
    label: 'passport-headerapikey, static key',
    app,
    headers: { [STATIC_KEY_HEADER]: key },
  };
}

/** `id` when `others` measure that row, for a row to alternate with it; else undefined (row 1). */
const measuredRow = (others: Target[], id: string): string | undefined =>
  others.some((t) => t.id === id) ? id : undefined;

/** Rows 7a and 7b, each alternating with its 1,000-key row when that is measured too. */
async function scaleRows(boot: Boot, others: Target[]): Promise<Target[]> {
  const pairedWith = (id: string) => measuredRow(others, id);
  const keys = integer(SCALE_KEYS);
  const sqlite = await boot(
    bcryptGuarded(sqliteDb('sqlite-scale'), SCALE_KEYS),
    `ApiKeyGuard on SQLite, ${keys} keys`,
  );
  const postgres = await boot(
    bcryptGuarded(await postgresDb(), SCALE_KEYS),
    `ApiKeyGuard on PostgreSQL, ${keys} keys`,
  );
  // The target compares each scale row with its 1,000-key row: alternate them, not each with row 1.
  return [
    {
      ...keyRow('7a', `ApiKeyGuard, bcrypt, SQLite, ${keys} keys`, SCALE_KEYS, sqlite),
      against: pairedWith('2'),
    },
    {
      ...keyRow('7b', `ApiKeyGuard, bcrypt, PostgreSQL, ${keys} keys`, SCALE_KEYS, postgres),
      against: pairedWith('3'),
    },
  ];
}

/** Rows 9a and 9b, those wanted: row 2's app with each key's requests counted, in memory or in Redis. */
async function throttledRows(boot: Boot): Promise<Target[]> {
  const throttled = async (id: string, counters: string, throttle: BenchThrottle) => {
    const label = `ApiKeyGuard + ApiKeyThrottlerGuard, ${counters}`;
    const app = await boot(
      { ...bcryptGuarded(sqliteDb(`throttled-${id}`), BASE_KEYS), throttle },
      `${label} on SQLite`,
    );
    return keyRow(id, `${label}, SQLite`, BASE_KEYS, app);
  };
  const targets: Target[] = [];
  if (wanted('9a'))
    targets.push(await throttled('9a', 'in-memory counters', { storage: 'memory' }));
  if (wanted('9b'))
    targets.push(
      await throttled('9b', 'Redis counters', {
        storage: 'redis',
        url: REDIS_URL,
        keyPrefix: `bench:${randomUUID()}:`,
      }),
    );
  return targets;
}

/** Credits row 14b's key starts with: more than any run spends, so every answer is a 200. */
const UNSPENDABLE_CREDITS = 100_000_000;

/**
 * Rows 14a to 14d, those wanted: what a key's policies (14a an IP allow-list, 14b credits, one
 * conditional UPDATE per request) and usage analytics (on by default; 14c and 14d turn them off)
 * cost. Each alternates with the row it varies (2 or 3) when that is measured too, as rows 7a, 7b do.
 */
async function policyAndAnalyticsRows(boot: Boot, others: Target[]): Promise<Target[]> {
  const variant = async (
    id: string,
    label: string,
    db: BenchDatabase,
    change: Partial<Extract<BenchScenario, { guard: 'api-key' }>>,
  ): Promise<Target> => {
    const app = await boot({ ...bcryptGuarded(db, BASE_KEYS), ...change }, label);
    return {
      ...keyRow(id, label, BASE_KEYS, app),
      against: measuredRow(others, db.engine === 'sqlite' ? '2' : '3'),
    };
  };
  const targets: Target[] = [];
  if (wanted('14a'))
    targets.push(
      await variant('14a', 'ApiKeyGuard, PostgreSQL, key allows 127.0.0.1/32', await postgresDb(), {
        keyPolicies: { allowedIps: ['127.0.0.1/32'] },
      }),
    );
  if (wanted('14b'))
    targets.push(
      await variant(
        '14b',
        'ApiKeyGuard, PostgreSQL, key spends a credit a request',
        await postgresDb(),
        {
          keyPolicies: { remaining: UNSPENDABLE_CREDITS },
        },
      ),
    );
  if (wanted('14c'))
    targets.push(
      await variant(
        '14c',
        'ApiKeyGuard, SQLite, usage analytics off',
        sqliteDb('sqlite-1k-no-analytics'),
        {
          usageAnalytics: false,
        },
      ),
    );
  if (wanted('14d'))
    targets.push(
      await variant('14d', 'ApiKeyGuard, PostgreSQL, usage analytics off', await postgresDb(), {
        usageAnalytics: false,
      }),
    );
  return targets;
}

/** Boots the apps of the wanted throughput rows (1 to 5, 7, 9, 14), in the order they are measured. */
export async function bootThroughputRows(boot: Boot): Promise<ThroughputRows> {
  const targets = await unguardedRows(boot);
  const sqlite =
    wanted('2') || wantsColdPathRows()
      ? await boot(bcryptGuarded(sqliteDb('sqlite-1k'), BASE_KEYS), 'ApiKeyGuard on SQLite')
      : undefined;
  if (sqlite && wanted('2')) targets.push(...(await oneKeyAndManyKeysRows(sqlite, '2', 'SQLite')));
  const postgres = wanted('3') ? await postgresRows(boot) : undefined;
  if (postgres) targets.push(...postgres.targets);
  if (wanted('4')) targets.push(await hmacRow(boot));
  if (wanted('5')) targets.push(await passportRow(boot));
  if (wanted('7')) targets.push(...(await scaleRows(boot, targets)));
  targets.push(...(await throttledRows(boot)));
  targets.push(...(await policyAndAnalyticsRows(boot, targets)));
  return { targets, sqlite, postgresForRoundTrips: postgres?.roundTrips };
}

/** Rows L1, L2, L3, L5: those of rows 1, 2, 3, 5 measured, driven one request at a time. */
export function latencyRows(targets: Target[]): Target[] {
  return targets
    .filter((t) => LATENCY_ROWS.includes(t.id))
    .map((t): Target => ({
      ...t,
      id: `L${t.id}`,
      label: `${t.label}, one request at a time`,
      connections: LATENCY_CONNECTIONS,
    }));
}

/** Row 6, on its own app (a naive guard at bcrypt's pace needs no comparison window by window). */
export async function measureNaiveBcryptRow(): Promise<BenchRow> {
  const key = generateKey().key;
  const hashedKey = await bcrypt.hash(key, 10);
  return withApp({ guard: 'naive-bcrypt', hashedKey }, 'naive', (app) =>
    measureOnce({
      id: '6',
      label: 'Naive bcrypt.compare per request (cost 10)',
      app,
      headers: { [STATIC_KEY_HEADER]: key },
    }),
  );
}
