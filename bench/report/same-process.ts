/**
 * The report of the same-process row set (row 13, `npm run bench -- --same-process`): a table per
 * engine and mode, each round's ratios, and the targets of issue 26.
 */
import {
  COMPARED_ROUTES,
  pooledPercentiles,
  ROUTE_LABELS,
  ROUTES,
  ROUND_WINDOW,
  ROUNDS,
  SAME_PROCESS_KEYS,
  setupLabel,
  type SameProcessResult,
} from '../rows/same-process.js';
import { WARMUP, CONNECTIONS, integer } from '../harness/settings.js';
import { median } from '../harness/stats.js';

/** A run of the row set, with what is needed to judge it. */
export interface SameProcessReport {
  startedAt: string;
  machine: string;
  loadAtStart: number;
  loadAtEnd: number;
  commit: string;
  results: SameProcessResult[];
}

/** One target and whether the run met it. */
export interface SameProcessTarget {
  target: string;
  measured: string;
  met: boolean;
}

const ratio = (values: number[]): string => median(values).toFixed(3);
const ms = (value: number): string => value.toFixed(2);
const cpuPerRequest = (result: SameProcessResult, route: (typeof ROUTES)[number]) =>
  result.routes[route].cpuMicros / Math.max(1, result.routes[route].answered);

/**
 * Issue 26's targets: SQLite default ≥ 0.95; every notify row ≥ 0.95 and not below its
 * engine's default row; PostgreSQL default ≥ 0.85; p99 added under 1 ms in every row. MariaDB's
 * default is reported, not judged.
 */
export function sameProcessTargets(results: SameProcessResult[]): SameProcessTarget[] {
  const targets: SameProcessTarget[] = [];
  const find = (engine: string, notify: boolean) =>
    results.find((r) => r.setup.engine === engine && r.setup.notify === notify);
  const atLeast = (result: SameProcessResult | undefined, floor: number) => {
    if (!result) return;
    const value = median(result.ratios.guarded);
    targets.push({
      target: `${result.setup.id} ${setupLabel(result.setup)}: guarded ÷ open ≥ ${floor}`,
      measured: value.toFixed(3),
      met: value >= floor,
    });
  };
  atLeast(find('SQLite', false), 0.95);
  atLeast(find('PostgreSQL', false), 0.85);
  for (const result of results.filter((r) => r.setup.notify)) {
    atLeast(result, 0.95);
    const byDefault = find(result.setup.engine, false);
    if (byDefault) {
      const notify = median(result.ratios.guarded);
      const read = median(byDefault.ratios.guarded);
      targets.push({
        target: `${result.setup.id} ${result.setup.engine} notify not below its default (${byDefault.setup.id})`,
        measured: `${notify.toFixed(3)} vs ${read.toFixed(3)}`,
        met: notify >= read,
      });
    }
  }
  for (const result of results) {
    const added = median(result.p99Added.guarded);
    targets.push({
      target: `${result.setup.id} p99 added < 1 ms`,
      measured: `${ms(added)} ms`,
      met: added < 1,
    });
  }
  return targets;
}

/** The run as Markdown, for `bench/results/<date>-same-process.md`. */
export function renderSameProcessMarkdown(report: SameProcessReport): string {
  const lines = [
    `# Same-process row set, ${report.startedAt.slice(0, 10)}`,
    '',
    `${report.machine}; commit ${report.commit}; load average ${report.loadAtStart.toFixed(2)} at the start, ${report.loadAtEnd.toFixed(2)} at the end.`,
    '',
    `One Nest 12 + Express app per engine and mode, the handler \`{ ok: true, items: [1, 2, 3] }\` on four routes: open, behind a control guard that only reads \`Authorization\` and lets in, behind the round-trip control (that guard, then one \`SELECT 1\` shared by the requests of two event-loop turns, through the runner the key lookup reads with), and behind \`ApiKeyGuard\` (bcrypt, ${SAME_PROCESS_KEYS} keys); every request sends the same \`Authorization: Api-Key <key>\`. autocannon, ${CONNECTIONS} connections: ${WARMUP} s of warm-up per route (discarded), then ${ROUNDS} rounds of one ${ROUND_WINDOW} s window per route, the order rotating each round. A ratio is the median over the rounds of the route's req/s ÷ the open route's in the same round; p99 added likewise. App CPU is the app process's user + system time in the route's windows per answer.`,
    '',
    '| # | engine, mode | open req/s | **guarded ÷ open** | control ÷ open | round trip ÷ open | p99 added ms: guarded / control / round trip | open p50 / p99 ms | app CPU µs/req: open / control / round trip / guarded | failures |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const result of report.results) {
    const open = pooledPercentiles(result.routes.open);
    const failures = ROUTES.reduce((sum, route) => sum + result.routes[route].failures, 0);
    const p99Added = COMPARED_ROUTES.map((route) => ms(median(result.p99Added[route])));
    lines.push(
      `| ${result.setup.id} | ${setupLabel(result.setup)} | ${integer(median(result.routes.open.rps))} | **${ratio(result.ratios.guarded)}** | ${ratio(result.ratios.control)} | ${ratio(result.ratios.roundTrip)} | ${p99Added.join(' / ')} | ${ms(open.p50)} / ${ms(open.p99)} | ${ROUTES.map((route) => Math.round(cpuPerRequest(result, route))).join(' / ')} | ${failures} |`,
    );
  }
  lines.push(
    '',
    '## Rounds',
    '',
    `| # | ${COMPARED_ROUTES.map((route) => `${ROUTE_LABELS[route]} ÷ open, by round`).join(' | ')} |`,
  );
  lines.push('| --- | --- | --- | --- |');
  const byRound = (ratios: number[]) => ratios.map((r) => r.toFixed(3)).join(', ');
  for (const result of report.results)
    lines.push(
      `| ${result.setup.id} | ${COMPARED_ROUTES.map((route) => byRound(result.ratios[route])).join(' | ')} |`,
    );
  lines.push('', '## Targets', '');
  for (const check of sameProcessTargets(report.results))
    lines.push(`- ${check.met ? 'met' : '**not met**'}: ${check.target}: ${check.measured}`);
  lines.push(
    '',
    'The control ÷ open ratio is what a guard doing next to nothing scores on this machine in this run: read the guarded ratio against it, not against 1.00. The round trip ÷ open ratio is what one database round trip per batch of requests costs with nothing else of a key check: the floor of a guard that reads the store for each request (the default mode), which notify mode does not pay. Compare rows within a run.',
    '',
  );
  return lines.join('\n');
}
