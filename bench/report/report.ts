/**
 * Turns measured rows into the Markdown table of the dated report in `bench/results/` and the SVG bar chart of
 * its chart. No numbers are made here: everything comes from the measurements.
 */
import type { MemoMemoryReport } from '../apps/scenario.js';
import { soakSection, type SoakReport } from './soak.js';
import { syncSection, type SyncReport } from './sync.js';
import {
  ratioOf,
  p99Added,
  type AttackResult,
  type BenchRow,
  type ColdPathResult,
  type RoundTripResult,
  type TargetCheck,
} from './measurements.js';

export interface BenchReport {
  startedAt: string;
  machine: string;
  settings: string;
  rows: BenchRow[];
  /** The same apps driven one request at a time, for latency without queueing. */
  latency: BenchRow[];
  /** Bare PostgreSQL round trips, one at a time, with no app in between. */
  roundTrip?: RoundTripResult;
  cold?: ColdPathResult;
  attacks: AttackResult[];
  memo?: MemoMemoryReport;
  soak?: SoakReport;
  /** Rows 11 and 12, revocation sync (rows 10 are in `rows`). */
  sync?: SyncReport;
  targets: TargetCheck[];
  notes: string[];
}

const fixed = (value: number, digits: number): string =>
  Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
const integer = (value: number): string => Math.round(value).toLocaleString('en-US');
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function rowLine(row: BenchRow, base: BenchRow): string {
  const keys = row.keys === undefined ? '–' : integer(row.keys);
  const cpu = row.cpuUs === undefined ? '–' : integer(row.cpuUs);
  return `| ${row.id} | ${row.label} | ${keys} | ${integer(row.rps)} | ${fixed(row.p50, 2)} | ${fixed(row.p99, 2)} | ${fixed(ratioOf(row, base), 2)} | ${cpu} |`;
}

/** The opening lines and the throughput table, attack rows included. */
function throughputSection(report: BenchReport): string[] {
  const base = report.rows[0];
  return [
    '# Benchmark results',
    '',
    `Run ${report.startedAt} on ${report.machine}.`,
    '',
    report.settings,
    '',
    '| # | Scenario | Keys in table | req/s | p50 ms | p99 ms | vs no guard | app CPU µs/req |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...report.rows.map((row) => rowLine(row, base)),
    ...report.attacks.map((attack) => rowLine(attack.row, base)),
    '',
  ];
}

/** The one-request-at-a-time table, when those rows were measured. */
function latencySection(report: BenchReport): string[] {
  if (report.latency.length === 0) return [];
  const open = report.latency.find((row) => row.id === 'L1');
  const line = (row: BenchRow) => {
    const added = open ? fixed(p99Added(row, open), 2) : 'n/a';
    return `| ${row.id} | ${row.label} | ${integer(row.rps)} | ${fixed(row.p50, 2)} | ${fixed(row.p99, 2)} | ${row.id === 'L1' ? '–' : added} | ${row.cpuUs === undefined ? '–' : integer(row.cpuUs)} |`;
  };
  return [
    "Latency with one connection sending one request at a time, so nothing queues (measured the same way, alternating with row L1; p99 added, what the guard adds to a request, is the median over the row's windows of its p99 minus that of the L1 windows either side):",
    '',
    '| # | Scenario | req/s | p50 ms | p99 ms | p99 added ms | app CPU µs/req |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...report.latency.map(line),
    '',
  ];
}

/** The bare PostgreSQL round trips, when measured. */
function roundTripSection({ roundTrip: trip }: BenchReport): string[] {
  if (!trip) return [];
  return [
    `One PostgreSQL round trip with no app in between (\`pg\` running a named prepared SELECT of the bench key's row by prefix, one at a time, ${integer(trip.count)} of them over ${trip.seconds} s): p50 ${fixed(trip.p50, 2)} ms, p99 ${fixed(trip.p99, 2)} ms. Row L3 reads the row on every request, so this is the floor under what it can add.`,
    '',
  ];
}

/** What the attackers sent and got, and how new keys fared meanwhile. */
function attackSection({ attacks }: BenchReport): string[] {
  if (attacks.length === 0) return [];
  const line = ({ row, attacker, newKeys: probe }: AttackResult) => {
    const statuses = Object.entries(attacker.statuses)
      .map(([status, count]) => `${status}: ${integer(count)}`)
      .join(', ');
    return `| ${row.id} | ${fixed(attacker.rate, 1)}/s | ${integer(attacker.sent)} | ${statuses} | ${fixed(probe.medianMs, 1)} | ${fixed(probe.maxMs, 1)} | ${probe.ok}/${probe.samples} |`;
  };
  return [
    `Attack traffic (rows ${attacks.map((a) => a.row.id).join(', ')}), sent alongside the warm key; halfway through, new keys make their first request one at a time:`,
    '',
    '| Row | Attacker rate | Attack requests | Their answers | New keys: first request median ms | max ms | answered 200 |',
    '| --- | ---: | ---: | --- | ---: | ---: | ---: |',
    ...attacks.map(line),
    '',
  ];
}

/** The cold path of new keys (row 8a), when measured. */
function coldPathSection({ cold }: BenchReport): string[] {
  if (!cold) return [];
  return [
    `Cold path (8a), ${cold.samples} new keys, one at a time, each request timed from send to full response:`,
    '',
    '| Request | median ms | max ms |',
    '| --- | ---: | ---: |',
    `| first request of a new key (row read + bcrypt compare + memo) | ${fixed(cold.firstMs.median, 1)} | ${fixed(cold.firstMs.max, 1)} |`,
    `| second request of the same key (row read + memo hit) | ${fixed(cold.secondMs.median, 1)} | ${fixed(cold.secondMs.max, 1)} |`,
    '',
  ];
}

/** The memo's memory, when measured. */
function memoSection({ memo }: BenchReport): string[] {
  if (!memo) return [];
  const perEntry = (bytes: number) => `${integer(bytes / memo.entries)} B`;
  const perKey = (memo.servicePath.heapBytes + memo.servicePath.externalBytes) / memo.entries;
  return [
    `Memo memory for ${integer(memo.entries)} distinct live keys (heap and external memory after forced GC, before and after filling):`,
    '',
    '| How filled | Heap | External (Buffers) | Per entry |',
    '| --- | ---: | ---: | ---: |',
    `| \`ApiKeyService.verify()\` of ${integer(memo.servicePath.memoSize)} seeded keys (HMAC hasher, 76-char hashes) | ${mib(memo.servicePath.heapBytes)} | ${mib(memo.servicePath.externalBytes)} | ${perEntry(memo.servicePath.heapBytes + memo.servicePath.externalBytes)} |`,
    `| \`LruMap\` filled directly with the memo's entry shape (60-char bcrypt hashes) | ${mib(memo.entryShape.heapBytes)} | ${mib(memo.entryShape.externalBytes)} | ${perEntry(memo.entryShape.heapBytes + memo.entryShape.externalBytes)} |`,
    '',
    `At the default cap (\`verificationMemo.maxEntries\` 10,000, least recently used evicted) the memo holds at most about ${mib(perKey * 10_000)}.`,
    '',
  ];
}

/** The Targets table and the Notes list. */
function verdictSection({ targets, notes }: BenchReport): string[] {
  const lines = [
    '## Targets',
    '',
    '| Target | Measured | Met |',
    '| --- | --- | --- |',
    ...targets.map(
      (check) => `| ${check.target} | ${check.measured} | ${check.met ? 'yes' : '**no**'} |`,
    ),
    '',
  ];
  if (notes.length > 0) lines.push('## Notes', '', ...notes.map((note) => `- ${note}`), '');
  return lines;
}

/** The full Markdown report. */
export function renderMarkdown(report: BenchReport): string {
  return [
    ...throughputSection(report),
    ...latencySection(report),
    ...roundTripSection(report),
    ...attackSection(report),
    ...coldPathSection(report),
    ...memoSection(report),
    ...soakSection(report.soak),
    ...syncSection(report.sync),
    ...verdictSection(report),
  ].join('\n');
}

const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A horizontal bar chart of req/s per row, with the ratio to the unguarded route beside each
 * bar, as a self-contained SVG (no fonts or scripts fetched).
 */
export function renderSvg(report: BenchReport): string {
  const base = report.rows[0];
  const rows = [...report.rows, ...report.attacks.map((a) => a.row)];
  const width = 900;
  const labelWidth = 360;
  const barArea = width - labelWidth - 150;
  const rowHeight = 30;
  const top = 56;
  const height = top + rows.length * rowHeight + 40;
  const max = Math.max(...rows.map((r) => r.rps));
  const colour = (row: BenchRow) =>
    row.id === '1'
      ? '#7f8c8d'
      : row.id.startsWith('5') || row.id.startsWith('6')
        ? '#c0392b'
        : '#2e86c1';
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(
    `<text x="16" y="24" font-size="16" font-weight="bold">Requests per second, Nest 12 + Express, autocannon 10 connections (higher is better)</text>`,
  );
  parts.push(
    `<text x="16" y="42" fill="#555">${escapeXml(report.machine)}; ratio to the unguarded route at the right</text>`,
  );
  rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    const barWidth = Math.max(1, (row.rps / max) * barArea);
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 19}" text-anchor="end">${escapeXml(`${row.id}. ${row.label}`)}</text>`,
    );
    parts.push(
      `<rect x="${labelWidth}" y="${y + 5}" width="${barWidth.toFixed(1)}" height="${rowHeight - 10}" fill="${colour(row)}"/>`,
    );
    parts.push(
      `<text x="${labelWidth + barWidth + 6}" y="${y + 19}">${integer(row.rps)} req/s · ${ratioOf(row, base).toFixed(2)}×</text>`,
    );
  });
  const axisY = top + rows.length * rowHeight + 4;
  parts.push(
    `<line x1="${labelWidth}" y1="${top}" x2="${labelWidth}" y2="${axisY}" stroke="#333"/>`,
  );
  parts.push(
    `<text x="16" y="${axisY + 24}" fill="#555">Grey: no guard. Blue: ApiKeyGuard. Red: passport-headerapikey and a naive bcrypt guard.</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** The main table for the terminal. */
export function renderConsoleTable(report: BenchReport): string {
  const base = report.rows[0];
  const all = [...report.rows, ...report.attacks.map((a) => a.row), ...report.latency];
  const header = ['#', 'Scenario', 'Keys', 'req/s', 'p50 ms', 'p99 ms', 'ratio', 'CPU µs/req'];
  const body = all.map((r) => [
    r.id,
    r.label,
    r.keys === undefined ? '-' : integer(r.keys),
    integer(r.rps),
    fixed(r.p50, 2),
    fixed(r.p99, 2),
    r.id.startsWith('L') ? '-' : fixed(ratioOf(r, base), 2),
    r.cpuUs === undefined ? '-' : integer(r.cpuUs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((line) => line[i].length)));
  const format = (cells: string[]) =>
    cells.map((c, i) => (i === 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [format(header), ...body.map(format)].join('\n');
}
