/** Driving an app with autocannon, and what the requests carry. */
import autocannon from 'autocannon';
import type { BenchRow } from '../report/measurements.js';
import { CONNECTIONS } from './settings.js';
import { LatencyLog, percentile } from './stats.js';

/** One load run: where, with what, how long, how hard. */
export interface LoadOptions {
  url: string;
  headers?: Record<string, string>;
  duration: number;
  connections?: number;
  overallRate?: number;
  setupRequest?: autocannon.Request['setupRequest'];
}

/** What a load run got back. */
export interface LoadResult {
  ok: number;
  failures: number;
  statuses: Record<string, number>;
  seconds: number;
  latencies: Float64Array;
}

/** One autocannon run, counting answers by status and logging 2xx latencies. */
export function load(options: LoadOptions): Promise<LoadResult> {
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

/** Every answer of a run, whatever its status. */
export const answeredCount = (result: LoadResult): number =>
  Object.values(result.statuses).reduce((a, b) => a + b, 0);

/** A report row from one load run. */
export function rowFromLoad(
  id: string,
  label: string,
  result: LoadResult,
  keys?: number,
): BenchRow {
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

/** The header ApiKeyGuard reads a key from. */
export const apiKeyHeaders = (key: string): Record<string, string> => ({
  authorization: `Api-Key ${key}`,
});

/** Requests that present `keys` in turn. */
export function rotating(keys: string[]): autocannon.Request['setupRequest'] {
  let next = 0;
  return (request) => ({
    ...request,
    headers: { ...request.headers, ...apiKeyHeaders(keys[next++ % keys.length]) },
  });
}
