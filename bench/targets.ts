/** The bench's verdict lines: each target, the figures it was judged on, and whether it holds. */
import { p99Added, ratioOf, type AttackResult, type BenchRow, type TargetCheck } from './report.js';
import { BASE_KEYS, SCALE_KEYS, integer } from './settings.js';
import { HEAP_GROWTH_LIMIT, memorySpan, spanText, type SoakResult } from './soak-report.js';

/** p99 added latency under 1 ms: `row` against `base`, paired window by window where it was measured so. */
function p99AddedCheck(row: BenchRow, base: BenchRow, condition: string): TargetCheck {
  const added = p99Added(row, base);
  return {
    target: `p99 added latency < 1 ms${condition} (row ${row.id})`,
    measured: `${added.toFixed(2)} ms (median window; pooled ${row.p99.toFixed(2)} vs ${base.p99.toFixed(2)})`,
    met: added < 1,
  };
}

/** What ApiKeyGuard adds to a request sent alone (rows L2, L3 against L1). */
function oneAtATimeChecks(latency: BenchRow[]): TargetCheck[] {
  const open = latency.find((row) => row.id === 'L1');
  if (!open) return [];
  return latency
    .filter((row) => row.id === 'L2' || row.id === 'L3')
    .map((row) => p99AddedCheck(row, open, ', one request at a time'));
}

/** Warm throughput and latency at full load of rows 2 and 3, and how they compare with row 5. */
function fullLoadChecks(rows: Map<string, BenchRow>, open: BenchRow): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const ratio = (row: BenchRow) => ratioOf(row, open);
  const sqlite = rows.get('2');
  const postgres = rows.get('3');
  const passport = rows.get('5');
  if (sqlite)
    checks.push({
      target: 'Warm throughput on SQLite ≥ 0.90 of no guard (row 2)',
      measured: ratio(sqlite).toFixed(3),
      met: ratio(sqlite) >= 0.9,
    });
  if (postgres)
    checks.push({
      target: 'Warm throughput on PostgreSQL ≥ 0.85 of no guard (row 3)',
      measured: ratio(postgres).toFixed(3),
      met: ratio(postgres) >= 0.85,
    });
  const guarded = [sqlite, postgres].filter((row) => row !== undefined);
  for (const row of guarded) checks.push(p99AddedCheck(row, open, ' at full load'));
  // Two guarded rows are compared through their paired ratios to row 1, not their req/s medians,
  // which were taken in different moments of a machine whose speed drifts.
  if (!passport) return checks;
  for (const row of guarded) {
    checks.push({
      target: `Ahead of passport-headerapikey (row ${row.id} vs 5)`,
      measured: `${ratio(row).toFixed(3)} vs ${ratio(passport).toFixed(3)} of no guard (${Math.round(row.rps)} vs ${Math.round(passport.rps)} req/s)`,
      met: ratio(row) > ratio(passport),
    });
  }
  return checks;
}

/** Each million-key row within 10% of its 1,000-key row (7a against 2, 7b against 3). */
function scaleChecks(rows: Map<string, BenchRow>, open: BenchRow): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const [big, small] of [
    ['7a', '2'],
    ['7b', '3'],
  ]) {
    const b = rows.get(big);
    const s = rows.get(small);
    if (!b || !s) continue;
    // Paired window by window with the 1,000-key row where it was measured so; else through row 1.
    const change =
      (b.against?.id === small ? b.against.ratio : ratioOf(b, open) / ratioOf(s, open)) - 1;
    checks.push({
      target: `${integer(SCALE_KEYS)} keys within 10% of ${integer(BASE_KEYS)} (row ${big} vs ${small})`,
      measured: `${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)}%`,
      met: Math.abs(change) <= 0.1,
    });
  }
  return checks;
}

/** New keys' first requests while row 8e spreads wrong secrets over 10 known prefixes. */
function spreadAttackChecks(attacks: AttackResult[]): TargetCheck[] {
  return attacks
    .filter((attack) => attack.row.id === '8e')
    .map(({ newKeys }) => ({
      target:
        "New keys' first requests all 200, median < 1 s, under 30/s wrong secrets for 10 known prefixes (row 8e)",
      measured: `${newKeys.ok}/${newKeys.samples} answered 200, median ${newKeys.medianMs.toFixed(0)} ms, max ${newKeys.maxMs.toFixed(0)} ms`,
      met: newKeys.ok === newKeys.samples && newKeys.medianMs < 1000,
    }));
}

/** Each soak row: every answer right and none lost, and the heap after forced GC flat. */
function soakChecks(soaks: SoakResult[]): TargetCheck[] {
  return soaks.flatMap((soak) => {
    const heap = memorySpan(soak, 'heapUsed');
    const afterGc = soak.samples.every((sample) => sample.usage.afterGc);
    return [
      {
        target: `0 wrong answers and none lost over ${integer(soak.seconds)} s of mixed traffic (row ${soak.id})`,
        measured: `${soak.tally.wrong} wrong, ${soak.tally.lost} lost of ${integer(soak.answered + soak.tally.lost)} requests`,
        met: soak.tally.wrong === 0 && soak.tally.lost === 0,
      },
      {
        target: `Memory flat: heap after forced GC grows < ${HEAP_GROWTH_LIMIT / 2 ** 20} MiB from warm-up to end (row ${soak.id})`,
        measured: `heap ${spanText(heap)}${afterGc ? '' : ', not after forced GC'}; RSS ${spanText(memorySpan(soak, 'rss'))}`,
        met: afterGc && heap.end - heap.start < HEAP_GROWTH_LIMIT,
      },
    ];
  });
}

/** Every target the measured rows can judge, in the report's order. */
export function checkTargets(
  rows: Map<string, BenchRow>,
  latency: BenchRow[],
  attacks: AttackResult[] = [],
  soaks: SoakResult[] = [],
): TargetCheck[] {
  const open = rows.get('1');
  return [
    ...oneAtATimeChecks(latency),
    ...(open ? [...fullLoadChecks(rows, open), ...scaleChecks(rows, open)] : []),
    ...spreadAttackChecks(attacks),
    ...soakChecks(soaks),
  ];
}
