/**
 * Rows 11 and 12 of revocation sync (issue 17), each on apps of its own, after the shared apps
 * of the other rows have stopped: the same-process rows (11a–11d), then per engine a pair of
 * instances for propagation (12a, 12b) and the channel outage (12c, 12d), then a pair whose B
 * is behind a proxy for the black-hole partition (12e, 12f).
 */
import { AppPool, dropDatabases } from '../apps/apps.js';
import { wanted } from '../harness/settings.js';
import { MARIADB, POSTGRES, startSyncPair, type SyncEngine } from './sync-pair.js';
import { measureOutage } from './sync-outage.js';
import { measureBlackHole } from './sync-black-hole.js';
import { measurePropagation } from './sync-propagation.js';
import type { SyncReport } from '../report/sync.js';
import { measureSameProcessRows, wantsSameProcessRows } from './sync-rows.js';

/** The pair rows per engine: propagation, outage, then the black hole (on a pair of its own). */
const PAIR_ROWS: Array<{
  engine: SyncEngine;
  propagation: string;
  outage: string;
  blackHole: string;
}> = [
  { engine: POSTGRES, propagation: '12a', outage: '12c', blackHole: '12e' },
  { engine: MARIADB, propagation: '12b', outage: '12d', blackHole: '12f' },
];

/** Whether any of rows 11 and 12 is wanted. */
export const wantsSyncRows = (): boolean =>
  wantsSameProcessRows() ||
  PAIR_ROWS.some((rows) => [rows.propagation, rows.outage, rows.blackHole].some(wanted));

/** Measures the wanted rows 11 and 12; stops their apps and drops their databases. */
export async function measureSync(): Promise<SyncReport> {
  const report: SyncReport = { sameProcess: [], propagation: [], outages: [], blackHoles: [] };
  const pool = new AppPool();
  try {
    report.sameProcess = await measureSameProcessRows(pool.boot);
    for (const { engine, propagation, outage, blackHole } of PAIR_ROWS) {
      if (wanted(blackHole))
        report.blackHoles.push(await measureBlackHole(pool.boot, engine, blackHole));
      if (!wanted(propagation) && !wanted(outage)) continue;
      const pair = await startSyncPair(pool.boot, engine);
      try {
        if (wanted(propagation))
          report.propagation.push(await measurePropagation(pair, propagation));
        if (wanted(outage)) report.outages.push(await measureOutage(pair, outage));
      } finally {
        await pair.close();
      }
    }
  } finally {
    await pool.stopAll();
    await dropDatabases();
  }
  return report;
}
