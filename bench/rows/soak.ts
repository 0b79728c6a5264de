/**
 * The soak rows (Sa SQLite, Sb PostgreSQL): BENCH_SOAK_SECONDS of mixed traffic on a fresh
 * ApiKeyGuard app, with keys created, revoked and expiring while it runs. Every answer is judged
 * against the state its key was in while the request was in flight, and the app's memory is read
 * after forced collections at the start, at the end and in between.
 */
import http from 'node:http';
import { generateKey } from '../../lib/keys/format.js';
import { dropDatabases, postgresDb, sqliteDb, withApp, type RunningApp } from '../apps/apps.js';
import type { BenchDatabase, BenchScenario, MemoryUsage, ParentMessage } from '../apps/scenario.js';
import { BASE_KEYS, CONNECTIONS, SOAK_SECONDS, integer, wanted } from '../harness/settings.js';
import { SOAK_KINDS, type SoakKind, type SoakReport, type SoakResult } from '../report/soak.js';

/** Share of the requests of each kind: mostly valid keys, the rest refused for each reason in turn. */
const MIX: Record<SoakKind, number> = {
  valid: 0.6,
  unknown: 0.1,
  revoked: 0.1,
  expired: 0.1,
  attack: 0.1,
};
/** Valid keys presented in turn; each churn tick revokes one and creates another. */
const LIVE_KEYS = 20;
/** Keys revoked, and keys expired, before the traffic starts. */
const DEAD_KEYS = 5;
/** Seconds of the same traffic before the first memory reading, so the app is compiled and its memo filled. */
const SOAK_WARMUP = 10;
/** Seconds between churn ticks (one key created, one revoked). */
const CHURN_SECONDS = 2;
/** Every this many ticks, a key is created that expires a few seconds later, mid-traffic. */
const EXPIRING_EVERY = 5;
/** Seconds an expiring key made mid-run stays valid. */
const EXPIRING_AFTER = 5;
/** Memory readings after the first, evenly spaced over the run. */
const MEMORY_READINGS = 5;
/** Wrong answers kept verbatim for the console, beyond the count. */
const WRONG_EXAMPLES = 5;

/** A key the soak knows, with the moments its state changed (epoch ms, the app's clock too). */
interface SoakKey {
  key: string;
  expiresAt?: number;
  /** When the revocation was asked for, and when the app said it was done. */
  revoke?: { asked: number; done?: number };
}

/** The status a request for `known` must get (`either` while its key changed state in flight). */
function expectedStatus(known: SoakKey | undefined, sent: number, answered: number) {
  if (!known) return 401;
  const { expiresAt = Infinity, revoke } = known;
  // Refused for certain once the change happened before the request was sent; allowed for
  // certain when the answer came before the change could have begun.
  if (sent >= Math.min(expiresAt, revoke?.done ?? Infinity)) return 401;
  if (answered < Math.min(expiresAt, revoke?.asked ?? Infinity)) return 200;
  return 'either';
}

/** Everything one soak run shares: the app, its keys by state, and the tally of answers. */
class SoakRun {
  readonly live: SoakKey[] = [];
  readonly revoked: SoakKey[] = [];
  readonly expired: SoakKey[] = [];
  readonly tally: SoakResult['tally'] = {
    byKind: Object.fromEntries(SOAK_KINDS.map((kind) => [kind, {}])) as Record<
      SoakKind,
      Record<string, number>
    >,
    wrong: 0,
    lost: 0,
    atChange: 0,
  };
  readonly changes = { created: 0, revoked: 0, expired: 0 };
  readonly wrongExamples: string[] = [];
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  stopped = false;
  private conversation: Promise<unknown> = Promise.resolve();

  constructor(readonly app: RunningApp) {}

  /** One message to the app at a time: its answers are matched to questions by order. */
  ask(message: ParentMessage) {
    const answer = this.conversation.then(() => this.app.request(message));
    this.conversation = answer.catch(() => undefined);
    return answer;
  }

  /** New keys: `count` that never expire, or one that expires at `expiresAt` (epoch ms). */
  async create(count: number, expiresAt?: number): Promise<SoakKey[]> {
    const answer = await this.ask(
      expiresAt === undefined
        ? { type: 'create-keys', count }
        : { type: 'create-expiring-key', expiresAt },
    );
    if (answer.type !== 'keys') throw new Error(`soak: expected keys, got ${answer.type}`);
    return answer.keys.map((key) => ({ key, expiresAt }));
  }

  /** Revokes a live key through the app, noting when it was asked and when it was done. */
  async revokeOldest(): Promise<void> {
    const known = this.live.shift()!;
    this.revoked.push(known);
    known.revoke = { asked: Date.now() };
    const answer = await this.ask({ type: 'revoke-key', prefix: known.key.slice(0, 8) });
    if (answer.type !== 'revoked') throw new Error(`soak: expected revoked, got ${answer.type}`);
    known.revoke.done = Date.now();
  }

  /** The app's memory now, after forced collections. */
  async memory(): Promise<MemoryUsage> {
    const answer = await this.ask({ type: 'memory-usage' });
    if (answer.type !== 'usage') throw new Error(`soak: expected memory, got ${answer.type}`);
    return answer.usage;
  }
}

/** A request of each kind in MIX's proportions: the key it presents, and the known key it names. */
function pickRequest(run: SoakRun): { kind: SoakKind; key: string; known?: SoakKey } {
  let roll = Math.random();
  const kind = SOAK_KINDS.find((k) => (roll -= MIX[k]) < 0) ?? 'valid';
  const from = (pool: SoakKey[]) => pool[Math.floor(Math.random() * pool.length)];
  if (kind === 'unknown') return { kind, key: generateKey().key };
  if (kind === 'attack')
    return { kind, key: `${from(run.live).key.slice(0, 9)}${generateKey().key.slice(9)}` };
  const known = from(kind === 'valid' ? run.live : run[kind]);
  // A live key past its expiry is an expired one until the next churn tick moves it.
  const expired =
    kind === 'valid' && known.expiresAt !== undefined && known.expiresAt <= Date.now();
  return { kind: expired ? 'expired' : kind, key: known.key, known };
}

/** The status of one GET presenting `key`, or `null` when it got no answer (error or timeout). */
function statusOf(run: SoakRun, key: string): Promise<number | null> {
  return new Promise((resolve) => {
    const request = http.get(
      run.app.url,
      { agent: run.agent, headers: { authorization: `Api-Key ${key}` }, timeout: 10_000 },
      (response) => response.resume().on('end', () => resolve(response.statusCode ?? null)),
    );
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve(null));
  });
}

/** One request, its answer counted and judged against its key's state while it was in flight. */
async function sendOne(run: SoakRun): Promise<void> {
  const { kind, key, known } = pickRequest(run);
  const sent = Date.now();
  const status = await statusOf(run, key);
  const statuses = run.tally.byKind[kind];
  statuses[status ?? 'lost'] = (statuses[status ?? 'lost'] ?? 0) + 1;
  if (status === null) return void run.tally.lost++;
  const expected = expectedStatus(known, sent, Date.now());
  if (expected === 'either') run.tally.atChange++;
  else if (status !== expected) {
    run.tally.wrong++;
    if (run.wrongExamples.length < WRONG_EXAMPLES)
      run.wrongExamples.push(`${kind} key ${key.slice(0, 8)} got ${status}, expected ${expected}`);
  }
}

/** One churn tick: a key created and one revoked; now and then a key that expires soon after. */
async function churn(run: SoakRun, tick: number): Promise<void> {
  run.live.push(...(await run.create(1)));
  await run.revokeOldest();
  run.changes.created++;
  run.changes.revoked++;
  if (tick % EXPIRING_EVERY === 0) {
    run.live.push(...(await run.create(1, Date.now() + EXPIRING_AFTER * 1000)));
    run.changes.created++;
  }
  const now = Date.now();
  for (const known of run.live.filter((k) => k.expiresAt !== undefined && k.expiresAt <= now)) {
    run.live.splice(run.live.indexOf(known), 1);
    run.expired.push(known);
    run.changes.expired++;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Live keys, and keys already revoked and already expired, before any traffic. */
async function seedKeys(run: SoakRun): Promise<void> {
  run.live.push(...(await run.create(DEAD_KEYS)));
  for (let i = 0; i < DEAD_KEYS; i++) await run.revokeOldest();
  run.live.push(...(await run.create(LIVE_KEYS)));
  const expiresAt = Date.now() + 2_000;
  for (let i = 0; i < DEAD_KEYS; i++) run.expired.push(...(await run.create(1, expiresAt)));
  await sleep(expiresAt - Date.now());
}

/** Churn ticks until the run stops. */
async function churnUntilStopped(run: SoakRun): Promise<void> {
  for (let tick = 1; !run.stopped; tick++) {
    await sleep(CHURN_SECONDS * 1000);
    if (!run.stopped) await churn(run, tick);
  }
}

/** Memory read after the warm-up, then MEMORY_READINGS times evenly over SOAK_SECONDS (or until the run stops). */
async function readMemoryOverTheRun(run: SoakRun): Promise<SoakResult['samples']> {
  await sleep(SOAK_WARMUP * 1000);
  const samples: SoakResult['samples'] = [{ atSeconds: 0, usage: await run.memory() }];
  for (let i = 1; i <= MEMORY_READINGS && !run.stopped; i++) {
    await sleep((SOAK_SECONDS * 1000) / MEMORY_READINGS);
    samples.push({ atSeconds: (SOAK_SECONDS * i) / MEMORY_READINGS, usage: await run.memory() });
  }
  return samples;
}

/**
 * The traffic and the churn, from the warm-up to the last memory reading; then waits for every
 * request in flight.
 * @throws Error when the app fails to create or revoke a key, or to report its memory
 */
async function traffic(run: SoakRun): Promise<SoakResult['samples']> {
  const workers = Array.from({ length: CONNECTIONS }, async () => {
    while (!run.stopped) await sendOne(run);
  });
  const churning = churnUntilStopped(run);
  // A failed churn ends the run at once; its error is thrown once the requests in flight are in.
  churning.catch(() => (run.stopped = true));
  try {
    return await readMemoryOverTheRun(run);
  } finally {
    run.stopped = true;
    await Promise.all(workers);
    run.agent.destroy();
    await churning;
  }
}

/** Warm-up, then SOAK_SECONDS of traffic and churn on `app`, as soak row `id`. */
async function soakApp(app: RunningApp, id: string, label: string): Promise<SoakResult> {
  const run = new SoakRun(app);
  await seedKeys(run);
  const started = performance.now();
  const samples = await traffic(run);
  const seconds = (performance.now() - started) / 1000;
  const answered = Object.values(run.tally.byKind)
    .flatMap((statuses) => Object.entries(statuses))
    .reduce((sum, [status, count]) => sum + (status === 'lost' ? 0 : count), 0);
  const { tally, changes, wrongExamples } = run;
  const rps = answered / seconds;
  return {
    id,
    label,
    seconds,
    warmupSeconds: SOAK_WARMUP,
    answered,
    rps,
    tally,
    changes,
    wrongExamples,
    samples,
  };
}

/** One soak row on a fresh bcrypt ApiKeyGuard app, started with `--expose-gc`. */
async function soakRow(id: string, engine: string, db: BenchDatabase): Promise<SoakResult> {
  const label = `ApiKeyGuard, bcrypt, ${engine}, mixed traffic with keys revoked and expiring`;
  process.stdout.write(
    `  ${id}. soak on ${engine}: warm-up ${SOAK_WARMUP} s, ${SOAK_SECONDS} s of mixed traffic ... `,
  );
  const scenario: BenchScenario = {
    guard: 'api-key',
    db,
    hasher: 'bcrypt',
    keys: BASE_KEYS,
    exposeGc: true,
  };
  const result = await withApp(scenario, `soak ${engine}`, (app) => soakApp(app, id, label));
  const [first, last] = [result.samples[0].usage, result.samples.at(-1)!.usage];
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  console.log(
    `${Math.round(result.rps)} req/s, ${result.tally.wrong} wrong, ${result.tally.lost} lost; heap ${mib(first.heapUsed)} → ${mib(last.heapUsed)} MiB, RSS ${mib(first.rss)} → ${mib(last.rss)} MiB`,
  );
  for (const example of result.wrongExamples) console.log(`    wrong: ${example}`);
  return result;
}

/** How the soak rows were run, for the report. */
function describeSoak(): string {
  const share = (kind: SoakKind) => `${Math.round(MIX[kind] * 100)}%`;
  return `Each soak row boots a fresh app (bcrypt, ${integer(BASE_KEYS)} keys in the table, default options, started with \`--expose-gc\`) and sends it ${SOAK_WARMUP} s of warm-up then ${SOAK_SECONDS} s of mixed traffic from ${CONNECTIONS} connections, each sending its next request when the last is answered: ${share('valid')} valid keys (${LIVE_KEYS} in turn), ${share('unknown')} unknown prefixes, ${share('revoked')} revoked keys, ${share('expired')} expired keys and ${share('attack')} attack (a new wrong secret for a live key's prefix each time). Meanwhile, every ${CHURN_SECONDS} s a key is created and the oldest live key revoked through \`ApiKeyService.revoke\`, and every ${CHURN_SECONDS * EXPIRING_EVERY} s a key is created that expires ${EXPIRING_AFTER} s later. Each answer is judged against its key's state: 200 for a live key, 401 for everything else; a request sent after its key's revocation was acknowledged (or after it expired) must get 401, one answered before the revocation was asked for (or before expiry) 200, and one in flight across the change may get either. Memory is \`process.memoryUsage()\` of the app after three forced collections, read after the warm-up and ${MEMORY_READINGS} times evenly over the run.`;
}

/** Whether either soak row is wanted (`S` runs both). */
export const wantsSoakRows = (): boolean => wanted('Sa') || wanted('Sb');

/** The soak rows wanted (Sa on SQLite, Sb on PostgreSQL), each on its own app, one after the other. */
export async function measureSoaks(): Promise<SoakReport> {
  const results: SoakResult[] = [];
  if (wanted('Sa')) results.push(await soakRow('Sa', 'SQLite', sqliteDb('soak')));
  if (wanted('Sb')) {
    try {
      results.push(await soakRow('Sb', 'PostgreSQL', await postgresDb()));
    } finally {
      await dropDatabases();
    }
  }
  return { method: describeSoak(), rows: results };
}
