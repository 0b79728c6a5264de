/**
 * `npm run bench:instructions`: what ApiKeyGuard adds to a whole HTTP request, counted in
 * instructions by valgrind's callgrind instead of timed, so that it repeats within a few per cent
 * on a busy or noisy machine, where the same-process throughput rows (11a–11d) move by a tenth
 * from run to run.
 *
 * For each mode (PostgreSQL, 1,000 keys, bcrypt; the default per-request read and notify mode),
 * the bench app with its open route runs under callgrind with counting off. After a warm-up of
 * both routes, counting goes on and windows alternate between the open route (`@SkipApiKey()`)
 * and the guarded one, 10 requests in flight, both sent the same key; the app's main thread is
 * counted per window (`callgrind_control --dump`). Printed: each pair's guarded minus open
 * instructions per request, their median (the upper middle of an even count, as elsewhere in the
 * bench), and the open request's own count.
 *
 * Environment: INSTRUCTIONS_REQUESTS requests per window (default 4000), INSTRUCTIONS_WARMUP
 * requests per route before counting (default 10000), INSTRUCTIONS_PAIRS pairs of windows
 * (default 4), INSTRUCTIONS_MODES (default `read,notify`). Needs valgrind (`apt-get install -y
 * valgrind`); takes about 8 minutes per mode.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { cleanup, postgresDb, startApp, type RunningApp } from '../apps/apps.js';
import { BENCH_ROUTE, OPEN_ROUTE } from '../apps/scenario.js';
import { BASE_KEYS, integer, positiveFromEnv } from './settings.js';
import { median } from './stats.js';

const REQUESTS = positiveFromEnv('INSTRUCTIONS_REQUESTS', 4000);
const WARMUP = positiveFromEnv('INSTRUCTIONS_WARMUP', 10_000);
const PAIRS = positiveFromEnv('INSTRUCTIONS_PAIRS', 4);
const MODES = (process.env.INSTRUCTIONS_MODES ?? 'read,notify').split(',');
const IN_FLIGHT = 10;

/** Counts of one mode: instructions per request of the main thread, window by window. */
interface ModeCounts {
  open: number[];
  guarded: number[];
}

/** Sends `count` GETs to `route`, `IN_FLIGHT` at a time, reading every body; throws on any non-200. */
async function drive(app: RunningApp, route: string, count: number): Promise<void> {
  const url = new URL(app.url.replace(BENCH_ROUTE, route));
  const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const get = () =>
    new Promise<void>((resolve, reject) => {
      const request = http.get(
        url,
        { agent, headers: { authorization: `Api-Key ${app.key}` } },
        (response) => {
          response.resume();
          response.on('end', () =>
            response.statusCode === 200
              ? resolve()
              : reject(new Error(`${route} answered ${response.statusCode}`)),
          );
        },
      );
      request.on('error', reject);
    });
  let sent = 0;
  try {
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (sent++ < count) await get();
      }),
    );
  } finally {
    agent.destroy();
  }
}

/** Asks callgrind in process `pid` to do `action` (`--instr=on`, `--zero`, `--dump=<name>`). */
function control(pid: number, action: string): void {
  execFileSync('callgrind_control', [action, String(pid)], { stdio: 'ignore' });
}

/**
 * Instructions of the main thread in each named dump: callgrind writes one file per dump and
 * thread (`<out>.<part>-01` for the main thread), headed by the dump's name and its total.
 */
function mainThreadCounts(dir: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('-01'))) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    const name = /^desc: Trigger: dump (\S+)$/m.exec(text)?.[1];
    const total = /^(?:summary|totals): (\d+)$/m.exec(text)?.[1];
    if (name && total) counts.set(name, Number(total));
  }
  return counts;
}

/** Boots the app under callgrind in `mode`, warms it, counts `PAIRS` pairs of windows. */
async function countMode(mode: string): Promise<ModeCounts> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nestjs-api-key-callgrind-'));
  try {
    const app = await startApp(
      {
        guard: 'api-key',
        db: await postgresDb(),
        hasher: 'bcrypt',
        keys: BASE_KEYS,
        openRoute: true,
        storeTimeout: 600_000,
        ...(mode === 'notify' ? { revocationSync: 'notify' as const } : {}),
      },
      `${mode} under callgrind`,
      {
        execPath: 'valgrind',
        execArgv: [
          '--tool=callgrind',
          '--quiet',
          '--instr-atstart=no',
          '--separate-threads=yes',
          `--callgrind-out-file=${path.join(dir, 'callgrind.out')}`,
        ],
      },
    );
    const pid = app.child.pid!;
    try {
      await drive(app, OPEN_ROUTE, WARMUP);
      await drive(app, BENCH_ROUTE, WARMUP);
      control(pid, '--instr=on');
      for (let pair = 0; pair < PAIRS; pair++) {
        control(pid, '--zero');
        await drive(app, OPEN_ROUTE, REQUESTS);
        control(pid, `--dump=open${pair}`);
        await drive(app, BENCH_ROUTE, REQUESTS);
        control(pid, `--dump=guarded${pair}`);
      }
    } finally {
      await app.stop();
    }
    const counts = mainThreadCounts(dir);
    const perRequest = (name: string) => {
      const total = counts.get(name);
      if (total === undefined) throw new Error(`callgrind wrote no dump named ${name}`);
      return total / REQUESTS;
    };
    const pairs = Array.from({ length: PAIRS }, (_, i) => i);
    return {
      open: pairs.map((i) => perRequest(`open${i}`)),
      guarded: pairs.map((i) => perRequest(`guarded${i}`)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const thousands = (n: number): string => `${(n / 1000).toFixed(1)}k`;

async function main(): Promise<void> {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('valgrind is not installed (apt-get install -y valgrind).');
  }
  const unknown = MODES.filter((mode) => mode !== 'read' && mode !== 'notify');
  if (unknown.length > 0)
    throw new Error(`INSTRUCTIONS_MODES takes read and notify, not ${unknown.join(', ')}.`);
  console.log(
    `Instructions per request, app main thread, PostgreSQL, ${integer(REQUESTS)} requests per window, ${PAIRS} pairs after ${integer(WARMUP)} per route of warm-up:`,
  );
  for (const mode of MODES) {
    const { open, guarded } = await countMode(mode);
    const added = guarded.map((count, i) => count - open[i]);
    const openMedian = median(open);
    const addedMedian = median(added);
    console.log(
      `  ${mode}: guarded minus open ${added.map(thousands).join(', ')}; median ${thousands(addedMedian)} over an open request of ${thousands(openMedian)} (${((addedMedian / openMedian) * 100).toFixed(1)}%)`,
    );
  }
}

main()
  .catch((error: Error) => {
    console.error(`bench:instructions failed: ${error.message}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
