/**
 * Rows 12c (PostgreSQL) and 12d (MariaDB): instance B's change channel cut mid-run, keys
 * revoked while it is down, and every answer B gives for them counted; a 200 is a pass, and the
 * target is none. PostgreSQL: the listening connections are killed with `pg_terminate_backend`
 * (A's and B's: the bench cannot tell them apart, and A only revokes). MariaDB: the change
 * counter is renamed away, so B's polls fail, and its update trigger dropped, so the revocations
 * move no counter when it is back (as the e2e test of the poller does).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { runStatements } from '../lib/api-key.migration-sql.js';
import { DEFAULT_POLL_INTERVAL } from '../lib/api-key.revocation-sync-setup.js';
import { changeTriggerStatements } from '../lib/api-key.revocation-sync-sql.js';
import { statusOf } from './latency.js';
import { OUTAGE_ROUNDS } from './settings.js';
import {
  POSTGRES,
  lightLoad,
  listenerPids,
  prefixOf,
  servesFromMemory,
  waitUntil,
  warmKeys,
  warmOnBoth,
  type SyncPair,
} from './sync-pair.js';
import type { OutageResult } from './sync-report.js';

/** Keys revoked per outage: half through A's service, half by SQL. */
const KEYS_PER_ROUND = 4;
/** How long B is asked for the revoked keys while its channel is down (or coming back). */
const CHECK_MS = 500;

/** How one engine's channel is cut and restored, and how SQL revokes a key meanwhile. */
interface ChannelCut {
  description: string;
  cut(): Promise<void>;
  revokeBySql(prefix: string): Promise<void>;
  restore(): Promise<void>;
}

/** PostgreSQL: kill the listening connections; the instances reconnect on their own. */
function postgresCut(pair: SyncPair): ChannelCut {
  return {
    description:
      '`pg_terminate_backend` of the listening connections; half the keys revoked with triggers off (`session_replication_role = replica`)',
    async cut() {
      const killed = await listenerPids(pair.sql);
      for (const pid of killed) await pair.sql.query('SELECT pg_terminate_backend($1)', [pid]);
      // The revocations come once the backends are gone, so that their sockets are closed.
      await waitUntil('the killed listeners gone', async () => {
        const left = await pair.sql.query('SELECT pid FROM pg_stat_activity WHERE pid = ANY($1)', [
          killed,
        ]);
        return left.length === 0;
      });
    },
    revokeBySql: (prefix) => pair.revokeUnnotified(prefix),
    restore: () => pair.channelsUp(),
  };
}

/** MariaDB: rename the change counter away (polls fail), and drop the update trigger. */
function mariadbCut(pair: SyncPair): ChannelCut {
  return {
    description:
      'change counter renamed away (polls fail) and the update trigger dropped, 3 poll intervals later; half the keys revoked by plain SQL `UPDATE`',
    async cut() {
      await pair.sql.query('ALTER TABLE api_keys_changes RENAME TO api_keys_changes_away');
      await sleep(3 * DEFAULT_POLL_INTERVAL);
      await pair.sql.query('DROP TRIGGER api_keys_notify_change');
    },
    revokeBySql: async (prefix) => {
      await pair.sql.query('UPDATE api_keys SET revoked_at = now() WHERE prefix = ?', [prefix]);
    },
    async restore() {
      await pair.sql.query('ALTER TABLE api_keys_changes_away RENAME TO api_keys_changes');
      const runner = pair.sql.createQueryRunner();
      try {
        await runStatements(runner, await changeTriggerStatements(runner, 'api_keys'));
      } finally {
        await runner.release();
      }
      await pair.channelsUp();
    },
  };
}

/** Asks B for `keys` in turn for CHECK_MS, adding every answer to `result`. */
async function askWhileDown(pair: SyncPair, keys: string[], result: OutageResult): Promise<void> {
  const revokedAt = performance.now();
  for (let i = 0; performance.now() - revokedAt < CHECK_MS; i++) {
    const status = await statusOf(pair.b.url, keys[i % keys.length]);
    record(result, status, performance.now() - revokedAt);
  }
}

function record(result: OutageResult, status: number, ms: number): void {
  result.checks++;
  result.statuses[status] = (result.statuses[status] ?? 0) + 1;
  if (status === 200) result.passes.push(ms);
}

/** One outage: warm the keys, cut, revoke, ask B, restore, ask B once more. */
async function oneOutage(
  pair: SyncPair,
  channel: ChannelCut,
  keys: string[],
  result: OutageResult,
): Promise<void> {
  for (const key of keys) await warmOnBoth(pair, key);
  const cutAt = performance.now();
  await channel.cut();
  const half = keys.length / 2;
  for (const key of keys.slice(0, half))
    await pair.a.request({ type: 'revoke-key', prefix: prefixOf(key) });
  for (const key of keys.slice(half)) await channel.revokeBySql(prefixOf(key));
  result.revoked += keys.length;
  await askWhileDown(pair, keys, result);
  await channel.restore();
  result.backMs.push(performance.now() - cutAt);
  const restoredAt = performance.now();
  for (const key of keys)
    record(result, await statusOf(pair.b.url, key), performance.now() - restoredAt);
}

/** Row 12c or 12d on a pair booted for it: OUTAGE_ROUNDS outages under a light load on B. */
export async function measureOutage(pair: SyncPair, id: string): Promise<OutageResult> {
  const channel = pair.engine === POSTGRES ? postgresCut(pair) : mariadbCut(pair);
  process.stdout.write(
    `  ${id}. change channel cut on ${pair.engine.name}: ${OUTAGE_ROUNDS} outages, ${KEYS_PER_ROUND} keys revoked in each ... `,
  );
  const result: OutageResult = {
    id,
    engine: pair.engine.name,
    cut: channel.description,
    rounds: OUTAGE_ROUNDS,
    revoked: 0,
    checks: 0,
    statuses: {},
    passes: [],
    backMs: [],
    servedFromMemory: await servesFromMemory(pair),
    background: { sent: 0, statuses: {} },
  };
  const keys = await warmKeys(pair, OUTAGE_ROUNDS * KEYS_PER_ROUND);
  const background = lightLoad(pair.b);
  const finished = (async () => {
    for (let round = 0; round < OUTAGE_ROUNDS; round++) {
      const start = round * KEYS_PER_ROUND;
      await oneOutage(pair, channel, keys.slice(start, start + KEYS_PER_ROUND), result);
    }
  })();
  // The load stops whatever happened, before a failure is passed on.
  await finished.catch(() => {});
  result.background = await background.stop();
  await finished;
  console.log(
    `${result.passes.length} passes in ${result.checks} requests for ${result.revoked} revoked keys`,
  );
  return result;
}
