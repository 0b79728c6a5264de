/**
 * `usage`: one key's requests per day by outcome, as a table with a sparkline, or as JSON.
 */
import type { CliDatabaseCommand } from './args.js';
import type { CliKeyStore, CliOutput } from './context.js';
import { printable, table } from './format.js';
import { USAGE_OUTCOMES } from '../usage/outcomes.js';
import type { ApiKeyUsagePoint } from '../usage/report.js';

const DAY_MS = 86_400_000;
/** Bars of the sparkline, lowest to highest; a day without requests is a dot. */
const BARS = '▁▂▃▄▅▆▇█';

/**
 * `usage`: the last `--days` days (UTC, today included) of one key.
 *
 * @throws {ApiKeyNotFoundError} when no key has that id or prefix
 * @throws {ApiKeyValidationError} when usage analytics is off for the registration
 * @throws {ApiKeyStoreUnavailableError} when the counts cannot be read
 */
export async function showUsage(
  command: Extract<CliDatabaseCommand, { command: 'usage' }>,
  { service }: CliKeyStore,
  output: CliOutput,
): Promise<void> {
  const now = service.options.clock().getTime();
  // Whole UTC days: from the start of the first of them to the end of today.
  const since = new Date(Math.floor(now / DAY_MS) * DAY_MS - (command.days - 1) * DAY_MS);
  const until = new Date(Math.floor(now / DAY_MS) * DAY_MS + DAY_MS);
  const report = await service.usage({ key: command.target, since, until, granularity: 'day' });
  const days = report.series.map((point) => ({
    date: dayOf(point),
    ...point.counts,
    total: point.total,
  }));
  if (command.json) {
    output.out(
      JSON.stringify({
        key: report.key,
        since: report.since.toISOString(),
        until: report.until.toISOString(),
        totals: report.totals,
        total: report.total,
        days,
      }),
    );
    return;
  }
  const { key } = report;
  output.out(
    `Requests of API key ${key!.prefix} ("${printable(key!.name)}"), last ${command.days} day(s), UTC:`,
  );
  const outcomes = USAGE_OUTCOMES.filter((outcome) => outcome !== 'unknown');
  const rows = days.map((day) => [
    day.date,
    ...outcomes.map((o) => String(day[o])),
    String(day.total),
  ]);
  const totals = ['total', ...outcomes.map((o) => String(report.totals[o])), String(report.total)];
  for (const line of table([['day', ...outcomes, 'total'], ...rows, totals])) output.out(line);
  output.out(`${sparkline(report.series.map((point) => point.total))}  (${report.total} requests)`);
}

/** `YYYY-MM-DD` of a day's point. */
function dayOf(point: ApiKeyUsagePoint): string {
  return point.start.toISOString().slice(0, 10);
}

/** One character per value: a dot for 0, else a bar scaled to the largest value. */
export function sparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values);
  return values
    .map((value) =>
      value === 0 ? '·' : BARS[Math.min(BARS.length - 1, Math.floor((value / max) * BARS.length))],
    )
    .join('');
}
