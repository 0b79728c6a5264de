/**
 * Rows 12e (PostgreSQL) and 12f (MariaDB): instance B reaches the database through a proxy that
 * the row turns into a black hole mid-run (every byte held both ways, new connections accepted
 * and never answered: nothing is refused or reset), with B's keys warm. Keys are revoked through
 * A at set times into the cut, and B is asked for them and for a live key until well past the
 * point where its change channel declares the connection lost. What is timed: the last request
 * B answered from memory after the cut, the passes of revoked keys, and how soon B serves again
 * once the link heals.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_MAX_STALENESS } from '../../lib/options/resolve.js';
import { startStallingProxy, type StallingProxy } from '../../test/support/stalling-proxy.js';
import type { AppPool } from '../apps/apps.js';
import type { BenchDatabase } from '../apps/scenario.js';
import { statusOf } from '../harness/latency.js';
import { OUTAGE_ROUNDS } from '../harness/settings.js';
import type { BlackHoleResult } from '../report/sync.js';
import {
  prefixOf,
  servesFromMemory,
  startSyncPair,
  waitUntil,
  warmKeys,
  type SyncEngine,
  type SyncPair,
} from './sync-pair.js';

/** When, in ms after the cut, A revokes one key each: inside the lease and past it. */
const REVOKE_OFFSETS = [0, 100, 200, 300, 600];
/** How long B is asked after the cut: past its ping or poll timeout (1 s), when it declares the channel lost. */
const ASK_MS = 1_500;
/** Pace of the asks, for each key. */
const ASK_EVERY = 25;

/** A request sent to B during the cut: which key, when it left and came back (ms after the cut), its status. */
interface Ask {
  key: number;
  sentMs: number;
  answeredMs: number;
  status: number;
}

/** Routes `db` through a new proxy in front of its server. */
async function behindProxy(db: BenchDatabase, proxies: StallingProxy[]): Promise<BenchDatabase> {
  if (db.engine === 'sqlite') throw new Error('row 12e/12f needs a database server');
  const { host, port } = db.options as { host: string; port: number };
  const proxy = await startStallingProxy({ host, port });
  proxies.push(proxy);
  return { ...db, options: { ...db.options, host: proxy.host, port: proxy.port } };
}

/** Asks B for `keys` every ASK_EVERY ms for ASK_MS after `cutAt`, without waiting for answers. */
async function askThroughCut(pair: SyncPair, keys: string[], cutAt: number): Promise<Ask[]> {
  const asks: Array<Promise<Ask>> = [];
  while (performance.now() - cutAt < ASK_MS) {
    keys.forEach((key, index) => {
      const sentMs = performance.now() - cutAt;
      asks.push(
        statusOf(pair.b.url, key)
          .catch(() => 0)
          .then((status) => ({
            key: index,
            sentMs,
            answeredMs: performance.now() - cutAt,
            status,
          })),
      );
    });
    await sleep(ASK_EVERY);
  }
  return Promise.all(asks);
}

/** One cut: warm the keys, black-hole the link, revoke on schedule, ask B, heal, ask again. */
async function oneCut(pair: SyncPair, proxy: StallingProxy, result: BlackHoleResult) {
  // Key 0 stays live; key i + 1 is revoked REVOKE_OFFSETS[i] ms into the cut.
  const keys = await warmKeys(pair, 1 + REVOKE_OFFSETS.length);
  const cutAt = performance.now();
  proxy.stall();
  const revokedMs: number[] = [];
  // One at a time: A answers its IPC requests in turn, not by id.
  const revocations = (async () => {
    for (const [i, offset] of REVOKE_OFFSETS.entries()) {
      await sleep(offset - (performance.now() - cutAt));
      await pair.a.request({ type: 'revoke-key', prefix: prefixOf(keys[i + 1]) });
      revokedMs[i + 1] = performance.now() - cutAt;
    }
  })();
  const [asks] = await Promise.all([askThroughCut(pair, keys, cutAt), revocations]);
  for (const ask of asks) {
    result.checks++;
    result.statuses[ask.status] = (result.statuses[ask.status] ?? 0) + 1;
    if (ask.status !== 200) continue;
    if (ask.key === 0) {
      result.lastServedSentMs = Math.max(result.lastServedSentMs, ask.sentMs);
      result.lastServedAnsweredMs = Math.max(result.lastServedAnsweredMs, ask.answeredMs);
    } else if (ask.sentMs > revokedMs[ask.key]) {
      result.passes.push({ revokedMs: revokedMs[ask.key], sentMs: ask.sentMs });
    }
  }
  const healedAt = performance.now();
  proxy.resume();
  await waitUntil('B letting the live key in again', async () => {
    return (await statusOf(pair.b.url, keys[0])) === 200;
  });
  result.backMs.push(performance.now() - healedAt);
  for (const key of keys.slice(1))
    if ((await statusOf(pair.b.url, key)) === 200) result.staleAfterHealing++;
  await pair.channelsUp();
}

/** Row 12e or 12f on a pair of its own, B behind a proxy: OUTAGE_ROUNDS black-hole cuts. */
export async function measureBlackHole(
  boot: AppPool['boot'],
  engine: SyncEngine,
  id: string,
): Promise<BlackHoleResult> {
  const proxies: StallingProxy[] = [];
  const pair = await startSyncPair(boot, engine, (db) => behindProxy(db, proxies));
  try {
    process.stdout.write(
      `  ${id}. black hole between B and ${engine.name}: ${OUTAGE_ROUNDS} cuts, ${REVOKE_OFFSETS.length} keys revoked in each ... `,
    );
    const result: BlackHoleResult = {
      id,
      engine: engine.name,
      rounds: OUTAGE_ROUNDS,
      maxStaleness: DEFAULT_MAX_STALENESS,
      revokeOffsets: REVOKE_OFFSETS,
      checks: 0,
      statuses: {},
      lastServedSentMs: -1,
      lastServedAnsweredMs: -1,
      passes: [],
      staleAfterHealing: 0,
      backMs: [],
      servedFromMemory: await servesFromMemory(pair),
    };
    for (let round = 0; round < OUTAGE_ROUNDS; round++) await oneCut(pair, proxies[0], result);
    console.log(
      `last served from memory ${result.lastServedSentMs.toFixed(0)} ms after the cut; ${result.passes.length} passes`,
    );
    return result;
  } finally {
    proxies.forEach((proxy) => proxy.resume());
    await pair.close();
    await Promise.all(proxies.map((proxy) => proxy.close()));
  }
}
