import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { createTestDatabase, ENGINES, type Engine } from './databases.js';
import { inNotifyProject } from './revocation-sync-mode.js';

/** The repository root: where `npm start` and `npm run keys` run. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUILD_DIR = join(REPO_ROOT, 'sample-app/dist');
const SAMPLE_MAIN = join(BUILD_DIR, 'sample-app/main.js');
const CLI = join(BUILD_DIR, 'lib/cli/main.js');
const SAMPLE_DATA_SOURCE = join(BUILD_DIR, 'sample-app/data-source.js');

/** The engines the sample app and CLI are driven on, as the README's users would run them: all. */
export const SAMPLE_ENGINES = ENGINES;
export type SampleEngine = Engine;

/**
 * The environment of a child process: the variables the sample app reads come only from
 * `env`, never from the shell running the tests.
 */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const {
    DATABASE_URL: _d,
    PORT: _p,
    API_KEY_HEADER: _h,
    SAMPLE_USER_TOKEN: _t,
    SAMPLE_ADMIN_PASSWORD: _a,
    REDIS_URL: _r,
    REDIS_KEY_PREFIX: _k,
    API_KEY_REVOCATION_SYNC: _s,
    ...inherited
  } = process.env;
  return { ...inherited, ...env };
}

/**
 * `env` of a sample app start, in the notify project with API_KEY_REVOCATION_SYNC=notify unless
 * the test set it. The sample app supports it on every database it runs on: PostgreSQL
 * (LISTEN), MariaDB/MySQL and SQLite (the polled change counter, which also carries the CLI's
 * writes from another process sharing the SQLite file).
 */
function sampleAppEnv(env: Record<string, string>): Record<string, string> {
  if (!inNotifyProject() || env.API_KEY_REVOCATION_SYNC !== undefined) return env;
  return { ...env, API_KEY_REVOCATION_SYNC: 'notify' };
}

/** A database the sample app can be pointed at with DATABASE_URL, and a connection to look at it. */
export interface SampleDatabase {
  engine: SampleEngine;
  /** The DATABASE_URL of this database. */
  url: string;
  /** Every row of `table`, ordered by id, with the given columns. */
  rows(table: string, columns?: string[]): Promise<Record<string, unknown>[]>;
  /** Runs a statement of plain SQL, e.g. to backdate a row. */
  execute(statement: string): Promise<unknown>;
  /** Closes the connection and removes the database. */
  drop(): Promise<void>;
}

/**
 * A fresh, empty database: a file in a new temporary directory for SQLite (not created yet:
 * the app makes it), or a new database on the local PostgreSQL or MariaDB server, which the
 * sample app takes as a `postgres://` or `mariadb://` URL.
 */
export async function createSampleDatabase(engine: SampleEngine): Promise<SampleDatabase> {
  let url: string;
  let options: DataSourceOptions;
  let cleanup: () => Promise<void>;
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'nestjs-api-key-sample-'));
    const file = join(dir, 'sample.sqlite');
    url = `sqlite:${file}`;
    options = { type: 'better-sqlite3', database: file };
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const db = await createTestDatabase(engine);
    const server = db.options as {
      username: string;
      password?: string;
      host: string;
      port: number;
      database: string;
    };
    const password = server.password ? `:${encodeURIComponent(server.password)}` : '';
    url = `${engine}://${encodeURIComponent(server.username)}${password}@${server.host}:${server.port}/${server.database}`;
    options = db.options;
    cleanup = () => db.drop();
  }
  let connection: DataSource | undefined;
  return {
    engine,
    url,
    async rows(table, columns = ['*']) {
      connection ??= await new DataSource(options).initialize();
      return connection.query(`SELECT ${columns.join(', ')} FROM ${table} ORDER BY id`);
    },
    async execute(statement) {
      connection ??= await new DataSource(options).initialize();
      return connection.query(statement);
    },
    async drop() {
      await connection?.destroy();
      await cleanup();
    },
  };
}

/** A sample app running as a child process. */
export interface RunningSampleApp {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  stdout(): string;
  stderr(): string;
  /** Sends SIGTERM (as Ctrl+C would) and waits for the process to end. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 45_000;
const LISTENING = /Sample app listening on (http:\/\/127\.0\.0\.1:\d+)/;

/**
 * Starts the built sample app on a free port (PORT=0) with `env`, and resolves once it prints
 * that it is listening. With `viaNpm`, runs `npm start` (build included) as the README says.
 */
export function startSampleApp(
  env: Record<string, string>,
  options: { viaNpm?: boolean } = {},
): Promise<RunningSampleApp> {
  const [command, args] = options.viaNpm ? ['npm', ['start']] : [process.execPath, [SAMPLE_MAIN]];
  // Its own process group, so that stopping `npm start` also stops the node process under it.
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: childEnv({ PORT: '0', ...sampleAppEnv(env) }),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // ended meanwhile
        }
      }, 15_000);
      await exited;
      clearTimeout(timer);
    }
  };
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      void stop().then(() =>
        reject(new Error(`The sample app ${why}.\nstdout:\n${stdout}\nstderr:\n${stderr}`)),
      );
    };
    const timer = setTimeout(
      () => fail(`did not report listening within ${START_TIMEOUT_MS} ms`),
      START_TIMEOUT_MS,
    );
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = LISTENING.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1], stdout: () => stdout, stderr: () => stderr, stop });
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('exit', (code, signal) => {
      if (!LISTENING.test(stdout)) fail(`exited (code ${code}, signal ${signal}) before listening`);
    });
  });
}

/** What a CLI run printed and how it ended. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const CLI_TIMEOUT_MS = 30_000;

/**
 * Runs the key CLI as a child process, as `npm run keys -- <args>` does, against the sample's
 * data source (DATABASE_URL and friends from `env`). With `viaNpm`, runs `npm run -s keys`
 * itself (npm then adds its own lines on failure). `dataSource: false` leaves out --data-source.
 */
export function runCli(
  args: string[],
  env: Record<string, string>,
  options: { viaNpm?: boolean; dataSource?: boolean } = {},
): Promise<CliResult> {
  const [command, commandArgs] = options.viaNpm
    ? ['npm', ['run', '-s', 'keys', '--', ...args]]
    : [
        process.execPath,
        [
          CLI,
          ...(options.dataSource === false ? [] : ['--data-source', SAMPLE_DATA_SOURCE]),
          ...args,
        ],
      ];
  const child = spawn(command, commandArgs, {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `The CLI did not finish within ${CLI_TIMEOUT_MS} ms: ${args.join(' ')}\nstdout:\n${stdout}\nstderr:\n${stderr}`,
        ),
      );
    }, CLI_TIMEOUT_MS);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The last non-empty line of some output. */
export function lastLine(output: string): string {
  return output.trimEnd().split('\n').at(-1) ?? '';
}
