/**
 * The bench's knobs: what the environment may set (all optional), the fixed sizes of its rows,
 * and the paragraph of the dated report in `bench/results/` that says how the throughput rows were measured.
 *
 * Environment: BENCH_DURATION measured seconds per row (default 24), BENCH_WINDOW seconds per
 * window (default 2), BENCH_WARMUP seconds of load on a row's app before its first window
 * (default 3), BENCH_SCALE_KEYS (default 1000000), BENCH_MEMO_KEYS (default 100000), BENCH_ONLY
 * comma-separated rows to run (e.g. `1,2,3`; `l` for the one-at-a-time latency rows, `m` for
 * the memo memory, `8` for the cold path and attack rows, `S` for the soak rows), BENCH_PROFILE=1
 * to write `--cpu-prof` profiles of the apps to bench/.profiles, BENCH_OUT directory for the
 * results, BENCH_SOAK_SECONDS seconds of mixed traffic per engine in the soak rows (default 600),
 * BENCH_TIMEOUT seconds before the whole run gives up (default 2100 plus the soak's time),
 * BENCH_REDIS_URL the Redis of row 9b (default redis://127.0.0.1:6379), BENCH_REVOCATIONS
 * revocations per engine in the propagation rows (default 200), BENCH_OUTAGE_ROUNDS listener
 * outages per engine in the outage rows (default 5).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { BENCH_ROUTE } from '../apps/scenario.js';

/** A positive number from the environment, or `fallback` when unset. */
export function positiveFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number.`);
  return value;
}

/** Measured seconds per throughput row, over all its windows. */
export const DURATION = positiveFromEnv('BENCH_DURATION', 24);
/** Seconds of load on a row's app, discarded, before its first window. */
export const WARMUP = positiveFromEnv('BENCH_WARMUP', 3);
/** Seconds per measured window. */
export const WINDOW = positiveFromEnv('BENCH_WINDOW', 2);
/** Keys presented in turn by the multi-key rows, so requests rarely find their key's read already pending. */
export const ROTATION_KEYS = 50;
/** The latency rows send one request at a time, so latency is the request's own, not queueing behind others. */
export const LATENCY_CONNECTIONS = 1;
/** autocannon connections for the throughput rows. */
export const CONNECTIONS = 10;
/** Keys in the table of the ordinary ApiKeyGuard rows. */
export const BASE_KEYS = 1_000;
/** Keys in the table of the scale rows (7a, 7b). */
export const SCALE_KEYS = positiveFromEnv('BENCH_SCALE_KEYS', 1_000_000);
/** Distinct live keys the memo memory measurement fills the memo with. */
export const MEMO_KEYS = positiveFromEnv('BENCH_MEMO_KEYS', 100_000);
/** Wrong-secret requests per second in the attack rows. */
export const ATTACK_RATE = 50;
/** How long the bare PostgreSQL round trips are timed. */
export const ROUND_TRIP_SECONDS = 10;
/** New keys timed by the cold path, and probed halfway through each attack. */
export const COLD_SAMPLES = 10;
/** Revocations timed per engine by the propagation rows (12a, 12b); the target asks for at least 200. */
export const FULL_PROPAGATION_REVOCATIONS = 200;
/** Revocations timed per engine by the propagation rows (`BENCH_REVOCATIONS`). */
export const REVOCATIONS = positiveFromEnv('BENCH_REVOCATIONS', FULL_PROPAGATION_REVOCATIONS);
/** Outages per engine in the listener-outage rows (12c, 12d), four keys revoked in each. */
export const OUTAGE_ROUNDS = positiveFromEnv('BENCH_OUTAGE_ROUNDS', 5);
/** Seconds of mixed traffic per engine in a full soak, the length the soak's targets are meant for. */
export const FULL_SOAK_SECONDS = 600;
/** Seconds of mixed traffic per engine in the soak rows (Sa SQLite, Sb PostgreSQL), warm-up excluded. */
export const SOAK_SECONDS = positiveFromEnv('BENCH_SOAK_SECONDS', FULL_SOAK_SECONDS);
/** Seconds before the whole run gives up and cleans up: the other rows' time, plus two soaks and their boots. */
export const TIMEOUT = positiveFromEnv('BENCH_TIMEOUT', 2100 + 2 * (SOAK_SECONDS + 60));
/** Seeding a million rows into PostgreSQL takes tens of seconds; anything beyond this is a hang. */
export const BOOT_TIMEOUT_MS = 5 * 60_000;
/** The Redis of row 9b's counters (`BENCH_REDIS_URL`), each run under a key prefix of its own. */
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Whether to write `--cpu-prof` profiles of the apps. */
export const PROFILE = process.env.BENCH_PROFILE === '1';
/** Where `results/` (the dated reports and charts) and the profiles go. */
export const outDir = path.resolve(process.env.BENCH_OUT ?? path.join(process.cwd(), 'bench'));

/**
 * Where a run started at `startedAt` writes its report: `results/<day>[-<kind>]`, without an
 * extension, or the first of `-2`, `-3`, ... whose `.md` is not there yet, so that a dated result
 * is never overwritten. Creates `results/`.
 */
export function freshResultStem(startedAt: string, kind?: string): string {
  const dir = path.join(outDir, 'results');
  mkdirSync(dir, { recursive: true });
  const base = kind ? `${startedAt.slice(0, 10)}-${kind}` : startedAt.slice(0, 10);
  let stem = base;
  for (let n = 2; existsSync(path.join(dir, `${stem}.md`)); n++) stem = `${base}-${n}`;
  return path.join(dir, stem);
}

/** Prints each target as `met` or `NOT MET`, with what was measured. */
export function printTargets(checks: { met: boolean; target: string; measured: string }[]): void {
  for (const check of checks)
    console.log(`${check.met ? 'met    ' : 'NOT MET'}  ${check.target}: ${check.measured}`);
}

const only = process.env.BENCH_ONLY
  ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim()))
  : null;

/** Whether BENCH_ONLY lets row `id` run: by its id, or by its number without the letter (`7` for `7a`). */
export const wanted = (id: string): boolean =>
  !only || only.has(id) || only.has(id.replace(/[a-z]$/, ''));

/** A count with thousands separators. */
export const integer = (n: number): string => Math.round(n).toLocaleString('en-US');

/** How the run was set up, for the report's opening paragraph. */
export function describeSettings(): string {
  return `Nest 12 + Express, one app per child process, GET ${BENCH_ROUTE} returning the same JSON in every app; autocannon ${CONNECTIONS} connections from the parent process. Throughput rows: each row's app gets ${WARMUP} s of load (discarded), then the row is measured in ${Math.round(DURATION / WINDOW)} windows of ${WINDOW} s alternating with row 1's (1, X, 1, X, ... 1, each window a fresh autocannon run); req/s is the median window, the ratio the median over the row's windows of its req/s over the mean of the row-1 windows either side, and p99 added the median of its p99 minus theirs; the p50 and p99 columns and CPU are pooled over the row's windows. Rows 7a and 7b alternate with rows 2 and 3 instead, as the scale target compares those; their ratio to no guard is row 2's (or 3's) times theirs to it. Keys presented as \`Authorization: Api-Key <key>\` (ApiKeyGuard) or \`X-Api-Key\` (rows 5, 6). Default \`ApiKeyModule.forRoot({})\` options unless the row says otherwise; SQLite is a file database with TypeORM's defaults (rollback journal).`;
}
