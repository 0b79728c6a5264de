/**
 * `npm run bench`: boots each scenario as a Nest 12 Express app in a child process, drives it
 * with autocannon from this process (10 connections, a warm-up that is thrown away, then
 * measured windows), and writes the dated report in `bench/results/` and its chart.
 *
 * Each throughput row is measured in short windows alternating with row 1's (1, X, 1, X, ... 1),
 * the row's windows adding up to BENCH_DURATION (`measure.ts`). The 1,000,000-key rows
 * alternate with their 1,000-key rows instead (7a with 2, 7b with 3), as the scale target
 * compares those. The rows are listed in `rows.ts`, the environment that tunes the run in
 * `settings.ts`; rows 10 to 12, revocation sync, in `sync.ts` and the files it names. Last come
 * the soak rows (`soak.ts`), each on an app of its own.
 *
 * Every child, temporary SQLite file and PostgreSQL database is removed on exit, on error,
 * on Ctrl-C and when the overall time limit (BENCH_TIMEOUT seconds) runs out.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  AppPool,
  cleanup,
  cleanupOnSignalsAndTimeout,
  dropDatabases,
  measureMemoMemory,
  sqliteDb,
  type RunningApp,
} from '../apps/apps.js';
import { underAttack } from '../rows/attack.js';
import { coldPath, postgresRoundTrips } from './latency.js';
import { measureAgainstBase, type Target } from './measure.js';
import {
  deferredRowNotes,
  failureNotes,
  methodNotes,
  soakNotes,
  windowNotes,
} from '../report/notes.js';
import {
  renderConsoleTable,
  renderMarkdown,
  renderSvg,
  type BenchReport,
} from '../report/report.js';
import { type BenchRow } from '../report/measurements.js';
import {
  ATTACK_ROWS,
  wantsColdPathRows,
  ROW_ORDER,
  bootThroughputRows,
  latencyRows,
  measureNaiveBcryptRow,
  type ThroughputRows,
} from '../rows/rows.js';
import { BENCH_ROUTE, type MemoMemoryReport } from '../apps/scenario.js';
import {
  COLD_SAMPLES,
  CONNECTIONS,
  DURATION,
  MEMO_KEYS,
  ROUND_TRIP_SECONDS,
  WARMUP,
  WINDOW,
  describeSettings,
  integer,
  freshResultStem,
  printTargets,
  wanted,
} from './settings.js';
import { measureSoaks, wantsSoakRows } from '../rows/soak.js';
import { measureSync, wantsSyncRows } from '../rows/sync.js';
import { syncNotes, type SyncReport } from '../report/sync.js';
import { separateAppSyncRows } from '../rows/sync-rows.js';
import type { SoakReport } from '../report/soak.js';
import { checkTargets } from '../report/targets.js';

cleanupOnSignalsAndTimeout();

/** Everything the run measured, gathered for the report. */
type Measurements = Pick<
  BenchReport,
  'latency' | 'roundTrip' | 'cold' | 'attacks' | 'memo' | 'soak' | 'sync' | 'notes'
> & { rows: Map<string, BenchRow> };

/** Rows 1 to 5 and 7, in windows alternating with row 1's (or their paired row's). */
async function measureThroughput(targets: Target[], into: Measurements): Promise<void> {
  const measured = await measureAgainstBase(targets, '1');
  for (const row of measured.rows) into.rows.set(row.id, row);
  into.notes.push(...windowNotes(into.rows, measured.windowRatios));
}

/** Rows L1, L2, L3, L5 on the throughput rows' apps, then the bare PostgreSQL round trips. */
async function measureLatency(
  { targets, postgresForRoundTrips }: ThroughputRows,
  into: Measurements,
): Promise<void> {
  const oneAtATime = latencyRows(targets);
  if (oneAtATime.length > 0) {
    console.log('  Latency, one request at a time:');
    into.latency = (await measureAgainstBase(oneAtATime, 'L1')).rows;
  }
  if (postgresForRoundTrips) {
    process.stdout.write(`  PostgreSQL round trips, one at a time, ${ROUND_TRIP_SECONDS} s ... `);
    const { options, prefix } = postgresForRoundTrips;
    into.roundTrip = await postgresRoundTrips(options, prefix, ROUND_TRIP_SECONDS);
    console.log(`p50 ${into.roundTrip.p50.toFixed(2)} ms, p99 ${into.roundTrip.p99.toFixed(2)} ms`);
  }
}

/** Row 8a, the cold path of new keys, and rows 8b to 8d, row 2's app under attack. */
async function measureColdPathAndAttacks(sqlite: RunningApp, into: Measurements): Promise<void> {
  if (wanted('8a')) {
    process.stdout.write(`  8a. cold path: ${COLD_SAMPLES} new keys ... `);
    into.cold = await coldPath(sqlite);
    console.log(
      `first request median ${into.cold.firstMs.median.toFixed(1)} ms, second ${into.cold.secondMs.median.toFixed(1)} ms`,
    );
  }
  for (const attack of ATTACK_ROWS.filter((a) => wanted(a.id)))
    into.attacks.push(await underAttack(sqlite, attack));
}

/** Every row measured on apps that stay up between rows; stops them and drops their databases. */
async function measureOnSharedApps(into: Measurements): Promise<void> {
  const pool = new AppPool();
  try {
    const throughput = await bootThroughputRows(pool.boot);
    throughput.targets.push(...(await separateAppSyncRows(pool.boot)));
    if (throughput.targets.length > 0) await measureThroughput(throughput.targets, into);
    if (wanted('l')) await measureLatency(throughput, into);
    if (throughput.sqlite && wantsColdPathRows())
      await measureColdPathAndAttacks(throughput.sqlite, into);
  } finally {
    await pool.stopAll();
    await dropDatabases();
  }
}

/** The memo's memory for BENCH_MEMO_KEYS keys, in a process of its own. */
async function measureMemo(): Promise<MemoMemoryReport> {
  process.stdout.write(`  memo memory for ${integer(MEMO_KEYS)} keys ... `);
  const memo = await measureMemoMemory(sqliteDb('memo'));
  console.log(
    `${((memo.servicePath.heapBytes + memo.servicePath.externalBytes) / 2 ** 20).toFixed(1)} MiB through the service`,
  );
  return memo;
}

/** Whether any soak row gave a wrong answer or lost a request. */
const soakFailed = (soak?: SoakReport): boolean =>
  soak?.rows.some((row) => row.tally.wrong > 0 || row.tally.lost > 0) ?? false;

/** Whether a revoked key got through where it never may: after B refused it, or while its channel was down. */
const syncFailed = (sync?: SyncReport): boolean =>
  (sync?.propagation.some((row) => row.staleAfterRefusal > 0 || row.staleAtEnd > 0) ?? false) ||
  (sync?.outages.some((row) => row.passes.length > 0) ?? false) ||
  (sync?.blackHoles.some((row) => row.staleAfterHealing > 0) ?? false);

/** The rows, attack and same-process rows included, whose figures are spoilt by failed requests. */
const failedRows = (report: Pick<BenchReport, 'rows' | 'attacks' | 'sync'>): BenchRow[] =>
  [
    ...report.rows,
    ...report.attacks.map((a) => a.row),
    ...(report.sync?.sameProcess ?? []).flatMap((row) => [row.open, row.guarded]),
  ].filter((r) => r.failures > 0);

/**
 * The report of the run, its notes completed.
 * @throws Error when row 1, the baseline of every ratio, was not measured.
 */
function assembleReport(
  measured: Measurements,
  run: { startedAt: Date; machine: string; loadAtStart: number },
): BenchReport {
  const { rows, notes } = measured;
  notes.push(...deferredRowNotes(rows));
  const ordered = ROW_ORDER.filter((id) => rows.has(id)).map((id) => rows.get(id)!);
  notes.push(...failureNotes(failedRows({ ...measured, rows: ordered })));
  notes.push(...soakNotes(measured.soak?.rows ?? []));
  notes.push(...syncNotes(measured.sync));
  notes.push(...methodNotes(run.loadAtStart, os.loadavg()[0]));
  if (!rows.has('1'))
    throw new Error(
      'Row 1 (no guard) is the baseline every ratio needs; include it in BENCH_ONLY.',
    );
  return {
    startedAt: run.startedAt.toISOString(),
    machine: run.machine,
    settings: describeSettings(),
    rows: ordered,
    cold: measured.cold,
    attacks: measured.attacks,
    memo: measured.memo,
    soak: measured.soak,
    sync: measured.sync,
    latency: measured.latency,
    roundTrip: measured.roundTrip,
    targets: checkTargets(
      rows,
      measured.latency,
      measured.attacks,
      measured.soak?.rows,
      measured.sync,
    ),
    notes,
  };
}

/**
 * Writes the run's report as `results/<date>.md` and its chart as `results/<date>.svg` (a second
 * run of the day gets `-2`, and so on: a dated result is never overwritten), and prints the
 * table, the targets and the first notes.
 */
function publish(report: BenchReport): void {
  const stem = freshResultStem(report.startedAt);
  writeFileSync(`${stem}.md`, renderMarkdown(report));
  writeFileSync(`${stem}.svg`, renderSvg(report));
  console.log(`\n${renderConsoleTable(report)}\n`);
  printTargets(report.targets);
  for (const note of report.notes.slice(0, 2)) console.log(note);
  console.log(
    `\nWrote ${path.relative(process.cwd(), `${stem}.md`)} and ${path.basename(stem)}.svg beside it.`,
  );
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = os.loadavg()[0];
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
  console.log(`nestjs-api-key bench: ${machine}; load average ${loadAtStart.toFixed(2)} at start.`);
  console.log(
    `Throughput rows: ${WARMUP} s warm-up each (discarded), then ${DURATION} s in windows of ${WINDOW} s alternating with row 1's, ${CONNECTIONS} connections, GET ${BENCH_ROUTE} on 127.0.0.1.\n`,
  );

  const measured: Measurements = { rows: new Map(), latency: [], attacks: [], notes: [] };
  await measureOnSharedApps(measured);
  if (wantsSyncRows()) measured.sync = await measureSync();
  if (wanted('6')) measured.rows.set('6', await measureNaiveBcryptRow());
  if (wanted('m')) measured.memo = await measureMemo();
  if (wantsSoakRows()) measured.soak = await measureSoaks();

  const report = assembleReport(measured, { startedAt, machine, loadAtStart });
  publish(report);
  if (failedRows(report).length > 0 || soakFailed(report.soak) || syncFailed(report.sync))
    process.exitCode = 1;
}

main()
  .catch((error: Error) => {
    console.error(`\nbench failed: ${error?.stack ?? error}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
