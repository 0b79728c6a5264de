/** The Notes section of the report: what a reader needs to weigh the figures. */
import { ratioOf, type BenchRow } from './measurements.js';
import { FULL_SOAK_SECONDS, SOAK_SECONDS } from '../harness/settings.js';
import type { SoakResult } from './soak.js';

/** Rows whose window-by-window ratios are listed in full. */
const ROWS_WITH_WINDOW_NOTES = ['2', '3', '7a', '7b', '14a', '14b', '14c', '14d'];
/** Rows also compared with row 1d, the guard that checks nothing but answers late. */
const ROWS_AGAINST_DEFERRED = ['2', '3', '4', '7a', '7b'];

/** Each listed row's ratios to its base, window by window. */
export function windowNotes(
  rows: Map<string, BenchRow>,
  windowRatios: Map<string, number[]>,
): string[] {
  const notes: string[] = [];
  for (const id of ROWS_WITH_WINDOW_NOTES) {
    const ratios = windowRatios.get(id);
    const against = rows.get(id)?.against?.id ?? '1';
    if (ratios?.length)
      notes.push(
        `Row ${id} against row ${against}, window by window: ${ratios.map((r) => r.toFixed(2)).join(', ')}.`,
      );
  }
  return notes;
}

/** What deferring the answer alone does (row 1d), and the guarded rows measured against it. */
export function deferredRowNotes(rows: Map<string, BenchRow>): string[] {
  const deferred = rows.get('1d');
  const open = rows.get('1');
  if (!deferred || !open) return [];
  const against = ROWS_AGAINST_DEFERRED.filter((id) => rows.has(id)).map(
    (id) => `row ${id} ${(ratioOf(rows.get(id)!, open) / ratioOf(deferred, open)).toFixed(2)}`,
  );
  if (against.length === 0) return [];
  return [
    `Row 1d checks nothing but answers two event-loop turns late, as the key lookup does, and serves ${ratioOf(deferred, open).toFixed(2)} of row 1: deferring the answer is itself faster here. Against row 1d instead of row 1 (ratio over its ratio): ${against.join(', ')}.`,
  ];
}

/** A warning for each row that had failed requests. */
export function failureNotes(failed: BenchRow[]): string[] {
  return failed.map(
    (row) =>
      `Row ${row.id} had ${row.failures} failed requests (non-2xx or socket errors): its figures are not valid.`,
  );
}

/** What the soak rows got wrong, and whether they ran as long as the target asks. */
export function soakNotes(soaks: SoakResult[]): string[] {
  const notes = soaks
    .filter((soak) => soak.wrongExamples.length > 0)
    .map(
      (soak) =>
        `Row ${soak.id} gave ${soak.tally.wrong} wrong answers, among them: ${soak.wrongExamples.join('; ')}.`,
    );
  if (soaks.length > 0 && SOAK_SECONDS < FULL_SOAK_SECONDS)
    notes.push(
      `The soak rows ran ${SOAK_SECONDS} s each (BENCH_SOAK_SECONDS), not the ${FULL_SOAK_SECONDS} s of a full run: a check of the harness, not a soak.`,
    );
  return notes;
}

/** The machine's load over the run, and how latency and CPU were taken. */
export function methodNotes(loadAtStart: number, loadAtEnd: number): string[] {
  return [
    `Load average ${loadAtStart.toFixed(2)} at the start, ${loadAtEnd.toFixed(2)} at the end. With 2 cores the app and autocannon take about one each; a figure well above 2 means something else was running.`,
    "Latency percentiles are of 2xx answers only, from autocannon's per-response timings at full precision (its own histogram rounds to whole milliseconds).",
    'App CPU µs/req is the user + system CPU time of the app process during the measured windows, divided by the answers it gave.',
  ];
}
