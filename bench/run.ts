/**
 * `npm run bench`: boots each scenario as a Nest 12 Express app in a child process, drives it
 * with autocannon from this process (10 connections, a warm-up that is thrown away, then
 * measured windows), and writes `bench/results.md` and `bench/results.svg`.
 *
 * Each throughput row is measured in short windows alternating with row 1's (1, X, 1, X, ... 1),
 * the row's windows adding up to BENCH_DURATION. A row's req/s is its median window, and its
 * ratio to row 1 the median over its windows of the window's req/s against the row-1 windows
 * on either side: the machine's drift falls on both sides of each comparison, and a burst of
 * other work spoils a window or two rather than the figure. The 1,000,000-key rows alternate
 * with their 1,000-key rows instead (7a with 2, 7b with 3), as the scale target compares those.
 *
 * Environment (all optional): BENCH_DURATION measured seconds per row (default 24),
 * BENCH_WINDOW seconds per window (default 2), BENCH_WARMUP seconds of load on a row's app
 * before its first window (default 3),
 * BENCH_SCALE_KEYS (default 1000000), BENCH_MEMO_KEYS (default 100000), BENCH_ONLY
 * comma-separated rows to run (e.g. `1,2,3`; `l` for the one-at-a-time latency rows, `m` for
 * the memo memory, `8` for the cold path and attack rows), BENCH_PROFILE=1 to write `--cpu-prof`
 * profiles of the apps to bench/.profiles, BENCH_OUT directory for the results.
 *
 * Every child, temporary SQLite file and PostgreSQL database is removed on exit, on error,
 * on Ctrl-C and when the overall time limit (BENCH_TIMEOUT seconds, default 1500) runs out.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import autocannon from 'autocannon';
import bcrypt from 'bcrypt';
import { generateKey, parseKey } from '../lib/api-key.format.js';
import { createTestDatabase, type TestDatabase } from '../test/support/databases.js';
import {
  p99Added,
  ratioOf,
  renderConsoleTable,
  renderMarkdown,
  renderSvg,
  type AttackResult,
  type BenchReport,
  type BenchRow,
  type ColdPathResult,
  type RoundTripResult,
  type TargetCheck,
} from './report.js';
import {
  BENCH_ROUTE,
  STATIC_KEY_HEADER,
  type BenchDatabase,
  type BenchScenario,
  type ChildMessage,
  type MemoMemoryReport,
  type ParentMessage,
} from './scenario.js';

const seconds = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number.`);
  return value;
};

const DURATION = seconds('BENCH_DURATION', 24);
const WARMUP = seconds('BENCH_WARMUP', 3);
const WINDOW = seconds('BENCH_WINDOW', 2);
/** Keys presented in turn by the multi-key rows, so requests rarely find their key's read already pending. */
const ROTATION_KEYS = 50;
/** The latency rows send one request at a time, so latency is the request's own, not queueing behind others. */
const LATENCY_CONNECTIONS = 1;
const CONNECTIONS = 10;
const BASE_KEYS = 1_000;
const SCALE_KEYS = seconds('BENCH_SCALE_KEYS', 1_000_000);
const MEMO_KEYS = seconds('BENCH_MEMO_KEYS', 100_000);
const ATTACK_RATE = 50;
/** How long the bare PostgreSQL round trips are timed. */
const ROUND_TRIP_SECONDS = 10;
const COLD_SAMPLES = 10;
const TIMEOUT = seconds('BENCH_TIMEOUT', 1500);
/** Seeding a million rows into PostgreSQL takes tens of seconds; anything beyond this is a hang. */
const BOOT_TIMEOUT_MS = 5 * 60_000;
const ONLY = process.env.BENCH_ONLY
  ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim()))
  : null;
const PROFILE = process.env.BENCH_PROFILE === '1';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(process.env.BENCH_OUT ?? path.join(process.cwd(), 'bench'));
const appEntry = path.join(here, 'app.js');

const children = new Set<ChildProcess>();
const databases: TestDatabase[] = [];
const tempDir = mkdtempSync(path.join(os.tmpdir(), 'nestjs-api-key-bench-'));
let cleaning: Promise<void> | null = null;

/** Kills every app, drops every database and removes the SQLite files. Safe to call twice. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const child of children) child.kill('SIGKILL');
    children.clear();
    for (const db of databases.splice(0)) {
      await db
        .drop()
        .catch((error: Error) =>
          console.error(`Could not drop a bench database: ${error.message}`),
        );
    }
    rmSync(tempDir, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: cleaning up.`);
    void cleanup().finally(() => process.exit(130));
  });
}
const deadline = setTimeout(() => {
  console.error(`The bench ran past BENCH_TIMEOUT (${TIMEOUT} s); stopping.`);
  void cleanup().finally(() => process.exit(1));
}, TIMEOUT * 1000);
deadline.unref();

/** A running child app. */
interface RunningApp {
  url: string;
  key?: string;
  seedMs?: number;
  child: ChildProcess;
  request(message: ParentMessage): Promise<ChildMessage>;
  stop(): Promise<void>;
}

/** Forks `app.js` for a scenario; `next()` resolves with the child's next message. */
function forkApp(
  scenario: BenchScenario,
  label: string,
): { child: ChildProcess; next: () => Promise<ChildMessage> } {
  const execArgv = scenario.guard === 'memo-memory' ? ['--expose-gc'] : [];
  if (PROFILE) {
    const dir = path.join(outDir, '.profiles');
    mkdirSync(dir, { recursive: true });
    execArgv.push(
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
      `--cpu-prof-name=${label.replace(/[^A-Za-z0-9]+/g, '-')}-${Date.now()}.cpuprofile`,
    );
  }
  const child = fork(appEntry, [], {
    env: { ...process.env, BENCH_SCENARIO: JSON.stringify(scenario) },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const next = (): Promise<ChildMessage> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`${label}: no answer from the app within ${BOOT_TIMEOUT_MS / 1000} s.`)),
        BOOT_TIMEOUT_MS,
      );
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`${label}: the app exited (code ${code}).`));
      };
      child.once('exit', onExit);
      child.once('message', (message: ChildMessage) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        if (message.type === 'error') reject(new Error(`${label}: ${message.message}`));
        else resolve(message);
      });
    });
  return { child, next };
}

/** Forks an app and waits until it listens. */
async function startApp(scenario: BenchScenario, label: string): Promise<RunningApp> {
  const { child, next } = forkApp(scenario, label);
  const ready = await next();
  if (ready.type !== 'ready')
    throw new Error(`${label}: expected the app to report ready, got ${ready.type}.`);
  return {
    url: `http://127.0.0.1:${ready.port}${BENCH_ROUTE}`,
    key: ready.key,
    seedMs: ready.seedMs,
    child,
    request(message) {
      const answer = next();
      child.send(message);
      return answer;
    },
    stop() {
      return new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        child.send({ type: 'stop' } satisfies ParentMessage);
      });
    },
  };
}

/** Runs the memo memory measurement in its own process (with `--expose-gc`). */
async function measureMemo(db: BenchDatabase): Promise<MemoMemoryReport> {
  const { child, next } = forkApp({ guard: 'memo-memory', db, keys: MEMO_KEYS }, 'memo');
  const answer = await next();
  await new Promise<void>((resolve) =>
    child.exitCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
  if (answer.type !== 'memory')
    throw new Error(`memo: expected a memory report, got ${answer.type}.`);
  return answer.report;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Latencies of 2xx answers, in ms at full precision (autocannon's own histogram rounds to 1 ms). */
class LatencyLog {
  private values = new Float64Array(1 << 16);
  private count = 0;

  add(ms: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = ms;
  }

  sorted(): Float64Array {
    return this.values.slice(0, this.count).sort();
  }
}

interface LoadOptions {
  url: string;
  headers?: Record<string, string>;
  duration: number;
  connections?: number;
  overallRate?: number;
  setupRequest?: autocannon.Request['setupRequest'];
}

interface LoadResult {
  ok: number;
  failures: number;
  statuses: Record<string, number>;
  seconds: number;
  latencies: Float64Array;
}

/** One autocannon run, counting answers by status and logging 2xx latencies. */
function load(options: LoadOptions): Promise<LoadResult> {
  const latencies = new LatencyLog();
  const statuses: Record<string, number> = {};
  let ok = 0;
  let errors = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections ?? CONNECTIONS,
        duration: options.duration,
        headers: options.headers,
        overallRate: options.overallRate,
        requests: options.setupRequest ? [{ setupRequest: options.setupRequest }] : undefined,
        timeout: 10,
      },
      (error, result) => {
        if (error) return reject(error);
        resolve({
          ok,
          failures: errors + result.timeouts + (result.non2xx ?? 0),
          statuses,
          seconds: result.duration,
          latencies: latencies.sorted(),
        });
      },
    );
    instance.on(
      'response',
      (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
        statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
        if (statusCode >= 200 && statusCode < 300) {
          ok++;
          latencies.add(responseTime);
        }
      },
    );
    instance.on('reqError', () => errors++);
  });
}

function toRow(id: string, label: string, result: LoadResult, keys?: number): BenchRow {
  return {
    id,
    label,
    keys,
    rps: result.ok / result.seconds,
    p50: percentile(result.latencies, 50),
    p99: percentile(result.latencies, 99),
    failures: result.failures,
  };
}

/** CPU time the app process has used so far, in µs. */
async function appCpu(app: RunningApp): Promise<number> {
  const answer = await app.request({ type: 'cpu' });
  if (answer.type !== 'cpu') throw new Error(`expected a CPU reading, got ${answer.type}`);
  return answer.micros;
}

const answeredCount = (result: LoadResult) =>
  Object.values(result.statuses).reduce((a, b) => a + b, 0);

/** A throughput row: which app, and what its requests carry. */
interface Target {
  id: string;
  label: string;
  keys?: number;
  app: RunningApp;
  headers?: Record<string, string>;
  setupRequest?: autocannon.Request['setupRequest'];
  /** Connections to drive it with; default `CONNECTIONS`. */
  connections?: number;
  /** The row to alternate with and compare against, when not row 1 (measured earlier in the same call). */
  against?: string;
}

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

/** Drives a target's app as its row says (headers, rotating keys, connections) for `duration` seconds. */
function loadTarget(target: Target, duration: number): Promise<LoadResult> {
  return load({
    url: target.app.url,
    headers: target.headers,
    setupRequest: target.setupRequest,
    connections: target.connections,
    duration,
  });
}

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
 */
async function measureAgainstBase(
  targets: Target[],
  baseId?: string,
): Promise<{ rows: BenchRow[]; windowRatios: Map<string, number[]> }> {
  const byId = new Map(targets.map((t) => [t.id, t]));
  const named = baseId === undefined ? undefined : byId.get(baseId);
  // Alone, the base is simply measured in windows like any row without one.
  const defaultBase = named && targets.some((t) => t !== named && !t.against) ? named : undefined;
  const baseOf = (target: Target): Target | undefined => {
    if (target.against === undefined) return target === defaultBase ? undefined : defaultBase;
    const base = byId.get(target.against);
    if (!base)
      throw new Error(
        `Row ${target.id} is to be compared with row ${target.against}, which this run does not measure.`,
      );
    return base;
  };
  const tallies = new Map<string, Tally>(targets.map((t) => [t.id, newTally()]));
  const windows = Math.max(1, Math.round(DURATION / WINDOW));
  const warm = (target: Target) => loadTarget(target, WARMUP);
  if (defaultBase) await warm(defaultBase);
  for (const target of targets) {
    const base = baseOf(target);
    if (target === defaultBase) continue;
    const tally = tallies.get(target.id)!;
    // A row named by `against` has its figures from its own sequence; only its failures count from this one.
    const baseTally =
      base === undefined ? undefined : base === defaultBase ? tallies.get(base.id)! : newTally();
    process.stdout.write(
      `  ${target.id}. ${target.label}: warm-up ${WARMUP} s, ${windows} windows of ${WINDOW} s ${base ? `alternating with row ${base.id} ` : ''}... `,
    );
    if (base && base !== defaultBase) await warm(base);
    await warm(target);
    let before = base ? await measureWindow(base, baseTally!) : undefined;
    for (let i = 0; i < windows; i++) {
      const own = await measureWindow(target, tally);
      if (before) {
        const after = await measureWindow(base!, baseTally!);
        tally.windowRatios.push(own.rps / ((before.rps + after.rps) / 2));
        tally.windowP99Added.push(own.p99 - (before.p99 + after.p99) / 2);
        before = after;
      }
    }
    if (base && base !== defaultBase) tallies.get(base.id)!.failures += baseTally!.failures;
    console.log(
      `${Math.round(median(tally.windowRps))} req/s${base ? `, ${median(tally.windowRatios).toFixed(3)} of row ${base.id}` : ''}`,
    );
  }
  const rows = targets.map((target): BenchRow => {
    const tally = tallies.get(target.id)!;
    const pooled = new Float64Array(tally.latencies.reduce((n, l) => n + l.length, 0));
    let offset = 0;
    for (const part of tally.latencies) {
      pooled.set(part, offset);
      offset += part.length;
    }
    pooled.sort();
    const base = baseOf(target);
    const row: BenchRow = {
      id: target.id,
      label: target.label,
      keys: target.keys,
      // The median window, not the pooled mean: a burst of other work on the machine spoils a window or two, not the figure.
      rps: median(tally.windowRps),
      p50: percentile(pooled, 50),
      p99: percentile(pooled, 99),
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
  });
  // A row measured against another has a ratio to row 1 only through that row's.
  const measured = new Map(rows.map((row) => [row.id, row]));
  for (const row of rows) {
    const via = row.against && measured.get(row.against.id);
    if (via?.ratio !== undefined) row.ratio = via.ratio * row.against!.ratio;
  }
  return {
    rows,
    windowRatios: new Map([...tallies].map(([id, tally]) => [id, tally.windowRatios])),
  };
}

/** Warm-up (discarded), then one measured window: for rows that need no comparison with row 1. */
async function measureOnce(target: Target): Promise<BenchRow> {
  process.stdout.write(
    `  ${target.id}. ${target.label}: warm-up ${WARMUP} s, measuring ${DURATION} s ... `,
  );
  await loadTarget(target, WARMUP);
  const before = await appCpu(target.app);
  const result = await loadTarget(target, DURATION);
  const row = toRow(target.id, target.label, result, target.keys);
  row.cpuUs = ((await appCpu(target.app)) - before) / Math.max(1, answeredCount(result));
  console.log(
    `${Math.round(row.rps)} req/s, p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms`,
  );
  return row;
}

interface PgClient {
  connect(): Promise<void>;
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
  end(): Promise<void>;
}
// pg ships no types and this is its only direct use here: the few calls it needs are typed above.
const pg = createRequire(import.meta.url)('pg') as {
  Client: new (config: Record<string, unknown>) => PgClient;
};

/**
 * Bare round trips to the bench's PostgreSQL, one at a time, from this process with no app in
 * between: `pg` running a named prepared SELECT of one key row by prefix, the kind of read the
 * guard makes. The floor under what a guard that reads its row on every request can add.
 */
async function postgresRoundTrips(
  options: Record<string, unknown>,
  prefix: string,
  seconds: number,
): Promise<RoundTripResult> {
  const client = new pg.Client({
    host: options.host,
    port: options.port,
    user: options.username,
    password: options.password,
    database: options.database,
  });
  await client.connect();
  try {
    const query = {
      name: 'bench_round_trip',
      text: 'SELECT * FROM api_keys WHERE prefix = $1',
      values: [prefix],
    };
    const log = new LatencyLog();
    const until = performance.now() + seconds * 1000;
    // The first executions parse and plan: leave them out, as the guard's prepared statement is long warm.
    for (let i = 0; i < 100; i++) await client.query(query);
    while (performance.now() < until) {
      const started = performance.now();
      const { rows } = await client.query(query);
      log.add(performance.now() - started);
      if (rows.length !== 1) throw new Error('round trip: the bench key row was not found');
    }
    const sorted = log.sorted();
    return {
      seconds,
      count: sorted.length,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
    };
  } finally {
    await client.end();
  }
}

const apiKeyHeaders = (key: string) => ({ authorization: `Api-Key ${key}` });
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The status of one GET with a key (a refused request is an answer here, not an error). */
async function statusOf(url: string, key: string): Promise<number> {
  const response = await fetch(url, { headers: apiKeyHeaders(key) });
  await response.arrayBuffer();
  return response.status;
}

/** One GET with a key, timed from send to full response. */
async function timed(url: string, key: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const status = await statusOf(url, key);
  return { status, ms: performance.now() - started };
}

async function timedGet(url: string, key: string): Promise<number> {
  const { status, ms } = await timed(url, key);
  if (status !== 200) throw new Error(`cold path: expected 200, got ${status}`);
  return ms;
}

/** Time to the first successful request of brand-new keys, one at a time, and of their second. */
async function coldPath(app: RunningApp): Promise<ColdPathResult> {
  const first: number[] = [];
  const second: number[] = [];
  for (let i = 0; i < COLD_SAMPLES; i++) {
    const [key] = await createKeys(app, 1);
    first.push(await timedGet(app.url, key));
    second.push(await timedGet(app.url, key));
  }
  return {
    samples: COLD_SAMPLES,
    firstMs: { median: median(first), max: Math.max(...first) },
    secondMs: { median: median(second), max: Math.max(...second) },
  };
}

async function createKeys(app: RunningApp, count: number): Promise<string[]> {
  const answer = await app.request({ type: 'create-keys', count });
  if (answer.type !== 'keys') throw new Error(`expected keys from the app, got ${answer.type}`);
  return answer.keys;
}

/**
 * Sends `rate` requests a second for `duration` seconds whatever the answers take (autocannon
 * waits for an answer before a connection's next request, so slow answers would slow the
 * attacker down), then waits for every answer. Counts answers by status.
 */
async function openLoop(
  url: string,
  rate: number,
  duration: number,
  authorization: () => string,
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const statuses: Record<string, number> = {};
  let failures = 0;
  const pending: Promise<void>[] = [];
  const started = performance.now();
  for (let sent = 0; sent < rate * duration; sent++) {
    const due = started + (sent * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(
      new Promise<void>((resolve) => {
        const request = http.get(
          url,
          { agent, headers: { authorization: authorization() }, timeout: 30_000 },
          (response) => {
            response.resume();
            response.on('end', () => {
              statuses[response.statusCode!] = (statuses[response.statusCode!] ?? 0) + 1;
              resolve();
            });
          },
        );
        request.on('timeout', () => request.destroy(new Error('timeout')));
        request.on('error', () => {
          failures++;
          resolve();
        });
      }),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  return {
    ok: statuses['200'] ?? 0,
    failures,
    statuses,
    seconds: duration,
    latencies: new Float64Array(0),
  };
}

/**
 * Warm traffic for the known key while an attacker sends wrong secrets for a known prefix: the
 * warm key's own (memoised), or with `target: 'cold'` that of another key never used since the
 * app started. Halfway through, new keys make their first request, one at a time, to show what
 * the attack does to keys that still need a slow check.
 */
async function underAttack(
  id: string,
  label: string,
  app: RunningApp,
  freshSecrets: boolean,
  target: 'warm' | 'cold',
): Promise<AttackResult> {
  const key = app.key!;
  const prefix = (target === 'warm' ? key : (await createKeys(app, 1))[0]).slice(0, 8);
  const wrongSecret = () => `${prefix}.${generateKey().key.slice(9)}`;
  const fixedWrong = wrongSecret();
  const probes = await createKeys(app, COLD_SAMPLES);
  process.stdout.write(`  ${id}. ${label}: warm-up ${WARMUP} s, measuring ${DURATION} s ... `);
  await load({ url: app.url, headers: apiKeyHeaders(key), duration: WARMUP });
  const attack = openLoop(
    app.url,
    ATTACK_RATE,
    DURATION,
    () => `Api-Key ${freshSecrets ? wrongSecret() : fixedWrong}`,
  );
  const before = await appCpu(app);
  const probing = (async () => {
    await new Promise((resolve) => setTimeout(resolve, (DURATION * 1000) / 2));
    const answers: Array<{ status: number; ms: number }> = [];
    for (const probe of probes) answers.push(await timed(app.url, probe));
    return answers;
  })();
  const warm = await load({ url: app.url, headers: apiKeyHeaders(key), duration: DURATION });
  const cpuMicros = (await appCpu(app)) - before;
  const attacked = await attack;
  const probed = await probing;
  const row = toRow(id, label, warm, BASE_KEYS);
  // The app's CPU also went to the attack's requests: count them in.
  row.cpuUs = cpuMicros / Math.max(1, answeredCount(warm) + answeredCount(attacked));
  const times = probed.map((answer) => answer.ms);
  const newKeys = {
    samples: probes.length,
    ok: probed.filter((answer) => answer.status === 200).length,
    medianMs: median(times),
    maxMs: Math.max(...times),
  };
  console.log(
    `${Math.round(row.rps)} req/s, p99 ${row.p99.toFixed(2)} ms; attacker got ${JSON.stringify(attacked.statuses)}; new keys' first request ${newKeys.medianMs.toFixed(1)} ms median, ${newKeys.ok}/${newKeys.samples} answered 200`,
  );
  const sent = answeredCount(attacked);
  return {
    row,
    attacker: { rate: sent / attacked.seconds, sent, statuses: attacked.statuses },
    newKeys,
  };
}

const wanted = (id: string) => !ONLY || ONLY.has(id) || ONLY.has(id.replace(/[a-z]$/, ''));

function sqliteDb(name: string): BenchDatabase {
  return { engine: 'sqlite', file: path.join(tempDir, `${name}.sqlite`) };
}

async function postgresDb(): Promise<BenchDatabase> {
  const db = await createTestDatabase('postgres');
  databases.push(db);
  return { engine: 'postgres', options: db.options as unknown as Record<string, unknown> };
}

/** Boots an app, runs `body` against it, and always stops it. */
async function withApp<R>(
  scenario: BenchScenario,
  label: string,
  body: (app: RunningApp) => Promise<R>,
): Promise<R> {
  const app = await startApp(scenario, label);
  try {
    return await body(app);
  } finally {
    await app.stop();
  }
}

/** Requests that present `keys` in turn. */
function rotating(keys: string[]): autocannon.Request['setupRequest'] {
  let next = 0;
  return (request) => ({
    ...request,
    headers: { ...request.headers, ...apiKeyHeaders(keys[next++ % keys.length]) },
  });
}

function checkTargets(rows: Map<string, BenchRow>, latency: BenchRow[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const openAtRate = latency.find((row) => row.id === 'L1');
  for (const row of latency.filter((r) => r.id === 'L2' || r.id === 'L3')) {
    if (!openAtRate) break;
    const added = p99Added(row, openAtRate);
    checks.push({
      target: `p99 added latency < 1 ms, one request at a time (row ${row.id})`,
      measured: `${added.toFixed(2)} ms (median window; pooled ${row.p99.toFixed(2)} vs ${openAtRate.p99.toFixed(2)})`,
      met: added < 1,
    });
  }
  const open = rows.get('1');
  const ratio = (row: BenchRow) => ratioOf(row, open!);
  const sqlite = rows.get('2');
  const postgres = rows.get('3');
  const passport = rows.get('5');
  if (open && sqlite)
    checks.push({
      target: 'Warm throughput on SQLite ≥ 0.90 of no guard (row 2)',
      measured: ratio(sqlite).toFixed(3),
      met: ratio(sqlite) >= 0.9,
    });
  if (open && postgres)
    checks.push({
      target: 'Warm throughput on PostgreSQL ≥ 0.85 of no guard (row 3)',
      measured: ratio(postgres).toFixed(3),
      met: ratio(postgres) >= 0.85,
    });
  for (const row of [sqlite, postgres]) {
    if (open && row) {
      const added = p99Added(row, open);
      checks.push({
        target: `p99 added latency < 1 ms at full load (row ${row.id})`,
        measured: `${added.toFixed(2)} ms (median window; pooled ${row.p99.toFixed(2)} vs ${open.p99.toFixed(2)})`,
        met: added < 1,
      });
    }
  }
  // Two guarded rows are compared through their paired ratios to row 1, not their req/s medians,
  // which were taken in different moments of a machine whose speed drifts.
  for (const row of [sqlite, postgres]) {
    if (open && passport && row) {
      checks.push({
        target: `Ahead of passport-headerapikey (row ${row.id} vs 5)`,
        measured: `${ratio(row).toFixed(3)} vs ${ratio(passport).toFixed(3)} of no guard (${Math.round(row.rps)} vs ${Math.round(passport.rps)} req/s)`,
        met: ratio(row) > ratio(passport),
      });
    }
  }
  for (const [big, small] of [
    ['7a', '2'],
    ['7b', '3'],
  ]) {
    const b = rows.get(big);
    const s = rows.get(small);
    if (open && b && s) {
      // Paired window by window with the 1,000-key row where it was measured so; else through row 1.
      const change = (b.against?.id === small ? b.against.ratio : ratio(b) / ratio(s)) - 1;
      checks.push({
        target: `${integer(SCALE_KEYS)} keys within 10% of ${integer(BASE_KEYS)} (row ${big} vs ${small})`,
        measured: `${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)}%`,
        met: Math.abs(change) <= 0.1,
      });
    }
  }
  return checks;
}

const integer = (n: number) => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const startedAt = new Date();
  const load0 = os.loadavg()[0];
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
  console.log(`nestjs-api-key bench: ${machine}; load average ${load0.toFixed(2)} at start.`);
  console.log(
    `Throughput rows: ${WARMUP} s warm-up each (discarded), then ${DURATION} s in windows of ${WINDOW} s alternating with row 1's, ${CONNECTIONS} connections, GET ${BENCH_ROUTE} on 127.0.0.1.\n`,
  );

  const rows = new Map<string, BenchRow>();
  const attacks: AttackResult[] = [];
  let cold: ColdPathResult | undefined;
  let memo: MemoMemoryReport | undefined;
  let latency: BenchRow[] = [];
  let roundTrip: RoundTripResult | undefined;
  let postgresForRoundTrips: { options: Record<string, unknown>; prefix: string } | undefined;
  const notes: string[] = [];
  const apps: RunningApp[] = [];
  const boot = async (scenario: BenchScenario, label: string) => {
    process.stdout.write(`  starting ${label} ... `);
    const app = await startApp(scenario, label);
    apps.push(app);
    console.log(
      app.seedMs === undefined
        ? 'ready'
        : `ready (${integer(scenario.guard === 'api-key' ? scenario.keys : 0)} keys seeded in ${(app.seedMs / 1000).toFixed(1)} s)`,
    );
    return app;
  };

  try {
    const targets: Target[] = [];
    const pairedWith = (id: string) => (targets.some((t) => t.id === id) ? id : undefined);
    const needSqlite = wanted('2') || wanted('8');
    if (wanted('1'))
      targets.push({ id: '1', label: 'No guard', app: await boot({ guard: 'none' }, 'no guard') });
    if (wanted('1d'))
      targets.push({
        id: '1d',
        label: 'No check, answered two event-loop turns later',
        app: await boot({ guard: 'deferred' }, 'deferred guard'),
      });
    const sqlite = needSqlite
      ? await boot(
          { guard: 'api-key', db: sqliteDb('sqlite-1k'), hasher: 'bcrypt', keys: BASE_KEYS },
          'ApiKeyGuard on SQLite',
        )
      : null;
    if (sqlite && wanted('2')) {
      targets.push({
        id: '2',
        label: 'ApiKeyGuard, bcrypt, SQLite',
        keys: BASE_KEYS,
        app: sqlite,
        headers: apiKeyHeaders(sqlite.key!),
      });
      const rotation = await createKeys(sqlite, ROTATION_KEYS);
      targets.push({
        id: '2m',
        label: `ApiKeyGuard, SQLite, ${ROTATION_KEYS} keys in turn`,
        keys: BASE_KEYS + ROTATION_KEYS,
        app: sqlite,
        setupRequest: rotating(rotation),
      });
    }
    if (wanted('3')) {
      const db = await postgresDb();
      const postgres = await boot(
        { guard: 'api-key', db, hasher: 'bcrypt', keys: BASE_KEYS },
        'ApiKeyGuard on PostgreSQL',
      );
      if (db.engine === 'postgres')
        postgresForRoundTrips = { options: db.options, prefix: parseKey(postgres.key, '')! };
      targets.push({
        id: '3',
        label: 'ApiKeyGuard, bcrypt, PostgreSQL',
        keys: BASE_KEYS,
        app: postgres,
        headers: apiKeyHeaders(postgres.key!),
      });
      const rotation = await createKeys(postgres, ROTATION_KEYS);
      targets.push({
        id: '3m',
        label: `ApiKeyGuard, PostgreSQL, ${ROTATION_KEYS} keys in turn`,
        keys: BASE_KEYS + ROTATION_KEYS,
        app: postgres,
        setupRequest: rotating(rotation),
      });
    }
    if (wanted('4')) {
      const hmac = await boot(
        { guard: 'api-key', db: sqliteDb('hmac-1k'), hasher: 'hmac', keys: BASE_KEYS },
        'ApiKeyGuard with HMAC on SQLite',
      );
      targets.push({
        id: '4',
        label: 'ApiKeyGuard, HMAC-SHA-256, SQLite',
        keys: BASE_KEYS,
        app: hmac,
        headers: apiKeyHeaders(hmac.key!),
      });
    }
    if (wanted('5')) {
      const key = randomBytes(24).toString('base64url');
      const passport = await boot({ guard: 'passport', key }, 'passport-headerapikey');
      targets.push({
        id: '5',
        label: 'passport-headerapikey, static key',
        app: passport,
        headers: { [STATIC_KEY_HEADER]: key },
      });
    }
    if (wanted('7')) {
      const big = await boot(
        { guard: 'api-key', db: sqliteDb('sqlite-scale'), hasher: 'bcrypt', keys: SCALE_KEYS },
        `ApiKeyGuard on SQLite, ${integer(SCALE_KEYS)} keys`,
      );
      // The target compares each scale row with its 1,000-key row: alternate them, not each with row 1.
      targets.push({
        id: '7a',
        label: `ApiKeyGuard, bcrypt, SQLite, ${integer(SCALE_KEYS)} keys`,
        keys: SCALE_KEYS,
        app: big,
        headers: apiKeyHeaders(big.key!),
        against: pairedWith('2'),
      });
      const bigPg = await boot(
        { guard: 'api-key', db: await postgresDb(), hasher: 'bcrypt', keys: SCALE_KEYS },
        `ApiKeyGuard on PostgreSQL, ${integer(SCALE_KEYS)} keys`,
      );
      targets.push({
        id: '7b',
        label: `ApiKeyGuard, bcrypt, PostgreSQL, ${integer(SCALE_KEYS)} keys`,
        keys: SCALE_KEYS,
        app: bigPg,
        headers: apiKeyHeaders(bigPg.key!),
        against: pairedWith('3'),
      });
    }
    if (targets.length > 0) {
      const measured = await measureAgainstBase(
        targets,
        targets.some((t) => t.id === '1') ? '1' : undefined,
      );
      for (const row of measured.rows) rows.set(row.id, row);
      for (const id of ['2', '3', '7a', '7b']) {
        const ratios = measured.windowRatios.get(id);
        const against = rows.get(id)?.against?.id ?? '1';
        if (ratios?.length)
          notes.push(
            `Row ${id} against row ${against}, window by window: ${ratios.map((r) => r.toFixed(2)).join(', ')}.`,
          );
      }
    }
    if (wanted('l')) {
      const fixed = targets
        .filter((t) => ['1', '2', '3', '5'].includes(t.id))
        .map((t): Target => ({
          ...t,
          id: `L${t.id}`,
          label: `${t.label}, one request at a time`,
          connections: LATENCY_CONNECTIONS,
        }));
      if (fixed.length > 0) {
        console.log('  Latency, one request at a time:');
        latency = (
          await measureAgainstBase(fixed, fixed.some((t) => t.id === 'L1') ? 'L1' : undefined)
        ).rows;
      }
      if (postgresForRoundTrips) {
        process.stdout.write(
          `  PostgreSQL round trips, one at a time, ${ROUND_TRIP_SECONDS} s ... `,
        );
        roundTrip = await postgresRoundTrips(
          postgresForRoundTrips.options,
          postgresForRoundTrips.prefix,
          ROUND_TRIP_SECONDS,
        );
        console.log(`p50 ${roundTrip.p50.toFixed(2)} ms, p99 ${roundTrip.p99.toFixed(2)} ms`);
      }
    }
    if (sqlite && wanted('8')) {
      process.stdout.write(`  8a. cold path: ${COLD_SAMPLES} new keys ... `);
      cold = await coldPath(sqlite);
      console.log(
        `first request median ${cold.firstMs.median.toFixed(1)} ms, second ${cold.secondMs.median.toFixed(1)} ms`,
      );
      attacks.push(
        await underAttack(
          '8b',
          `SQLite, ${ATTACK_RATE}/s wrong secrets for its prefix (one secret)`,
          sqlite,
          false,
          'warm',
        ),
      );
      attacks.push(
        await underAttack(
          '8c',
          `SQLite, ${ATTACK_RATE}/s wrong secrets for its prefix (new each time)`,
          sqlite,
          true,
          'warm',
        ),
      );
      attacks.push(
        await underAttack(
          '8d',
          `SQLite, ${ATTACK_RATE}/s wrong secrets for an unused key's prefix (new each time)`,
          sqlite,
          true,
          'cold',
        ),
      );
    }
  } finally {
    await Promise.all(apps.map((app) => app.stop()));
    await cleanupDatabases();
  }

  if (wanted('6')) {
    const key = generateKey().key;
    const hashedKey = await bcrypt.hash(key, 10);
    await withApp({ guard: 'naive-bcrypt', hashedKey }, 'naive', async (app) => {
      rows.set(
        '6',
        await measureOnce({
          id: '6',
          label: 'Naive bcrypt.compare per request (cost 10)',
          app,
          headers: { [STATIC_KEY_HEADER]: key },
        }),
      );
    });
  }
  if (wanted('m')) {
    process.stdout.write(`  memo memory for ${integer(MEMO_KEYS)} keys ... `);
    memo = await measureMemo(sqliteDb('memo'));
    console.log(
      `${((memo.servicePath.heapBytes + memo.servicePath.externalBytes) / 2 ** 20).toFixed(1)} MiB through the service`,
    );
  }

  const deferred = rows.get('1d');
  const open = rows.get('1');
  if (deferred && open) {
    const against = ['2', '3', '4', '7a', '7b']
      .filter((id) => rows.has(id))
      .map(
        (id) => `row ${id} ${(ratioOf(rows.get(id)!, open) / ratioOf(deferred, open)).toFixed(2)}`,
      );
    if (against.length > 0) {
      notes.push(
        `Row 1d checks nothing but answers two event-loop turns late, as the key lookup does, and serves ${ratioOf(deferred, open).toFixed(2)} of row 1: deferring the answer is itself faster here. Against row 1d instead of row 1 (ratio over its ratio): ${against.join(', ')}.`,
      );
    }
  }
  const order = ['1', '1d', '2', '2m', '3', '3m', '4', '5', '6', '7a', '7b'];
  const ordered = order.filter((id) => rows.has(id)).map((id) => rows.get(id)!);
  const failed = [...ordered, ...attacks.map((a) => a.row)].filter((r) => r.failures > 0);
  for (const row of failed)
    notes.push(
      `Row ${row.id} had ${row.failures} failed requests (non-2xx or socket errors): its figures are not valid.`,
    );
  const load1 = os.loadavg()[0];
  notes.push(
    `Load average ${load0.toFixed(2)} at the start, ${load1.toFixed(2)} at the end. With 2 cores the app and autocannon take about one each; a figure well above 2 means something else was running.`,
  );
  notes.push(
    "Latency percentiles are of 2xx answers only, from autocannon's per-response timings at full precision (its own histogram rounds to whole milliseconds).",
  );
  notes.push(
    'App CPU µs/req is the user + system CPU time of the app process during the measured windows, divided by the answers it gave.',
  );

  if (!rows.has('1'))
    throw new Error(
      'Row 1 (no guard) is the baseline every ratio needs; include it in BENCH_ONLY.',
    );
  const report: BenchReport = {
    startedAt: startedAt.toISOString(),
    machine,
    settings: `Nest 12 + Express, one app per child process, GET ${BENCH_ROUTE} returning the same JSON in every app; autocannon ${CONNECTIONS} connections from the parent process. Throughput rows: each row's app gets ${WARMUP} s of load (discarded), then the row is measured in ${Math.round(DURATION / WINDOW)} windows of ${WINDOW} s alternating with row 1's (1, X, 1, X, ... 1, each window a fresh autocannon run); req/s is the median window, the ratio the median over the row's windows of its req/s over the mean of the row-1 windows either side, and p99 added the median of its p99 minus theirs; the p50 and p99 columns and CPU are pooled over the row's windows. Rows 7a and 7b alternate with rows 2 and 3 instead, as the scale target compares those; their ratio to no guard is row 2's (or 3's) times theirs to it. Keys presented as \`Authorization: Api-Key <key>\` (ApiKeyGuard) or \`X-Api-Key\` (rows 5, 6). Default \`ApiKeyModule.forRoot({})\` options unless the row says otherwise; SQLite is a file database with TypeORM's defaults (rollback journal).`,
    rows: ordered,
    cold,
    attacks,
    memo,
    latency,
    roundTrip,
    targets: checkTargets(rows, latency),
    notes,
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'results.md'), renderMarkdown(report));
  writeFileSync(path.join(outDir, 'results.svg'), renderSvg(report));
  console.log(`\n${renderConsoleTable(report)}\n`);
  for (const check of report.targets)
    console.log(`${check.met ? 'met    ' : 'NOT MET'}  ${check.target}: ${check.measured}`);
  for (const note of notes.slice(0, 2)) console.log(note);
  console.log(
    `\nWrote ${path.relative(process.cwd(), path.join(outDir, 'results.md'))} and results.svg.`,
  );
  if (failed.length > 0) process.exitCode = 1;
}

async function cleanupDatabases(): Promise<void> {
  for (const db of databases.splice(0)) await db.drop();
}

main()
  .catch((error: Error) => {
    console.error(`\nbench failed: ${error?.stack ?? error}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
