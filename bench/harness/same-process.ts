/**
 * `npm run bench -- --same-process`: row 13 alone, the same-process row set of issue 26
 * (`rows/same-process.ts`), every engine and mode in turn (`BENCH_ONLY=13a,13d` picks some).
 * Writes `bench/results/<date>-same-process.md` (never overwriting: `-2`, `-3` follow).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AppPool, cleanup, cleanupOnSignalsAndTimeout, dropDatabases } from '../apps/apps.js';
import {
  renderSameProcessMarkdown,
  sameProcessTargets,
  type SameProcessReport,
} from '../report/same-process.js';
import { measureSetup, SAME_PROCESS_SETUPS, type SameProcessResult } from '../rows/same-process.js';
import { freshResultStem, printTargets, wanted } from './settings.js';

cleanupOnSignalsAndTimeout();

/** The commit measured, with `+` when the worktree has changes. */
function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib'], { encoding: 'utf8' });
    return dirty.trim() === '' ? head : `${head}+ (lib/ changed)`;
  } catch {
    return 'unknown';
  }
}

/** Writes the report beside the other dated results; returns its path. */
function publish(report: SameProcessReport): string {
  const file = `${freshResultStem(report.startedAt, 'same-process')}.md`;
  writeFileSync(file, renderSameProcessMarkdown(report));
  return file;
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg()[0];
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`;
  console.log(`Same-process row set: ${machine}; load average ${loadAtStart.toFixed(2)} at start.`);
  const results: SameProcessResult[] = [];
  const pool = new AppPool();
  try {
    for (const setup of SAME_PROCESS_SETUPS.filter((s) => wanted(s.id)))
      results.push(await measureSetup(setup, pool.boot));
  } finally {
    await pool.stopAll();
    await dropDatabases();
  }
  const report: SameProcessReport = {
    startedAt,
    machine,
    loadAtStart,
    loadAtEnd: os.loadavg()[0],
    commit: commit(),
    results,
  };
  const file = publish(report);
  printTargets(sameProcessTargets(results));
  console.log(`\nWrote ${path.relative(process.cwd(), file)}.`);
  const failed = results.some((r) => Object.values(r.routes).some((t) => t.failures > 0));
  if (failed) {
    console.error('Some requests failed: the figures are not valid.');
    process.exitCode = 1;
  }
}

main()
  .catch((error: Error) => {
    console.error(`\nbench failed: ${error?.stack ?? error}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
