import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The README's performance table quotes one run of the same-process row set: every figure in it
 * must be the one that run's report (`bench/results/`, written by the bench itself) gives, so
 * that a reader who opens the report, or reruns the command, finds the numbers quoted.
 */
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const performance = /### Performance\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';

/**
 * The README table's rows: store, then default as `guarded / control / round trip` and notify as
 * `guarded / control`.
 */
function quotedRows(): Map<string, [string, string]> {
  const rows = new Map<string, [string, string]>();
  for (const match of performance.matchAll(
    /^\| (SQLite|PostgreSQL|MariaDB) \| ([\d.]+ \/ [\d.]+ \/ [\d.]+) \| ([\d.]+ \/ [\d.]+) \|$/gm,
  ))
    rows.set(match[1], [match[2], match[3]]);
  return rows;
}

/**
 * The report's rows, as the README quotes them: `<engine>, default` to `guarded / control /
 * round trip`, `<engine>, notify` to `guarded / control`.
 */
function reportedRows(report: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const match of report.matchAll(
    /^\| 13[a-f] \| (SQLite|PostgreSQL|MariaDB), (default|revocationSync: 'notify')[^|]* \| [\d,]+ \| \*\*([\d.]+)\*\* \| ([\d.]+) \| ([\d.]+) \|/gm,
  )) {
    const notify = match[2] !== 'default';
    rows.set(
      `${match[1]}, ${notify ? 'notify' : 'default'}`,
      notify ? `${match[3]} / ${match[4]}` : `${match[3]} / ${match[4]} / ${match[5]}`,
    );
  }
  return rows;
}

describe('the README performance table', () => {
  const cited = /\]\((bench\/results\/[\w.-]+-same-process[\w-]*\.md)\)/.exec(performance)?.[1];

  it('cites a same-process report that is in the repository', () => {
    expect(cited).toBeDefined();
    expect(existsSync(new URL(`../../${cited}`, import.meta.url))).toBe(true);
  });

  it('quotes every engine and mode exactly as that report gives them', () => {
    const report = readFileSync(new URL(`../../${cited}`, import.meta.url), 'utf8');
    const reported = reportedRows(report);
    const quoted = quotedRows();
    expect([...quoted.keys()]).toEqual(['SQLite', 'PostgreSQL', 'MariaDB']);
    for (const [store, [byDefault, notify]] of quoted) {
      expect(byDefault, `${store}, default`).toBe(reported.get(`${store}, default`));
      expect(notify, `${store}, notify`).toBe(reported.get(`${store}, notify`));
    }
  });

  it("says what the round trip alone costs as PostgreSQL's row gives it", () => {
    const claimed = /round\s+trip alone costs (\d+\.\d+)/.exec(performance)?.[1];
    const roundTrip = quotedRows().get('PostgreSQL')?.[0].split(' / ')[2];
    expect(claimed).toBeDefined();
    expect((1 - Number(roundTrip)).toFixed(2)).toBe(claimed);
  });

  it('bounds the p99 added as every row of that report does', () => {
    const bound = Number(/p99 added < ([\d.]+)\s+ms/.exec(performance)?.[1]);
    const report = readFileSync(new URL(`../../${cited}`, import.meta.url), 'utf8');
    // The seventh column: p99 added by the guarded route, then by the controls.
    const added = [...report.matchAll(/^\| 13[a-f] (?:\|[^|]*){5}\| (-?[\d.]+) \//gm)].map(
      (match) => Number(match[1]),
    );
    expect(bound).toBeGreaterThan(0);
    expect(added).toHaveLength(6);
    for (const value of added) expect(value).toBeLessThan(bound);
  });
});
