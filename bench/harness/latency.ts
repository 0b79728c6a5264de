/**
 * Requests timed one at a time: single GETs with a key, the cold path of brand-new keys, and
 * bare PostgreSQL round trips with no app in between.
 */
import { createRequire } from 'node:module';
import { createKeys, type RunningApp } from '../apps/apps.js';
import { apiKeyHeaders } from './load.js';
import type { ColdPathResult, RoundTripResult } from '../report/measurements.js';
import { COLD_SAMPLES } from './settings.js';
import { LatencyLog, median, percentile } from './stats.js';

interface PgClient {
  connect(): Promise<void>;
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
  end(): Promise<void>;
}
// pg ships no types and this is its only direct use here: the few calls it needs are typed above.
const pg = createRequire(import.meta.url)('pg') as {
  Client: new (config: Record<string, unknown>) => PgClient;
};

/** The status of one GET with a key (a refused request is an answer here, not an error). */
export async function statusOf(url: string, key: string): Promise<number> {
  const response = await fetch(url, { headers: apiKeyHeaders(key) });
  await response.arrayBuffer();
  return response.status;
}

/** One GET with a key, timed from send to full response. */
export async function timed(url: string, key: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const status = await statusOf(url, key);
  return { status, ms: performance.now() - started };
}

/**
 * One GET with a key that must be let through, timed.
 * @throws Error when the answer is not 200.
 */
async function timedGet(url: string, key: string): Promise<number> {
  const { status, ms } = await timed(url, key);
  if (status !== 200) throw new Error(`cold path: expected 200, got ${status}`);
  return ms;
}

/** Time to the first successful request of brand-new keys, one at a time, and of their second. */
export async function coldPath(app: RunningApp): Promise<ColdPathResult> {
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

/**
 * Bare round trips to the bench's PostgreSQL, one at a time, from this process with no app in
 * between: `pg` running a named prepared SELECT of one key row by prefix, the kind of read the
 * guard makes. The floor under what a guard that reads its row on every request can add.
 * @throws Error when the key row with `prefix` is not there.
 */
export async function postgresRoundTrips(
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
