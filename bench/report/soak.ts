/**
 * What the soak rows (`soak.ts`) measured, and their part of the dated report in `bench/results/`: answers by kind
 * of request, wrong and lost answers, and the app's memory from the start to the end.
 */
import type { MemoryUsage } from '../apps/scenario.js';

/** The kinds of request in the soak's mix. */
export const SOAK_KINDS = ['valid', 'unknown', 'revoked', 'expired', 'attack'] as const;
export type SoakKind = (typeof SOAK_KINDS)[number];

/**
 * How much the heap may grow, after forced collections, from the first reading to the last.
 * What legitimately grows over a soak is the memo's entries for the keys made during it (under
 * 1 KiB each, a few hundred keys) and code V8 compiles late; a leak of a few bytes per request
 * over a 10-minute run of a million or more requests passes it.
 */
export const HEAP_GROWTH_LIMIT = 5 * 2 ** 20;

/** One soak row: one engine's app under mixed traffic. */
export interface SoakResult {
  id: string;
  label: string;
  /** Seconds of traffic, warm-up included. */
  seconds: number;
  /** Seconds of traffic before the first memory reading. */
  warmupSeconds: number;
  answered: number;
  rps: number;
  tally: {
    /** Answers by status (`lost`: no answer) for each kind of request. */
    byKind: Record<SoakKind, Record<string, number>>;
    /** Answers that were not the status their key's state called for. */
    wrong: number;
    /** Requests that got no answer: socket errors and timeouts. */
    lost: number;
    /** Answers to requests in flight while their key was revoked or expired: either status is right. */
    atChange: number;
  };
  /** Keys created, revoked and expired while the traffic ran. */
  changes: { created: number; revoked: number; expired: number };
  wrongExamples: string[];
  /** Memory readings, seconds after the warm-up. */
  samples: Array<{ atSeconds: number; usage: MemoryUsage }>;
}

/** The soak rows with the paragraph that says how they were run. */
export interface SoakReport {
  method: string;
  rows: SoakResult[];
}

/** One figure at the first and the last reading, and its largest reading. */
export interface Span {
  start: number;
  end: number;
  max: number;
}

/** A figure of the app's memory over the readings of a soak row. */
export function memorySpan(result: SoakResult, figure: keyof Omit<MemoryUsage, 'afterGc'>): Span {
  const values = result.samples.map((sample) => sample.usage[figure]);
  return { start: values[0], end: values.at(-1)!, max: Math.max(...values) };
}

const integer = (value: number): string => Math.round(value).toLocaleString('en-US');
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
const signedMib = (bytes: number): string => `${bytes >= 0 ? '+' : ''}${mib(bytes)}`;

/** "start → end (max)" in MiB. */
export const spanText = ({ start, end, max }: Span): string =>
  `${mib(start)} → ${mib(end)} MiB (max ${mib(max)}, ${signedMib(end - start)})`;

function answersLine(result: SoakResult): string {
  const { tally, changes } = result;
  return `| ${result.id} | ${result.label} | ${integer(result.seconds)} | ${integer(result.answered)} | ${integer(result.rps)} | ${integer(tally.wrong)} | ${integer(tally.lost)} | ${integer(tally.atChange)} | ${changes.created} / ${changes.revoked} / ${changes.expired} |`;
}

function kindsLine(result: SoakResult): string {
  const cells = SOAK_KINDS.map((kind) =>
    Object.entries(result.tally.byKind[kind])
      .map(([status, count]) => `${status}: ${integer(count)}`)
      .join(', '),
  );
  return `| ${result.id} | ${cells.join(' | ')} |`;
}

function memoryLine(result: SoakResult): string {
  const readings = result.samples.map((sample) => mib(sample.usage.heapUsed)).join(', ');
  const afterGc = result.samples.every((sample) => sample.usage.afterGc) ? 'yes' : '**no**';
  return `| ${result.id} | ${spanText(memorySpan(result, 'heapUsed'))} | ${spanText(memorySpan(result, 'external'))} | ${spanText(memorySpan(result, 'rss'))} | ${readings} | ${afterGc} |`;
}

/** The Soak section of the report, when the soak rows ran. */
export function soakSection(soak: SoakReport | undefined): string[] {
  if (!soak || soak.rows.length === 0) return [];
  return [
    '## Soak',
    '',
    soak.method,
    '',
    '| # | Scenario | Seconds, warm-up included | Answers | req/s | Wrong | Lost | In flight at a change | Keys created / revoked / expired |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...soak.rows.map(answersLine),
    '',
    `Answers by kind of request (${SOAK_KINDS.join(', ')}):`,
    '',
    `| # | ${SOAK_KINDS.join(' | ')} |`,
    `| --- |${' --- |'.repeat(SOAK_KINDS.length)}`,
    ...soak.rows.map(kindsLine),
    '',
    'Memory of the app, first reading (after the warm-up) → last (at the end of the traffic):',
    '',
    '| # | Heap used | External (Buffers) | RSS | Heap used at each reading, MiB | After forced GC |',
    '| --- | --- | --- | --- | --- | --- |',
    ...soak.rows.map(memoryLine),
    '',
  ];
}
