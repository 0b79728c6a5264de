/**
 * The child apps (`app.ts`, one process each) and the throwaway databases they use: forking and
 * talking to them, and removing every child, temporary SQLite file and PostgreSQL database on
 * exit, on error, on Ctrl-C and when the overall time limit runs out.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { BENCH_ROUTE } from './scenario.js';
import type {
  BenchDatabase,
  BenchScenario,
  ChildMessage,
  MemoMemoryReport,
  ParentMessage,
} from './scenario.js';
import {
  BOOT_TIMEOUT_MS,
  MEMO_KEYS,
  PROFILE,
  TIMEOUT,
  integer,
  outDir,
} from '../harness/settings.js';

const appEntry = path.join(path.dirname(fileURLToPath(import.meta.url)), 'app.js');
const children = new Set<ChildProcess>();
const databases: TestDatabase[] = [];
const tempDir = mkdtempSync(path.join(os.tmpdir(), 'nestjs-api-key-bench-'));
let cleaning: Promise<void> | null = null;

/** Kills every app, drops every database and removes the SQLite files. Safe to call twice. */
export function cleanup(): Promise<void> {
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

/** Cleans up and exits on Ctrl-C, SIGTERM, or when BENCH_TIMEOUT runs out. */
export function cleanupOnSignalsAndTimeout(): void {
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
}

/** Drops the PostgreSQL databases made so far, failing on the first that will not go. */
export async function dropDatabases(): Promise<void> {
  for (const db of databases.splice(0)) await db.drop();
}

/** A SQLite file in the run's temporary directory. */
export function sqliteDb(name: string): BenchDatabase {
  return { engine: 'sqlite', file: path.join(tempDir, `${name}.sqlite`) };
}

/** A new, empty PostgreSQL database, dropped at the end of the run. */
export async function postgresDb(): Promise<BenchDatabase> {
  const db = await createTestDatabase('postgres');
  databases.push(db);
  return { engine: 'postgres', options: db.options as unknown as Record<string, unknown> };
}

/** A new, empty MariaDB database, dropped at the end of the run. */
export async function mariadbDb(): Promise<BenchDatabase> {
  const db = await createTestDatabase('mariadb');
  databases.push(db);
  return { engine: 'mariadb', options: db.options as unknown as Record<string, unknown> };
}

/** A running child app. */
export interface RunningApp {
  url: string;
  key?: string;
  seedMs?: number;
  child: ChildProcess;
  request(message: ParentMessage): Promise<ChildMessage>;
  stop(): Promise<void>;
}

/** Node flags for a scenario's app: `--expose-gc` for the memo memory and the soak, `--cpu-prof` when profiling. */
function execArgvFor(scenario: BenchScenario, label: string): string[] {
  const exposeGc =
    scenario.guard === 'memo-memory' || (scenario.guard === 'api-key' && scenario.exposeGc);
  const execArgv = exposeGc ? ['--expose-gc'] : [];
  if (PROFILE) {
    const dir = path.join(outDir, '.profiles');
    mkdirSync(dir, { recursive: true });
    execArgv.push(
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
      `--cpu-prof-name=${label.replace(/[^A-Za-z0-9]+/g, '-')}-${Date.now()}.cpuprofile`,
    );
  }
  return execArgv;
}

/** Resolves with the child's next message; rejects on an error message, its exit, or a hang. */
function nextMessage(child: ChildProcess, label: string): Promise<ChildMessage> {
  return new Promise((resolve, reject) => {
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
}

/**
 * A program the app runs under, such as valgrind: `execPath` is started with `execArgv`, then
 * Node and the app's own arguments. The child's pid is then the launcher's.
 */
export interface AppLauncher {
  execPath: string;
  execArgv: string[];
}

/** Forks `app.js` for a scenario; `next()` resolves with the child's next message. */
function forkApp(
  scenario: BenchScenario,
  label: string,
  launcher?: AppLauncher,
): { child: ChildProcess; next: () => Promise<ChildMessage> } {
  const nodeArgv = execArgvFor(scenario, label);
  const child = fork(appEntry, [], {
    env: { ...process.env, BENCH_SCENARIO: JSON.stringify(scenario) },
    ...(launcher
      ? {
          execPath: launcher.execPath,
          execArgv: [...launcher.execArgv, process.execPath, ...nodeArgv],
        }
      : { execArgv: nodeArgv }),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return { child, next: () => nextMessage(child, label) };
}

/** Asks the child to stop, and kills it if it has not gone within 10 s. */
function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.send({ type: 'stop' } satisfies ParentMessage);
  });
}

/** Forks an app (under `launcher` if given) and waits until it listens. */
export async function startApp(
  scenario: BenchScenario,
  label: string,
  launcher?: AppLauncher,
): Promise<RunningApp> {
  const { child, next } = forkApp(scenario, label, launcher);
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
    stop: () => stopChild(child),
  };
}

/** Boots an app, runs `body` against it, and always stops it. */
export async function withApp<R>(
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

/** Boots apps that stay up across several measurements, saying so as it goes, and stops them together. */
export class AppPool {
  private readonly apps: RunningApp[] = [];

  /** Boots one more app and reports when it is ready (and how long its keys took to seed). */
  readonly boot = async (scenario: BenchScenario, label: string): Promise<RunningApp> => {
    process.stdout.write(`  starting ${label} ... `);
    const app = await startApp(scenario, label);
    this.apps.push(app);
    console.log(
      app.seedMs === undefined
        ? 'ready'
        : `ready (${integer('keys' in scenario ? scenario.keys : 0)} keys seeded in ${(app.seedMs / 1000).toFixed(1)} s)`,
    );
    return app;
  };

  /** Stops every app it booted. */
  async stopAll(): Promise<void> {
    await Promise.all(this.apps.map((app) => app.stop()));
  }
}

/** Has the app create `count` new keys, and returns them. */
export async function createKeys(app: RunningApp, count: number): Promise<string[]> {
  const answer = await app.request({ type: 'create-keys', count });
  if (answer.type !== 'keys') throw new Error(`expected keys from the app, got ${answer.type}`);
  return answer.keys;
}

/** CPU time the app process has used so far, in µs. */
export async function appCpu(app: RunningApp): Promise<number> {
  const answer = await app.request({ type: 'cpu' });
  if (answer.type !== 'cpu') throw new Error(`expected a CPU reading, got ${answer.type}`);
  return answer.micros;
}

/** Runs the memo memory measurement in its own process (with `--expose-gc`). */
export async function measureMemoMemory(db: BenchDatabase): Promise<MemoMemoryReport> {
  const { child, next } = forkApp({ guard: 'memo-memory', db, keys: MEMO_KEYS }, 'memo');
  const answer = await next();
  await new Promise<void>((resolve) =>
    child.exitCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
  if (answer.type !== 'memory')
    throw new Error(`memo: expected a memory report, got ${answer.type}.`);
  return answer.report;
}
