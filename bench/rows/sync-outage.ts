/**
 * Rows 12c (PostgreSQL) and 12d (MariaDB): instance B's change channel cut mid-run, keys
 * revoked while it is down, and every answer B gives for them counted; a 200 is a pass, and the
 * target is none. PostgreSQL: B's listening connection is killed with `pg_terminate_backend`
 * (told from A's by its client port, which `ss` shows belongs to B's process). MariaDB: the change
 * counter is renamed away, so B's polls fail, and its update trigger dropped, so the revocations
 * move no counter when it is back (as the e2e test of the poller does).
 */
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { runStatements } from '../../lib/schema/sql.js';
import { LISTENER_APPLICATION_NAME } from '../../lib/change-feed/listener.js';
import { DEFAULT_POLL_INTERVAL } from '../../lib/options/resolve.js';
import { changeTriggerStatements } from '../../lib/change-feed/triggers.js';
import { statusOf } from '../harness/latency.js';
import { OUTAGE_ROUNDS } from '../harness/settings.js';
import {
  POSTGRES,
  lightLoad,
  listenerPids,
  prefixOf,
  servesFromMemory,
  warmKeys,
  warmOnBoth,
  type SyncPair,
} from './sync-pair.js';
import type { OutageResult } from '../report/sync.js';

const run = promisify(execFile);

/** Keys revoked per outage: half through A's service, half by SQL. */
const KEYS_PER_ROUND = 4;
/** How long B is asked for the revoked keys while its channel is down (or coming back). */
const CHECK_MS = 500;

/** How one engine's channel is cut and restored, and how SQL revokes a key meanwhile. */
interface ChannelCut {
  description: string;
  cut(): Promise<void>;
  revokeBySql(prefix: string): Promise<void>;
  /** Whether the channel is still down (PostgreSQL: no listener back yet). */
  stillDown(): Promise<boolean>;
  restore(): Promise<void>;
}

/** The local ports of `pid`'s TCP connections to `port` (from `ss`, which names each socket's process). */
async function localPortsOf(pid: number, port: number): Promise<Set<number>> {
  const { stdout } = await run('ss', ['-Htnp', 'state', 'established', `( dport = :${port} )`]);
  const ports = new Set<number>();
  for (const line of stdout.split('\n').filter((l) => l.includes(`pid=${pid},`))) {
    const local = line.trim().split(/\s+/)[2];
    ports.add(Number(local?.slice(local.lastIndexOf(':') + 1)));
  }
  return ports;
}

/**
 * The backend pids of B's listening connections, told from A's by their client port, which
 * `ss` shows belongs to B's process.
 */
async function listenersOfB(pair: SyncPair): Promise<number[]> {
  const port = Number((pair.sql.options as { port?: number }).port ?? 5432);
  const ports = await localPortsOf(pair.b.child.pid!, port);
  const rows: Array<{ pid: number; client_port: number }> = await pair.sql.query(
    'SELECT pid, client_port FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
    [LISTENER_APPLICATION_NAME],
  );
  return rows.filter((row) => ports.has(row.client_port)).map((row) => row.pid);
}

/**
 * Kills every listening connection but A's as soon as it shows, until stopped: B's first retry
 * comes 100 ms after the loss, sooner than a busy machine revokes four keys, so the outage is
 * held for as long as the round needs it.
 */
function holdDown(pair: SyncPair, keep: number[]): { stop(): Promise<void> } {
  let holding = true;
  const loop = (async () => {
    while (holding) {
      await pair.sql.query(
        'SELECT pg_terminate_backend(pid, 1000) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> ALL($2)',
        [LISTENER_APPLICATION_NAME, keep],
      );
      await sleep(5);
    }
  })();
  return {
    async stop() {
      holding = false;
      await loop;
    },
  };
}

/** PostgreSQL: kill B's listening connection, and every one it opens until the round is over. */
function postgresCut(pair: SyncPair): ChannelCut {
  // A's listener is left alone: any other listener afterwards is B's, back.
  let others: number[] = [];
  let held: { stop(): Promise<void> } | undefined;
  return {
    description:
      "`pg_terminate_backend` of B's listening connection, and of each it reconnects until the round ends; half the keys revoked with triggers off (`session_replication_role = replica`)",
    async cut() {
      const killed = await listenersOfB(pair);
      if (killed.length !== 1)
        throw new Error(`expected one listening connection of B, found ${killed.length}`);
      others = (await listenerPids(pair.sql)).filter((pid) => pid !== killed[0]);
      // Waits up to 1 s for the backend to exit, so that its socket is closed when the revocations come.
      const [{ gone }] = await pair.sql.query('SELECT pg_terminate_backend($1, 1000) AS gone', [
        killed[0],
      ]);
      if (!gone) throw new Error("B's listening connection did not end within 1 s");
      held = holdDown(pair, others);
    },
    revokeBySql: (prefix) => pair.revokeUnnotified(prefix),
    stillDown: async () => (await listenerPids(pair.sql)).every((pid) => others.includes(pid)),
    async restore() {
      await held?.stop();
      await pair.channelsUp();
    },
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
    // Held down until restored.
    stillDown: async () => true,
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
  // At once, so they land while B is still reconnecting (its first retry is 100 ms after the loss).
  await Promise.all([
    (async () => {
      for (const key of keys.slice(0, half))
        await pair.a.request({ type: 'revoke-key', prefix: prefixOf(key) });
    })(),
    ...keys.slice(half).map((key) => channel.revokeBySql(prefixOf(key))),
  ]);
  result.revoked += keys.length;
  if (await channel.stillDown()) result.revokedWhileDown += keys.length;
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
  const started = performance.now();
  const result: OutageResult = {
    id,
    engine: pair.engine.name,
    cut: channel.description,
    rounds: OUTAGE_ROUNDS,
    revoked: 0,
    revokedWhileDown: 0,
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
    `${result.passes.length} passes in ${result.checks} requests for ${result.revoked} revoked keys (${((performance.now() - started) / 1000).toFixed(0)} s)`,
  );
  return result;
}
