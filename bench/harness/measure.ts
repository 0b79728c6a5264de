/**
 * How a throughput row is measured: in short windows alternating with a base row's (1, X, 1,
 * X, ... 1), the row's windows adding up to BENCH_DURATION. A row's req/s is its median window,
 * and its ratio to the base the median over its windows of the window's req/s against the base
 * windows on either side: the machine's drift falls on both sides of each comparison, and a
 * burst of other work spoils a window or two rather than the figure.
 */
import type autocannon from 'autocannon';
import { appCpu, type RunningApp } from '../apps/apps.js';
import { answeredCount, load, rowFromLoad, type LoadResult } from './load.js';
import type { BenchRow } from '../report/measurements.js';
import { DURATION, WARMUP, WINDOW } from './settings.js';
import { median, percentile, pooled } from './stats.js';

/** A throughput row: which app, and what its requests carry. */
export interface Target {
  id: string;
  label: string;
  keys?: number;
  app: RunningApp;
  /** The URL to drive, when not the app's guarded route (the same-process rows' open route). */
  url?: string;
  headers?: Record<string, string>;
  setupRequest?: autocannon.Request['setupRequest'];
  /** Connections to drive it with; default `CONNECTIONS`. */
  connections?: number;
  /** The row to alternate with and compare against, when not row 1 (measured earlier in the same call). */
  against?: string;
}

/** What a row's windows add up to. */
interface Tally {
  ok: number;
  seconds: number;
  failures: number;
  answered: number;
  cpuMicros: number;
  latencies: Float64Array[];
  /** req/s of each measured window. */
  windowRps: number[];
  /** Each window's req/s over the mean of the base-row windows either side of it. */
  windowRatios: number[];
  /** Each window's p99 minus the mean p99 of the base-row windows either side of it, in ms. */
  windowP99Added: number[];
}

const newTally = (): Tally => ({
  ok: 0,
  seconds: 0,
  failures: 0,
  answered: 0,
  cpuMicros: 0,
  latencies: [],
  windowRps: [],
  windowRatios: [],
  windowP99Added: [],
});

/** Measured windows per row. */
const windowCount = (): number => Math.max(1, Math.round(DURATION / WINDOW));

/** Drives a target's app as its row says (headers, rotating keys, connections) for `duration` seconds. */
function loadTarget(target: Target, duration: number): Promise<LoadResult> {
  return load({
    url: target.url ?? target.app.url,
    headers: target.headers,
    setupRequest: target.setupRequest,
    connections: target.connections,
    duration,
  });
}

/** Load that is thrown away, so the app is up to speed when its windows start. */
const warm = (target: Target) => loadTarget(target, WARMUP);

/** One measured window of a target, added to its tally; returns the window's req/s and p99. */
async function measureWindow(target: Target, tally: Tally): Promise<{ rps: number; p99: number }> {
  const before = await appCpu(target.app);
  const result = await loadTarget(target, WINDOW);
  tally.cpuMicros += (await appCpu(target.app)) - before;
  tally.ok += result.ok;
  tally.seconds += result.seconds;
  tally.failures += result.failures;
  tally.answered += answeredCount(result);
  tally.latencies.push(result.latencies);
  const measured = { rps: result.ok / result.seconds, p99: percentile(result.latencies, 99) };
  tally.windowRps.push(measured.rps);
  return measured;
}

/** The row every target without `against` alternates with: the one named, unless it is alone. */
function defaultBaseOf(targets: Target[], baseId?: string): Target | undefined {
  const named = baseId === undefined ? undefined : targets.find((t) => t.id === baseId);
  // Alone, the base is simply measured in windows like any row without one.
  return named && targets.some((t) => t !== named && !t.against) ? named : undefined;
}

/**
 * Which row a target alternates with: its `against`, else the default base (none for the base itself).
 * @throws Error when `against` names a row this run does not measure.
 */
function baseResolver(
  targets: Target[],
  defaultBase: Target | undefined,
): (target: Target) => Target | undefined {
  const byId = new Map(targets.map((t) => [t.id, t]));
  return (target) => {
    if (target.against === undefined) return target === defaultBase ? undefined : defaultBase;
    const base = byId.get(target.against);
    if (!base)
      throw new Error(
        `Row ${target.id} is to be compared with row ${target.against}, which this run does not measure.`,
      );
    return base;
  };
}

/** Measures `target` in windows, each followed by one of `base` when given and compared with its neighbours. */
async function alternateWindows(
  target: Target,
  tally: Tally,
  base?: { target: Target; tally: Tally },
): Promise<void> {
  let before = base ? await measureWindow(base.target, base.tally) : undefined;
  for (let i = 0; i < windowCount(); i++) {
    const own = await measureWindow(target, tally);
    if (base && before) {
      const after = await measureWindow(base.target, base.tally);
      tally.windowRatios.push(own.rps / ((before.rps + after.rps) / 2));
      tally.windowP99Added.push(own.p99 - (before.p99 + after.p99) / 2);
      before = after;
    }
  }
}

/** One target's sequence: warm-ups, then its windows alternating with its base's. */
async function measureSequence(
  target: Target,
  base: Target | undefined,
  defaultBase: Target | undefined,
  tallies: Map<string, Tally>,
): Promise<void> {
  const tally = tallies.get(target.id)!;
  const ownBase = base !== defaultBase ? base : undefined;
  // A row named by `against` has its figures from its own sequence; only its failures count from this one.
  const baseTally = base === undefined ? undefined : ownBase ? newTally() : tallies.get(base.id)!;
  process.stdout.write(
    `  ${target.id}. ${target.label}: warm-up ${WARMUP} s, ${windowCount()} windows of ${WINDOW} s ${base ? `alternating with row ${base.id} ` : ''}... `,
  );
  if (ownBase) await warm(ownBase);
  await warm(target);
  await alternateWindows(target, tally, base && { target: base, tally: baseTally! });
  if (ownBase) tallies.get(ownBase.id)!.failures += baseTally!.failures;
  console.log(
    `${Math.round(median(tally.windowRps))} req/s${base ? `, ${median(tally.windowRatios).toFixed(3)} of row ${base.id}` : ''}`,
  );
}

/** A target's report row from its tally; compared with the default base directly, or with its own. */
function rowFromTally(
  target: Target,
  tally: Tally,
  base: Target | undefined,
  defaultBase: Target | undefined,
): BenchRow {
  const latencies = pooled(tally.latencies);
  const row: BenchRow = {
    id: target.id,
    label: target.label,
    keys: target.keys,
    // The median window, not the pooled mean: a burst of other work on the machine spoils a window or two, not the figure.
    rps: median(tally.windowRps),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    failures: tally.failures,
    cpuUs: tally.cpuMicros / Math.max(1, tally.answered),
  };
  if (base && base === defaultBase) {
    row.ratio = median(tally.windowRatios);
    row.p99Added = median(tally.windowP99Added);
  } else if (base) {
    row.against = { id: base.id, ratio: median(tally.windowRatios) };
  }
  return row;
}

/** A row measured against another has a ratio to row 1 only through that row's. */
function chainRatiosThroughBases(rows: BenchRow[]): void {
  const measured = new Map(rows.map((row) => [row.id, row]));
  for (const row of rows) {
    const via = row.against && measured.get(row.against.id);
    if (via?.ratio !== undefined) row.ratio = via.ratio * row.against!.ratio;
  }
}

/**
 * Measures each target against a base row in alternating windows: after a warm-up of the
 * target, base, target, base, ... base, `WINDOW` seconds each, until the target has had
 * `DURATION` seconds. Each target window is compared with the base windows either side of it,
 * taken seconds apart, and the row's ratio and p99 added are the medians of those comparisons.
 * The machine's speed drifts by tens of percent over seconds (other tenants of the host); a
 * comparison across a few seconds sees the same machine on both sides, and neither app sits
 * idle long enough to go cold (after half a minute idle an app needs a second or two to get
 * back to speed). The base is row 1 for most rows; a target naming `against` is compared with
 * that row instead. Without a base, each target is simply measured in windows. Row 1's figures
 * pool its windows from every sequence; a row that is another's base (`against`) keeps the
 * figures of its own sequence, and only its failures count from the other.
 * @throws Error when a target's `against` names a row not among `targets`.
 */
export async function measureAgainstBase(
  targets: Target[],
  baseId?: string,
): Promise<{ rows: BenchRow[]; windowRatios: Map<string, number[]> }> {
  const defaultBase = defaultBaseOf(targets, baseId);
  const baseOf = baseResolver(targets, defaultBase);
  const tallies = new Map<string, Tally>(targets.map((t) => [t.id, newTally()]));
  if (defaultBase) await warm(defaultBase);
  for (const target of targets) {
    const base = baseOf(target);
    if (target !== defaultBase) await measureSequence(target, base, defaultBase, tallies);
  }
  const rows = targets.map((target) =>
    rowFromTally(target, tallies.get(target.id)!, baseOf(target), defaultBase),
  );
  chainRatiosThroughBases(rows);
  return {
    rows,
    windowRatios: new Map([...tallies].map(([id, tally]) => [id, tally.windowRatios])),
  };
}

/** Warm-up (discarded), then one measured window: for rows that need no comparison with row 1. */
export async function measureOnce(target: Target): Promise<BenchRow> {
  process.stdout.write(
    `  ${target.id}. ${target.label}: warm-up ${WARMUP} s, measuring ${DURATION} s ... `,
  );
  await warm(target);
  const before = await appCpu(target.app);
  const result = await loadTarget(target, DURATION);
  const row = rowFromLoad(target.id, target.label, result, target.keys);
  row.cpuUs = ((await appCpu(target.app)) - before) / Math.max(1, answeredCount(result));
  console.log(
    `${Math.round(row.rps)} req/s, p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms`,
  );
  return row;
}
