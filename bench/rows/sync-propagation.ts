/**
 * Rows 12a (PostgreSQL, LISTEN/NOTIFY) and 12b (MariaDB, the polled change counter): how long a
 * revocation made through one instance takes to be refused by another, and whether the other
 * ever lets the key through again once it has refused it.
 */
import { DEFAULT_POLL_INTERVAL } from '../../lib/options/resolve.js';
import { statusOf } from '../harness/latency.js';
import { REVOCATIONS } from '../harness/settings.js';
import { median, percentile } from '../harness/stats.js';
import {
  POSTGRES,
  lightLoad,
  prefixOf,
  servesFromMemory,
  warmKeys,
  warmOnBoth,
  type SyncPair,
} from './sync-pair.js';
import type { Percentiles, PropagationResult } from '../report/sync.js';

/** Past this, a revocation B still lets through counts as never refused. */
const GIVE_UP_MS = 5_000;
/** Requests sent to B for a key after its first 401, each of which must be refused too. */
const CHECKS_AFTER_REFUSAL = 10;
/** The target's allowance on top of the poll interval (MariaDB), or alone (PostgreSQL), ms. */
const PROPAGATION_ALLOWANCE_MS = 50;

/** One revocation: what it took until B refused the key, and B's answers after that. */
interface Timed {
  ms: number;
  revokeMs: number;
  polls: number;
  stale: number;
}

/** Revokes `key` through A while asking B for it back to back; then asks B some more. */
async function timeOneRevocation(pair: SyncPair, key: string): Promise<Timed> {
  await warmOnBoth(pair, key);
  const asked = performance.now();
  const acknowledged = pair.a
    .request({ type: 'revoke-key', prefix: prefixOf(key) })
    .then(() => performance.now() - asked);
  let polls = 0;
  let ms = Number.POSITIVE_INFINITY;
  while (performance.now() - asked < GIVE_UP_MS) {
    polls++;
    if ((await statusOf(pair.b.url, key)) === 401) {
      ms = performance.now() - asked;
      break;
    }
  }
  const revokeMs = await acknowledged;
  let stale = 0;
  for (let i = 0; i < CHECKS_AFTER_REFUSAL && Number.isFinite(ms); i++)
    if ((await statusOf(pair.b.url, key)) === 200) stale++;
  return { ms, revokeMs, polls, stale };
}

/** Row 12a or 12b on a pair booted for it: REVOCATIONS revocations, timed one after another. */
export async function measurePropagation(pair: SyncPair, id: string): Promise<PropagationResult> {
  const boundMs =
    pair.engine === POSTGRES
      ? PROPAGATION_ALLOWANCE_MS
      : DEFAULT_POLL_INTERVAL + PROPAGATION_ALLOWANCE_MS;
  process.stdout.write(
    `  ${id}. propagation on ${pair.engine.name}: ${REVOCATIONS} revocations through A, B asked until it refuses ... `,
  );
  const started = performance.now();
  const servedFromMemory = await servesFromMemory(pair);
  const keys = await warmKeys(pair, REVOCATIONS);
  const background = lightLoad(pair.b);
  const timed: Timed[] = [];
  const finished = (async () => {
    for (const key of keys) timed.push(await timeOneRevocation(pair, key));
  })();
  // The load stops whatever happened, before a failure is passed on.
  await finished.catch(() => {});
  const load = await background.stop();
  await finished;
  let staleAtEnd = 0;
  for (const key of keys) if ((await statusOf(pair.b.url, key)) === 200) staleAtEnd++;
  const refused = timed.filter((t) => Number.isFinite(t.ms));
  const spread = (times: number[]): Percentiles => {
    const sorted = Float64Array.from(times).sort();
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1)! };
  };
  const result: PropagationResult = {
    id,
    engine: pair.engine.name,
    boundMs,
    revocations: timed.length,
    refused: refused.length,
    ms: spread(timed.map((t) => t.ms)),
    afterRevoke: spread(timed.map((t) => Math.max(0, t.ms - t.revokeMs))),
    revokeMedianMs: median(timed.map((t) => t.revokeMs)),
    pollsMedian: median(timed.map((t) => t.polls)),
    staleAfterRefusal: timed.reduce((n, t) => n + t.stale, 0),
    checksAfterRefusal: refused.length * CHECKS_AFTER_REFUSAL,
    staleAtEnd,
    servedFromMemory,
    background: load,
  };
  console.log(
    `after the revoke: p50 ${result.afterRevoke.p50.toFixed(1)} ms, p99 ${result.afterRevoke.p99.toFixed(1)} ms, max ${result.afterRevoke.max.toFixed(1)} ms; ${result.staleAfterRefusal} stale after 401, ${staleAtEnd} at end (${((performance.now() - started) / 1000).toFixed(0)} s)`,
  );
  return result;
}
