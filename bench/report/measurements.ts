/**
 * What the bench measured, in the shapes every row, scenario and report shares.
 */

/** One throughput measurement. */
export interface BenchRow {
  id: string;
  label: string;
  keys?: number;
  /** 2xx responses per second over the measured window (warm-up excluded). */
  rps: number;
  /**
   * For rows measured in windows alternating with row 1's: the median over this row's windows of
   * its req/s divided by the mean of the row-1 windows either side. For rows measured against
   * another row (`against`), that row's ratio times this one's against it. Other rows are
   * compared by their req/s alone.
   */
  ratio?: number;
  /**
   * For rows measured in windows alternating with a row other than row 1 (the 1,000,000-key rows
   * with their 1,000-key rows): which row, and the median window ratio against it.
   */
  against?: { id: string; ratio: number };
  /** Likewise paired: the median over this row's windows of its p99 minus that of the row-1 windows either side, in ms. */
  p99Added?: number;
  /** Latency percentiles of 2xx responses, in milliseconds. */
  p50: number;
  p99: number;
  /** CPU time (user + system) the app process spent per answered request in the measured window, in µs. */
  cpuUs?: number;
  /** Responses that were not 2xx, plus socket errors and timeouts. Must be 0 for a valid row. */
  failures: number;
}

/** A row's ratio to the unguarded route (row 1): paired window by window where it was measured so. */
export const ratioOf = (row: BenchRow, base: BenchRow): number => row.ratio ?? row.rps / base.rps;

/** A row's p99 minus the unguarded route's, in ms: paired window by window where it was measured so. */
export const p99Added = (row: BenchRow, base: BenchRow): number =>
  row.p99Added ?? row.p99 - base.p99;

/** Timings of bare database round trips made one at a time, in ms. */
export interface RoundTripResult {
  seconds: number;
  count: number;
  p50: number;
  p99: number;
}

/** First-request timings for new keys. */
export interface ColdPathResult {
  samples: number;
  firstMs: { median: number; max: number };
  secondMs: { median: number; max: number };
}

/** A warm run with an attacker hitting a known prefix with wrong secrets. */
export interface AttackResult {
  row: BenchRow;
  attacker: { rate: number; sent: number; statuses: Record<string, number> };
  /** New keys' first requests, one at a time, halfway through the attack. */
  newKeys: { samples: number; ok: number; medianMs: number; maxMs: number };
}

/** Whether a target holds, with the figures it was judged on. */
export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean;
}
