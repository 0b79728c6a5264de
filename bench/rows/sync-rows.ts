/**
 * The throughput rows of revocation sync (issue 17), both ways of measuring them.
 *
 * Separate apps, against row 1 like the other throughput rows: 10a PostgreSQL in notify mode
 * (row 3 is PostgreSQL with the default per-request read), 10b MariaDB default, 10c MariaDB
 * notify. Same process, the guarded route against the open route of one app: 11a PostgreSQL
 * default, 11b PostgreSQL notify, 11c MariaDB default, 11d MariaDB notify.
 */
import type { AppPool } from '../apps/apps.js';
import { measureAgainstBase, type Target } from '../harness/measure.js';
import { bcryptGuarded, keyRow } from './rows.js';
import { BENCH_ROUTE, OPEN_ROUTE, type BenchScenario } from '../apps/scenario.js';
import { BASE_KEYS, wanted } from '../harness/settings.js';
import { MARIADB, POSTGRES, type SyncEngine } from './sync-pair.js';
import type { SameProcessRow } from '../report/sync.js';

type Boot = AppPool['boot'];

/** One row: which engine, and whether notify mode is on. */
interface SyncRow {
  id: string;
  engine: SyncEngine;
  notify: boolean;
}

const SEPARATE_APP_ROWS: SyncRow[] = [
  { id: '10a', engine: POSTGRES, notify: true },
  { id: '10b', engine: MARIADB, notify: false },
  { id: '10c', engine: MARIADB, notify: true },
];

const SAME_PROCESS_ROWS: SyncRow[] = [
  { id: '11a', engine: POSTGRES, notify: false },
  { id: '11b', engine: POSTGRES, notify: true },
  { id: '11c', engine: MARIADB, notify: false },
  { id: '11d', engine: MARIADB, notify: true },
];

/** Whether any same-process row is wanted. */
export const wantsSameProcessRows = (): boolean => SAME_PROCESS_ROWS.some((row) => wanted(row.id));

const modeName = (notify: boolean): string =>
  notify ? "revocationSync: 'notify'" : 'read per request';

/** The app of a row: bcrypt, BASE_KEYS keys, a database of its own, notify mode when asked. */
async function syncScenario(row: SyncRow, openRoute: boolean): Promise<BenchScenario> {
  return {
    ...bcryptGuarded(await row.engine.database(), BASE_KEYS),
    ...(row.notify ? { revocationSync: 'notify' as const } : {}),
    openRoute,
  };
}

/** Rows 10a–10c, those wanted, to be measured against row 1 with the other throughput rows. */
export async function separateAppSyncRows(boot: Boot): Promise<Target[]> {
  const targets: Target[] = [];
  for (const row of SEPARATE_APP_ROWS.filter((r) => wanted(r.id))) {
    const label = `ApiKeyGuard, bcrypt, ${row.engine.name}, ${modeName(row.notify)}`;
    const app = await boot(await syncScenario(row, false), label);
    targets.push(keyRow(row.id, label, BASE_KEYS, app));
  }
  return targets;
}

/**
 * Rows 11a–11d, those wanted: each on an app of its own serving the guarded route and the open
 * one, measured in windows alternating between the two routes; the app stops after its row.
 */
export async function measureSameProcessRows(boot: Boot): Promise<SameProcessRow[]> {
  const measured: SameProcessRow[] = [];
  for (const row of SAME_PROCESS_ROWS.filter((r) => wanted(r.id))) {
    const label = `ApiKeyGuard, bcrypt, ${row.engine.name}, ${modeName(row.notify)}, same process`;
    const app = await boot(await syncScenario(row, true), label);
    const guarded = keyRow(row.id, label, BASE_KEYS, app);
    // The open route gets the same header, so the two routes differ by the guard alone.
    const open: Target = {
      ...guarded,
      id: `${row.id} open`,
      label: `open route of row ${row.id}'s app`,
      url: app.url.replace(BENCH_ROUTE, OPEN_ROUTE),
    };
    try {
      const { rows } = await measureAgainstBase([open, guarded], open.id);
      measured.push({ open: rows[0], guarded: rows[1] });
    } finally {
      await app.stop();
    }
  }
  return measured;
}
