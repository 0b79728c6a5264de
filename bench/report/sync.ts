/**
 * The revocation-sync rows (issue 17) in the dated report in `bench/results/`: notify mode against per-request
 * reads, in separate apps (rows 3, 10a–10c against row 1) and in one app (rows 11a–11d, guarded
 * route against open route), how fast a revocation reaches another instance (12a, 12b), and
 * what a lost change channel lets through (12c, 12d), and what a black-hole partition lets
 * through (12e, 12f).
 */
import type { BenchRow } from './measurements.js';
import { FULL_PROPAGATION_REVOCATIONS, REVOCATIONS } from '../harness/settings.js';

/** A same-process row: the guarded route and the open route of one app, in alternating windows. */
export interface SameProcessRow {
  /** The guarded route; its `ratio` and `p99Added` are against `open`, window by window. */
  guarded: BenchRow;
  open: BenchRow;
}

/** How a change channel's outage was made, and what the revoked keys got from instance B. */
export interface OutageResult {
  id: string;
  engine: string;
  /** How the channel was cut, in words. */
  cut: string;
  rounds: number;
  /** Keys revoked after the cut, across the rounds. */
  revoked: number;
  /** Of those, the keys of rounds whose channel was still down once the revocations were acknowledged. */
  revokedWhileDown: number;
  /** Requests for those keys sent to B after their revocation was acknowledged, and their answers. */
  checks: number;
  statuses: Record<string, number>;
  /** Of those, the 200s: each with its ms since the revocation was acknowledged. */
  passes: number[];
  /** From the cut to the channel being back (listeners reconnected, polls resumed), ms. */
  backMs: number[];
  /** Control: B let a key revoked without any notification through, so it was serving from memory. */
  servedFromMemory: boolean;
  /** The light load on B meanwhile (another, live key): requests and their answers. */
  background: { sent: number; statuses: Record<string, number> };
}

/** What instance B served across black-hole cuts of its link to the database. */
export interface BlackHoleResult {
  id: string;
  engine: string;
  rounds: number;
  /** The lease B ran with (the default `maxStaleness`), ms. */
  maxStaleness: number;
  /** When, ms into each cut, a key was revoked through A. */
  revokeOffsets: number[];
  /** Requests sent to B during the cuts, and their answers. */
  checks: number;
  statuses: Record<string, number>;
  /** The last 200 for the live key, across the cuts: sent, and answered, ms after the cut. */
  lastServedSentMs: number;
  lastServedAnsweredMs: number;
  /** 200s for a key sent after its revocation was acknowledged, ms after the cut. */
  passes: Array<{ revokedMs: number; sentMs: number }>;
  /** 200s for the revoked keys once B served again after healing. */
  staleAfterHealing: number;
  /** From healing to B letting the live key in again, ms. */
  backMs: number[];
  /** Control: B let a key revoked without any notification through, so it was serving from memory. */
  servedFromMemory: boolean;
}

/** p50, p99 and max of a set of times, ms. */
export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

/** Revocations made through instance A, timed until instance B refuses the key. */
export interface PropagationResult {
  id: string;
  engine: string;
  /** The target's bound on p99, ms. */
  boundMs: number;
  revocations: number;
  /** Revocations B refused within the give-up time. */
  refused: number;
  /** From asking A to revoke until B's first 401, ms (A's revoke itself included). */
  ms: Percentiles;
  /**
   * From A acknowledging the revoke (committed, and its answer back over IPC) until B's first
   * 401, ms; 0 when B refused before the acknowledgement arrived. The target is judged on this.
   */
  afterRevoke: Percentiles;
  /** A's own revoke, asked to acknowledged, median ms. */
  revokeMedianMs: number;
  /** Requests to B per revocation until its first 401, median. */
  pollsMedian: number;
  /** 200s from B for a revoked key after B had refused it once; and how many such requests were sent. */
  staleAfterRefusal: number;
  checksAfterRefusal: number;
  /** 200s from B when every revoked key is asked once more at the end of the row. */
  staleAtEnd: number;
  /** Control: B let a key revoked without any notification through, so it was serving from memory. */
  servedFromMemory: boolean;
  /** The light load on B meanwhile (another, live key): requests and their answers. */
  background: { sent: number; statuses: Record<string, number> };
}

/** Everything rows 11 and 12 measured (rows 10 are throughput rows of the main table). */
export interface SyncReport {
  sameProcess: SameProcessRow[];
  propagation: PropagationResult[];
  outages: OutageResult[];
  blackHoles: BlackHoleResult[];
}

const fixed = (value: number, digits: number): string =>
  Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
const integer = (value: number): string => Math.round(value).toLocaleString('en-US');
const statusText = (statuses: Record<string, number>): string =>
  Object.entries(statuses)
    .map(([status, count]) => `${status}: ${integer(count)}`)
    .join(', ');

/** App CPU the guard adds per request: the guarded route's µs/req minus the open route's. */
export const cpuAdded = ({ guarded, open }: SameProcessRow): number =>
  (guarded.cpuUs ?? Number.NaN) - (open.cpuUs ?? Number.NaN);

function sameProcessTable(rows: SameProcessRow[]): string[] {
  if (rows.length === 0) return [];
  const line = (row: SameProcessRow) =>
    `| ${row.guarded.id} | ${row.guarded.label} | ${integer(row.guarded.rps)} | ${integer(row.open.rps)} | ${fixed(row.guarded.ratio ?? Number.NaN, 3)} | ${fixed(row.guarded.p99Added ?? Number.NaN, 2)} | ${fixed(row.guarded.cpuUs ?? Number.NaN, 0)} | ${fixed(row.open.cpuUs ?? Number.NaN, 0)} | ${fixed(cpuAdded(row), 0)} |`;
  return [
    "Same process: one app serves the guarded route and the same handler unguarded (`@SkipApiKey()`), and the two routes take turns in windows (open, guarded, open, ... open); the ratio and p99 added are medians over the guarded route's windows against the open windows either side, CPU is the app's during each route's windows over the answers it gave:",
    '',
    '| # | Scenario | guarded req/s | open req/s | guarded ÷ open | p99 added ms | app CPU µs/req guarded | open | added |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(line),
    '',
  ];
}

function propagationTable(rows: PropagationResult[]): string[] {
  if (rows.length === 0) return [];
  const line = (r: PropagationResult) =>
    `| ${r.id} | ${r.engine} | ${r.refused}/${r.revocations} | ${fixed(r.afterRevoke.p50, 1)} | ${fixed(r.afterRevoke.p99, 1)} | ${fixed(r.afterRevoke.max, 1)} | ${fixed(r.ms.p50, 1)} / ${fixed(r.ms.p99, 1)} / ${fixed(r.ms.max, 1)} | ${fixed(r.revokeMedianMs, 1)} | ${r.pollsMedian} | ${r.staleAfterRefusal} of ${integer(r.checksAfterRefusal)} | ${r.staleAtEnd} of ${r.revocations} | ${r.servedFromMemory ? 'yes' : '**no**'} | ${statusText(r.background.statuses)} |`;
  return [
    "Propagation: two instances in notify mode (child processes) on one database. For each revocation a new key is let in by both, A revokes it (`ApiKeyService.revoke`, asked over IPC), and B is asked for the key back to back, one request at a time, until it answers 401. The time runs from A's acknowledgement of the revoke (committed, and its answer back over IPC; 0 when B refused first) to B's first 401; the column after it runs from asking A, so it includes A's revoke itself. Stale: a 200 from B after it had refused the key once (10 more requests per key), and a 200 when every revoked key is asked once more at the end of the row. Control: before the row, a key revoked with no notification at all (PostgreSQL: triggers off by `session_replication_role = replica`; MariaDB: the counter put back in the same transaction) still got 200 from B, so B was serving from memory. Meanwhile B serves a light load (one client, a live key, a request every 2 ms after the last answer):",
    '',
    '| # | Engine | refused | p50 ms | p99 ms | max ms | from asking A: p50 / p99 / max ms | A revoke median ms | B requests until 401 (median) | stale after 401 | stale at end | served from memory | light load on B |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    ...rows.map(line),
    '',
  ];
}

function outageTable(rows: OutageResult[]): string[] {
  if (rows.length === 0) return [];
  const line = (r: OutageResult) =>
    `| ${r.id} | ${r.engine} | ${r.cut} | ${r.rounds} | ${r.revoked} (${r.revokedWhileDown}) | ${integer(r.checks)} | ${statusText(r.statuses)} | ${r.passes.length}${r.passes.length ? ` (${r.passes.map((ms) => fixed(ms, 1)).join(', ')} ms after the revoke)` : ''} | ${fixed(Math.max(...r.backMs), 0)} | ${r.servedFromMemory ? 'yes' : '**no**'} | ${statusText(r.background.statuses)} |`;
  return [
    "Channel outage: in each round four warm keys are revoked while instance B's change channel is down, two through A's `ApiKeyService.revoke` and two by SQL that no notification can follow; B is then asked for them for 500 ms, and once more after its channel is back. A pass is a 200 for a key whose revocation was acknowledged before the request was sent.",
    '',
    '| # | Engine | How the channel was cut | rounds | keys revoked (still down after) | requests | answers | passes | channel back after, max ms | served from memory | light load on B |',
    '| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | --- |',
    ...rows.map(line),
    '',
  ];
}

/** The passes of a black-hole row, grouped by when the key was revoked. */
function passText(r: BlackHoleResult): string {
  if (r.passes.length === 0) return '0';
  const byOffset = r.revokeOffsets.map((offset, i) => {
    const next = r.revokeOffsets[i + 1] ?? Infinity;
    const passes = r.passes.filter((p) => p.revokedMs >= offset && p.revokedMs < next);
    const last = Math.max(...passes.map((p) => p.sentMs));
    return passes.length
      ? `${passes.length} revoked at ${offset} ms, last sent ${fixed(last, 0)} ms`
      : '';
  });
  return `${r.passes.length} (${byOffset.filter(Boolean).join('; ')})`;
}

function blackHoleTable(rows: BlackHoleResult[]): string[] {
  if (rows.length === 0) return [];
  const line = (r: BlackHoleResult) =>
    `| ${r.id} | ${r.engine} | ${r.rounds} | ${r.maxStaleness} | ${fixed(r.lastServedSentMs, 0)} / ${fixed(r.lastServedAnsweredMs, 0)} | ${r.revokeOffsets.join(', ')} | ${integer(r.checks)} | ${statusText(r.statuses)} | ${passText(r)} | ${r.staleAfterHealing} | ${fixed(Math.max(...r.backMs), 0)} | ${r.servedFromMemory ? 'yes' : '**no**'} |`;
  return [
    "Black hole: instance B reaches the database through a proxy that, mid-run, holds every byte both ways and accepts new connections without answering them (nothing refused, nothing reset), with B's keys warm; A, connected directly, revokes one key at each of the times given into the cut, and B is asked for every key every 25 ms for 1.5 s after the cut (past the 1 s after which its channel declares the link lost), without waiting for answers. Last served from memory: the latest 200 for a live key, sent / answered, ms after the cut (the database answers nothing then, so every 200 comes from memory). A pass is a 200 for a key sent after its revocation was acknowledged; the link then heals, and B is asked until it lets the live key in again, and once more for each revoked key.",
    '',
    '| # | Engine | cuts | maxStaleness ms | last served from memory, sent / answered ms after the cut | keys revoked at, ms into the cut | requests | answers | passes (ms after the cut) | passes after healing | back after healing, max ms | served from memory |',
    '| --- | --- | ---: | ---: | ---: | --- | ---: | --- | --- | ---: | ---: | --- |',
    ...rows.map(line),
    '',
  ];
}

/** The section of the report, empty when none of rows 11 and 12 ran. */
export function syncSection(sync?: SyncReport): string[] {
  if (!sync) return [];
  const body = [
    ...sameProcessTable(sync.sameProcess),
    ...propagationTable(sync.propagation),
    ...outageTable(sync.outages),
    ...blackHoleTable(sync.blackHoles),
  ];
  return body.length === 0 ? [] : ['## Revocation sync', '', ...body];
}

/** Whether the propagation rows ran as many revocations as the target asks for. */
export function syncNotes(sync?: SyncReport): string[] {
  if (!sync?.propagation.length || REVOCATIONS >= FULL_PROPAGATION_REVOCATIONS) return [];
  return [
    `The propagation rows timed ${REVOCATIONS} revocations each (BENCH_REVOCATIONS), not the ${FULL_PROPAGATION_REVOCATIONS} the target asks for: their p99 is a check of the harness.`,
  ];
}
